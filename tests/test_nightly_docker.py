"""Acceptance with the real sandbox: the fake backend answers real HumanEval+ problems with
their canonical solutions, then regresses on known problems; verdicts come from Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightly_support import report_flips

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.cli import entrypoint

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

LIMIT = 8
NONE_BODY = "    return None\n"
# evalplus's sanitizer drops a function without a return, so the loop is followed by one.
LOOP_BODY = "    n = 0\n    while n >= 0:\n        n += 1\n    return None\n"


def bodies() -> dict[str, tuple[str, str]]:
    """problem id -> (entry point, canonical body) for the first LIMIT problems."""
    bench = open_benchmark("humaneval", None)
    out = {}
    for problem in bench.load()[:LIMIT]:
        full = bench.canonical_solution(problem)
        body = full[len(problem.prompt):] if full.startswith(problem.prompt) else full
        out[problem.problem_id] = (problem.entry_point, body)
    return out


def config(results: Path, revision: str, broken: dict[str, str]) -> str:
    lines = [f"results_dir = {json.dumps(str(results))}", 'executor = "docker"',
             "[defaults]", 'prompt_style = "completion"',
             "[defaults.sandbox]", "workers = 1",
             "[[benchmarks]]", 'name = "humaneval"', f"limit = {LIMIT}",
             "[[models]]", 'name = "m"', 'backend = "fake"', 'model = "m"',
             f"revision = {json.dumps(revision)}", "[models.options.responses]"]
    for pid, (entry, body) in bodies().items():
        lines.append(f"{json.dumps(f'def {entry}(')} = [{json.dumps(broken.get(pid, body))}]")
    return "\n".join(lines) + "\n"


def nightly(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
            text: str) -> tuple[int, str]:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    try:
        code = entrypoint(["nightly", "--config", str(path)])
    except SystemExit as exc:
        code = exc.code
    out, _ = capsys.readouterr()
    return int(code or 0), out


def test_real_sandbox_regression_and_identical_runs(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    ids = list(bodies())
    broken = {pid: NONE_BODY for pid in ids[:5]}
    broken[ids[6]] = LOOP_BODY  # 6 flips one way: exact McNemar p = 2 / 2**6 = 0.031
    code, out = nightly(tmp_path, capsys, "n1", config(results, "1", {}))
    assert code == 0, out
    scores = json.loads(next(results.glob("m-humaneval-*/scores.json")).read_text())
    assert {s["benchmark"]: s["pass_at_k"] for s in scores} == {"humaneval": 1.0,
                                                                "humaneval+": 1.0}
    code, out = nightly(tmp_path, capsys, "n2", config(results, "2", broken))
    assert code == 1, out
    report = (results / "nightly" / "latest.md").read_text()
    expected = {pid: "failed" for pid in ids[:5]} | {ids[6]: "timeout"}
    assert report_flips(report) == {
        "humaneval: passed by A, failed by B": expected,
        "humaneval+: passed by A, failed by B": expected,
    }
    code, out = nightly(tmp_path, capsys, "n3", config(results, "3", broken))
    assert code == 0, out  # the same broken answers again: compared with night 2, no change
    assert "**OK**" in (results / "nightly" / "latest.md").read_text()
