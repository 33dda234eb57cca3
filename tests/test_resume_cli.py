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

from apr_eval.harness.rundir import COMPLETIONS, EXECUTIONS, read_jsonl

TESTS = Path(__file__).parent
ROOT = TESTS.parent
PROBLEMS, SAMPLES = 8, 2


def command(results: Path) -> list[str]:
    responses = json.dumps({"def f": ["    return 1\n", "    return 0\n"]})
    return [sys.executable, str(TESTS / "cli_driver.py"), "run", "--bench", "toy", "--dry-run",
            "--executor", "fake", "--results-dir", str(results), "--n-samples", str(SAMPLES),
            "--backend-option", f"responses={responses}", "--backend-option", "delay_s=0.1",
            "--no-ingest"]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), e.get("PYTHONPATH", "")])
    e["TOYBENCH_SIZE"] = str(PROBLEMS)
    e["TOYBENCH_JUDGE_DELAY"] = "0.15"
    return e


def keys(results: Path, name: str) -> list[tuple[str, int]]:
    runs = list(results.glob(f"*/{name}"))
    assert len(runs) <= 1
    return [(d["problem_id"], d["sample_index"]) for d in read_jsonl(runs[0])] if runs else []


def kill_when(results: Path, name: str, at_least: int, timeout: float = 60) -> None:
    proc = subprocess.Popen(command(results), env=env(), stdout=subprocess.PIPE,
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


@pytest.mark.timeout(180)
def test_kill_during_generation_and_execution_then_resume(tmp_path: Path) -> None:
    total = PROBLEMS * SAMPLES
    kill_when(tmp_path, COMPLETIONS, 5)
    assert 5 <= len(keys(tmp_path, COMPLETIONS)) < total
    assert keys(tmp_path, EXECUTIONS) == []

    kill_when(tmp_path, EXECUTIONS, 4)
    completions = keys(tmp_path, COMPLETIONS)
    assert sorted(completions) == sorted(set(completions)) and len(completions) == total
    assert 4 <= len(keys(tmp_path, EXECUTIONS)) < total

    done = subprocess.run(command(tmp_path), env=env(), capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    want = sorted((f"toy/{i}", j) for i in range(PROBLEMS) for j in range(SAMPLES))
    assert sorted(keys(tmp_path, COMPLETIONS)) == want
    assert sorted(keys(tmp_path, EXECUTIONS)) == want
    assert "run id: fake-toy-" in done.stdout and "pass@1   0.5000" in done.stdout
    assert "already done, continuing" in done.stderr
