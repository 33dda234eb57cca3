"""`apr-eval evaluate`: bad input gives one clear line and a non-zero exit; nothing computed
is lost. Uses a two-task dataset file of the user's own (evalplus format) to stay fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TASKS = [
    {"task_id": "Toy/0", "prompt": "def add(a, b):\n", "entry_point": "add",
     "canonical_solution": "    return a + b\n", "base_input": [[1, 2], [3, 4]],
     "plus_input": [[10, -3]], "atol": 0, "contract": ""},
    {"task_id": "Toy/1", "prompt": "def neg(a):\n", "entry_point": "neg",
     "canonical_solution": "    return -a\n", "base_input": [[1]], "plus_input": [[2], [0]],
     "atol": 0, "contract": ""},
]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "apr_eval.cli", *args], capture_output=True,
                          text=True, timeout=300, env=full_env, check=False)


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"task_id": "Toy/0", "completion": "    return a + b\n"}) + "\n"
                    + json.dumps({"task_id": "Toy/1", "completion": "    return a\n"}) + "\n")
    return {"data": data, "good": good, "results": tmp_path / "results",
            "cache": tmp_path / "cache"}


def evaluate(toy: dict[str, Path], samples: Path, *extra: str, executor: str = "fake",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("evaluate", "--bench", "humaneval", "--data-file", str(toy["data"]),
               "--samples", str(samples), "--results", str(toy["results"]), "--run-id", "r1",
               "--executor", executor, *extra,
               env={"APR_EVAL_CACHE": str(toy["cache"]), **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("apr-eval: error:") and needle in lines[0], lines[0]


def test_malformed_jsonl_line(toy, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "Toy/0", "completion": "x"}\n{not json\n')
    one_line_error(evaluate(toy, bad), "bad.jsonl:2: malformed JSON line")


def test_unknown_task_id(toy, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "Toy/9", "completion": "x"}\n')
    one_line_error(evaluate(toy, bad), "unknown task id 'Toy/9'")


def test_task_with_no_samples(toy, tmp_path):
    partial = tmp_path / "partial.jsonl"
    partial.write_text('{"task_id": "Toy/0", "completion": "    return a + b\\n"}\n')
    one_line_error(evaluate(toy, partial), "task Toy/1 has no samples")


def test_unknown_benchmark_suggests(toy):
    proc = cli("evaluate", "--bench", "humanevl", "--samples", str(toy["good"]))
    one_line_error(proc, "Did you mean 'humaneval'")


def test_unreachable_daemon_keeps_verdicts(toy):
    first = evaluate(toy, toy["good"])
    assert first.returncode == 0, first.stderr
    executions = toy["results"] / "r1" / "executions.jsonl"
    before = executions.read_text()
    assert len(before.splitlines()) == 2
    proc = evaluate(toy, toy["good"], executor="docker",
                    env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    one_line_error(proc, "cannot reach the Docker daemon")
    assert executions.read_text() == before


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_image_not_built_is_one_line(toy, monkeypatch):
    from apr_eval.errors import SandboxUnavailable
    from apr_eval.sandbox.docker_executor import DockerExecutor

    with pytest.raises(SandboxUnavailable) as err:
        DockerExecutor(image="apr-eval-sandbox:not-built")
    assert "apr-eval sandbox build" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_real_run_scores_and_evalplus_out(toy, tmp_path):
    out = tmp_path / "eval_results.json"
    proc = evaluate(toy, toy["good"], "--evalplus-out", str(out), executor="docker")
    assert proc.returncode == 0, proc.stderr
    assert "humaneval+" in proc.stdout
    result = json.loads(out.read_text())
    rows = {tid: r[0] for tid, r in result["eval"].items()}
    assert rows["Toy/0"]["base_status"] == rows["Toy/0"]["plus_status"] == "pass"
    assert rows["Toy/1"]["base_status"] == "fail"
    assert rows["Toy/1"]["base_verdict"] == "failed"
    assert rows["Toy/1"]["base_fail_tests"] == [[1]]
    scores = json.loads((toy["results"] / "r1" / "scores.json").read_text())
    assert {(s["benchmark"], s["pass_at_k"]) for s in scores} == {("humaneval", 0.5),
                                                                  ("humaneval+", 0.5)}
