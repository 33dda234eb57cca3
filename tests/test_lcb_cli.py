"""Bad LiveCodeBench input through the real CLI: one clear line on stderr, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from apr_eval.benchmarks.lcb_decode import encode_compressed

ROOT = Path(__file__).resolve().parents[1]


def _row(private: str) -> str:
    return json.dumps({
        "question_title": "t", "question_content": "q", "platform": "atcoder",
        "question_id": "abc001_a", "contest_id": "abc001", "contest_date": "2024-05-01T00:00:00",
        "starter_code": "", "difficulty": "easy", "metadata": "{}",
        "public_test_cases": '[{"input": "1", "output": "1", "testtype": "stdin"}]',
        "private_test_cases": private}) + "\n"


def _evaluate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps([{"question_id": "abc001_a", "code_list": ["print(1)"]}]))
    return subprocess.run(
        [sys.executable, "-c", "from apr_eval.cli import entrypoint; entrypoint()", "evaluate",
         "--bench", "livecodebench", "--samples", str(samples), "--executor", "fake",
         "--results", str(tmp_path / "results"), *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)


@pytest.mark.parametrize(("setup", "args", "message"), [
    (None, ["--version", "release_v9"], "unknown LiveCodeBench release 'release_v9'"),
    (None, ["--version", "release_v1", "--data-file", "missing.jsonl"],
     "LiveCodeBench data not found"),
    ("@@ corrupt", ["--version", "v1", "--data-file", "test.jsonl"],
     "abc001_a private_test_cases"),
    ("hostile", ["--version", "v1", "--data-file", "test.jsonl"], "refused pickle opcode"),
])
def test_bad_input_is_one_line(tmp_path: Path, setup: str | None, args: list[str],
                               message: str) -> None:
    if setup is not None:
        import base64
        import pickle
        import zlib

        field = setup if setup != "hostile" else base64.b64encode(
            zlib.compress(pickle.dumps(print, protocol=4))).decode()
        (tmp_path / "test.jsonl").write_text(_row(field))
    args = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    proc = _evaluate(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("apr-eval: error: ") and message in lines[0]


def test_good_local_file_and_lcb_out(tmp_path: Path) -> None:
    (tmp_path / "test.jsonl").write_text(_row(encode_compressed("[]")))
    out = tmp_path / "eval_all.json"
    proc = _evaluate(tmp_path, "--version", "v1", "--data-file", str(tmp_path / "test.jsonl"),
                     "--lcb-out", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())  # the fake sandbox reports a crash: runtime error
    assert row["question_id"] == "abc001_a" and row["code_list"] == ["print(1)"]
    assert row["graded_list"] == [False] and json.loads(row["metadata"][0])["error_code"] == -4


def test_evaluated_run_carries_dates_and_a_meaningful_name(tmp_path: Path) -> None:
    """A LiveCodeBench run from `evaluate` (with --data-file, which the store cannot reopen)
    reaches the contamination window; its model is named after the samples' folder, and
    the same file evaluated twice is one evaluation."""
    from apr_eval.harness.run.rundir import RunDir
    from apr_eval.leaderboard import ingest, store
    from apr_eval.leaderboard import queries as q

    (tmp_path / "test.jsonl").write_text(_row(encode_compressed("[]")))
    for run_id in ("first", "second"):
        proc = _evaluate(tmp_path, "--version", "v1", "--data-file",
                         str(tmp_path / "test.jsonl"), "--run-id", run_id)
        assert proc.returncode == 0, proc.stderr
    first, second = (RunDir(tmp_path / "results" / r).manifest() for r in ("first", "second"))
    assert first.model.name == f"{tmp_path.name}/samples"
    assert first.extra["problem_dates"]["abc001_a"]["release_date"] == "2024-05-01"
    assert first.extra["samples_sha256"] == second.extra["samples_sha256"]
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, tmp_path / "results")
    with store.reader(db) as con:
        assert q.date_bounds(con) == q.DateWindow(date(2024, 5, 1), date(2024, 5, 1))
