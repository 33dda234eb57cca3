"""Kill `apr-eval nightly` with SIGKILL mid-matrix (a real process), rerun: nothing that was
finished is recomputed, nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nightly_support import FAIL_BODY, nightly_toml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SIZE = 20


def start(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    return subprocess.Popen(
        [sys.executable, "-c", "import nightly_support; nightly_support.main()",
         "nightly", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def complete_lines(path: Path) -> list[str]:
    data = path.read_text() if path.exists() else ""
    return data[: data.rfind("\n") + 1].splitlines()


def keys(path: Path) -> list[tuple[str, int]]:
    return [(d["problem_id"], d["sample_index"]) for d in map(json.loads, complete_lines(path))]


def test_sigkill_mid_matrix_then_resume(tmp_path: Path) -> None:
    results = tmp_path / "results"
    config = tmp_path / "nightly.toml"
    config.write_text(nightly_toml(results, [
        {"name": "first", "bodies": {2: FAIL_BODY}},
        {"name": "second", "delay_s": 0.1},  # ~2 s of generation: time to kill it
        {"name": "third"},
    ], size=SIZE))

    proc = start(config)
    deadline = time.monotonic() + 60
    second: Path | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(results.glob("second-toyplus-*/completions.jsonl"))
        if found and len(complete_lines(found[0])) >= 3:
            second = found[0].parent
            break
        time.sleep(0.02)
    assert second is not None, "the second cell never started generating"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    (first,) = results.glob("first-toyplus-*")
    finished = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.iterdir()}
    assert (first / "scores.json").exists()
    before_kill = complete_lines(second / "completions.jsonl")
    assert 3 <= len(before_kill) < SIZE
    assert not list(results.glob("third-toyplus-*"))
    assert not (second / "scores.json").exists()

    proc = start(config)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "first x toyplus: up to date" in out
    assert "second x toyplus: resumed" in out
    assert "third x toyplus: ran" in out

    # Nothing finished was recomputed: the first run's files are untouched.
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.iterdir()} == finished
    # Nothing lost: what the second run had before the kill is still there, first.
    after = complete_lines(second / "completions.jsonl")
    assert after[: len(before_kill)] == before_kill
    expected = sorted((f"tp/{i}", 0) for i in range(SIZE))
    for run in (first, second, *results.glob("third-toyplus-*")):
        for name in ("completions.jsonl", "executions.jsonl"):
            got = keys(run / name)
            assert sorted(got) == expected, (run.name, name)  # nothing missing or duplicated
        scores = json.loads((run / "scores.json").read_text())
        assert {s["benchmark"] for s in scores} == {"toyplus", "toyplus+"}
    report = (results / "nightly" / "latest.md").read_text()
    assert report.count("| up to date |") == 1 and report.count("| resumed |") == 1
