"""Acceptance 3: kill the real CLI process (SIGKILL) during generation and again during
execution, rerun the same command, and get exactly one completion and one verdict per sample."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apr_eval.harness.run.rundir import COMPLETIONS, EXECUTIONS, read_jsonl

TESTS = Path(__file__).parent
ROOT = TESTS.parent
PROBLEMS, SAMPLES = 8, 2


TOY = ["--bench", "toy", "--executor", "fake", "--backend-option",
       "responses=" + json.dumps({"def f": ["    return 1\n", "    return 0\n"]})]
# HumanEval+ in the real sandbox: one sample per container so verdicts arrive one by one;
# sample 0 solves HumanEval/0, the others fail.
HUMANEVAL = ["--bench", "humaneval", "--limit", str(PROBLEMS), "--executor", "docker",
             "--workers", "1", "--batch-size", "1", "--backend-option", "responses=" + json.dumps(
                 {"has_close_elements": ["    return any(abs(a - b) < threshold for i, a in "
                                         "enumerate(numbers) for b in numbers[i + 1:])\n",
                                         "    return False\n"]})]


def command(results: Path, bench: list[str] = TOY) -> list[str]:
    return [sys.executable, str(TESTS / "cli_driver.py"), "run", "--dry-run",
            "--results-dir", str(results), "--n-samples", str(SAMPLES),
            "--backend-option", "delay_s=0.1", "--no-ingest", *bench]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), e.get("PYTHONPATH", "")])
    e["TOYBENCH_SIZE"] = str(PROBLEMS)
    e["TOYBENCH_JUDGE_DELAY"] = "0.15"
    return e


def keys(results: Path, name: str) -> list[tuple[str, int]]:
    """(problem, sample) of every complete line of the run's ``name`` file."""
    runs = list(results.glob(f"*/{name}"))
    assert len(runs) <= 1
    return [(d["problem_id"], d["sample_index"]) for d in read_jsonl(runs[0])] if runs else []


def kill_when(results: Path, name: str, at_least: int, bench: list[str],
              timeout: float = 60) -> None:
    """Start the CLI, SIGKILL it once ``name`` has ``at_least`` lines."""
    proc = subprocess.Popen(command(results, bench), env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while len(keys(results, name)) < at_least:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no progress in {name}"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def kill_twice_and_finish(tmp_path: Path, bench: list[str], timeout: float) -> str:
    total = PROBLEMS * SAMPLES
    kill_when(tmp_path, COMPLETIONS, 5, bench, timeout)
    assert 5 <= len(keys(tmp_path, COMPLETIONS)) < total
    assert keys(tmp_path, EXECUTIONS) == []

    kill_when(tmp_path, EXECUTIONS, 3, bench, timeout)
    completions = keys(tmp_path, COMPLETIONS)
    assert sorted(completions) == sorted(set(completions)) and len(completions) == total
    assert 3 <= len(keys(tmp_path, EXECUTIONS)) < total

    done = subprocess.run(command(tmp_path, bench), env=env(), capture_output=True, text=True,
                          check=False, timeout=timeout * 2)
    assert done.returncode == 0, done.stderr
    bench_name = bench[1]
    ids = sorted({k[0] for k in keys(tmp_path, COMPLETIONS)})
    assert len(ids) == PROBLEMS and all(i.lower().startswith(bench_name) for i in ids)
    want = sorted((i, j) for i in ids for j in range(SAMPLES))
    assert sorted(keys(tmp_path, COMPLETIONS)) == want  # exactly one per (problem, sample)
    assert sorted(keys(tmp_path, EXECUTIONS)) == want
    assert f"run id: fake-{bench_name}-" in done.stdout
    assert "already done, continuing" in done.stderr
    return done.stdout


@pytest.mark.timeout(180)
def test_kill_during_generation_and_execution_then_resume(tmp_path: Path) -> None:
    out = kill_twice_and_finish(tmp_path, TOY, 60)
    assert "toy          pass@1   0.5000" in out  # sample texts did not change across kills


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kill_and_resume_humaneval_plus_in_the_docker_sandbox(tmp_path: Path) -> None:
    out = kill_twice_and_finish(tmp_path, HUMANEVAL, 300)
    # HumanEval/0: sample 0 passes, sample 1 fails; every other problem fails: pass@1 = 1/16
    assert "humaneval+   pass@1   0.0625" in out
