"""The leaderboard never ranks incomparable runs together; windows say how sure they are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from store_support import LCB_DATES, F, P, fixture_results, model, write_run

from apr_eval.leaderboard import ingest, store, tables
from apr_eval.leaderboard import queries as q

HE = {"HumanEval/0": [(P, P)], "HumanEval/1": [(P, F)], "HumanEval/2": [(F, F)],
      "HumanEval/3": [(P, P)]}


def _db(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    fixture_results(root)
    # A --limit smoke run that would top the table, a run at another temperature, and the
    # same samples file evaluated three times.
    write_run(root, "smoke", model("tiny"), "humaneval", {"HumanEval/0": [(P, P)]},
              score_names=["humaneval", "humaneval+"], extra={"spec": {"limit": 1}})
    hot = write_run(root, "hot", model("coder-q8", quantization="Q8_0", bits=8.0),
                    "humaneval", {k: v * 4 for k, v in HE.items()},
                    score_names=["humaneval", "humaneval+"])
    assert hot.exists()
    for i in range(3):
        write_run(root, f"eval-{i}", model("org/coder-7b"), "humaneval", HE,
                  score_names=["humaneval", "humaneval+"],
                  created_at=f"2026-01-0{i + 2}T00:00:00",
                  extra={"samples_sha256": "abc", "samples_file": "generated.jsonl"})
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, root)
    return db


def test_grouped_ranked_and_collapsed(tmp_path: Path) -> None:
    with store.reader(_db(tmp_path)) as con:
        frame = tables.family_table(con, q.FAMILIES["HumanEval"])
        everything = tables.family_table(con, q.FAMILIES["HumanEval"], include_unranked=True)
    assert "smoke" not in set(frame["run_id"])  # a subset run is not shown by default ...
    smoke = everything.set_index("run_id").loc["smoke"]
    assert smoke["status"] == "subset" and pd.isna(smoke["rank"])  # ... and never ranked
    groups = {g: set(rows["run_id"]) for g, rows in frame.groupby("group")}
    assert len(groups) == 2  # temperature 0.8 x 4 samples is another group
    assert {"hot"} in groups.values()
    # Three evaluations of the same samples file: one row, the newest, counted.
    coder = frame[frame["model"] == "org/coder-7b"]
    assert len(coder) == 1 and coder["evaluations"].iloc[0] == 3
    assert coder["run_id"].iloc[0] == "eval-2"
    for _, rows in frame.groupby("group"):
        ranks = rows["rank"].dropna().tolist()
        assert ranks == sorted(ranks) and ranks[0] == 1  # ranked within each group only
    label = tables.group_label(frame[frame["run_id"] == "hot"])
    assert "4 sample(s)/problem" in label and "temperature 0.8" in label


def test_unknown_cutoff_is_unknown_not_clean(tmp_path: Path) -> None:
    dates = {pid: d.isoformat() for pid, d in LCB_DATES.items()}
    write_run(tmp_path / "r", "nocut", model("nocut"), "livecodebench",
              {"lcb/1": [P], "lcb/2": [F], "lcb/3": [P], "lcb/4": [P]},
              extra={"problem_dates": dates})
    write_run(tmp_path / "r", "clean", model("clean", cutoff=date(2023, 1, 1)),
              "livecodebench", {"lcb/1": [P], "lcb/2": [F], "lcb/3": [F], "lcb/4": [P]},
              extra={"problem_dates": dates})
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, tmp_path / "r")
    with store.reader(db) as con:
        frame = q.window_table(con, q.DateWindow(date(2024, 1, 1), date(2024, 12, 31)))
    frame = frame.set_index("model")
    assert frame.loc["nocut", "cutoff_source"] == "unknown"
    assert pd.isna(frame.loc["nocut", "rank"]) and frame.loc["clean", "rank"] == 1
    assert tables.cutoff_status(None, date(2024, 1, 1)) == "unknown"


def test_window_curve_has_intervals_and_counts(tmp_path: Path) -> None:
    root = tmp_path / "results"
    fixture_results(root)
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, root)
    with store.reader(db) as con:
        curve = q.window_curve(con, [date(2024, 1, 1), date(2024, 7, 1)], date(2024, 12, 31))
    first = curve.iloc[0]
    assert first["problems"] == 4 and first["small"]
    assert first["pass@1 low"] < first["pass@1"] < first["pass@1 high"]
    assert first["interval"] == "t-clustered"  # 2 samples per problem: fractions of 0.5
    one = curve[curve["problems"] == 1].iloc[0]
    assert one["interval"] == "wilson" or one["pass@1 high"] - one["pass@1 low"] > 0.5


def test_leaderboard_command_stops_its_server_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM to `apr-eval leaderboard` leaves no orphaned server behind."""
    pidfile = tmp_path / "child.pid"
    code = (f"from apr_eval.cli.store import serve; "
            f"serve(['sh', '-c', 'echo $$ > {pidfile}; exec sleep 120'])")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.1)
    child = int(pidfile.read_text())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=30) == 0
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(child, 0)  # still there (or a zombie not yet reaped)?
            time.sleep(0.1)
