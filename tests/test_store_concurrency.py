"""An ingest in one process while another reads through the data layer.

The reader must never fail, never wait for the writer, and never see part of a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from store_support import F, P, model, write_run

from apr_eval.leaderboard import queries as q
from apr_eval.leaderboard import run_queries as rq
from apr_eval.leaderboard import store

RUNS, PROBLEMS, SAMPLES = 6, 40, 5
WRITER = """
import sys
from pathlib import Path
from apr_eval.leaderboard import ingest
db, results = Path(sys.argv[1]), Path(sys.argv[2])
for run in ingest.run_dirs(results):
    ingest.ingest_run(db, run)
"""


def _results(root: Path) -> None:
    dates = {f"p{j}": date(2024, 1 + j % 12, 1).isoformat() for j in range(PROBLEMS)}
    for i in range(RUNS):
        samples = {f"p{j}": [P if (i + j + s) % 3 else F for s in range(SAMPLES)]
                   for j in range(PROBLEMS)}
        write_run(root, f"run{i:02d}", model(f"m{i}"), "livecodebench", samples,
                  extra={"problem_dates": dates})


def _check_snapshot(db: Path) -> int:
    """Every run visible in one read is whole: all samples, all per-problem rows, its score."""
    with store.reader(db) as con:
        runs = rq.runs_table(con)
        rows = con.execute("""
            SELECT r.run_id,
                   (SELECT count(*) FROM executions e WHERE e.run_id = r.run_id),
                   (SELECT count(*) FROM completions c WHERE c.run_id = r.run_id),
                   (SELECT count(*) FROM problem_results p WHERE p.run_id = r.run_id),
                   (SELECT count(*) FROM scores s WHERE s.run_id = r.run_id)
            FROM runs r""").fetchall()
        window = q.window_table(con, q.DateWindow(date(2024, 1, 1), date(2024, 12, 31)))
    assert len(rows) == len(runs)
    for run_id, execs, comps, per_problem, scores in rows:
        assert (execs, comps, per_problem) == (PROBLEMS * SAMPLES, PROBLEMS * SAMPLES,
                                               PROBLEMS), run_id
        assert scores >= 1, run_id
    assert set(window["run_id"]) == {r[0] for r in rows}
    assert (window["problems"] == PROBLEMS).all()
    return len(rows)


def test_readers_see_whole_runs_while_an_ingest_writes(tmp_path: Path) -> None:
    _results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    store.ensure(db)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(tmp_path / "results")],
                              env=env, stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    busy_notices = 0
    deadline = time.monotonic() + 240
    while writer.poll() is None and time.monotonic() < deadline:
        busy_notices += store.writer_active(db)
        seen.append(_check_snapshot(db))
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    seen.append(_check_snapshot(db))
    assert seen[-1] == RUNS
    assert seen == sorted(seen)  # runs only ever appear, whole
    assert len(set(seen)) >= 3, seen  # the reads really interleaved with the ingests
    assert busy_notices > 0  # the app's "an ingest is writing" notice would have shown
