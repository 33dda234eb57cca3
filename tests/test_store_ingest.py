"""Ingest: idempotent by run id, all-or-nothing, rebuildable, and the CLI's one-line errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_support import F, P, fixture_results, model, write_run

from apr_eval.benchmarks.base import BENCHMARKS
from apr_eval.cli import entrypoint, main
from apr_eval.core import Execution, Problem
from apr_eval.errors import DataError
from apr_eval.harness.run import rundir
from apr_eval.leaderboard import ingest, store
from apr_eval.leaderboard import queries as q

COUNTS = """SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM executions),
                   (SELECT count(*) FROM completions), (SELECT count(*) FROM scores),
                   (SELECT count(*) FROM problem_results), (SELECT count(*) FROM models)"""


def counts(db: Path) -> tuple[int, ...]:
    with store.reader(db) as con:
        return tuple(con.execute(COUNTS).fetchone())


def test_ingest_is_idempotent_and_replaces_a_grown_run(tmp_path: Path) -> None:
    runs = fixture_results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    first = ingest.ingest_runs(db, runs.values())
    assert len(first.ingested) == 6
    before = counts(db)
    # problem_results: 2 HumanEval runs x 4 x 2 scores + 2 MBPP x 2 x 2 + 2 LCB x 4
    assert before == (6, 28, 28, 10, 16 + 8 + 8, 2)
    signature = store.signature(db)
    again = ingest.ingest_runs(db, runs.values())
    assert again.ingested == [] and len(again.unchanged) == 6
    assert store.signature(db) == signature  # unchanged runs: the file is not even rewritten
    # The run grows (more samples executed): re-ingest replaces it, no duplicates.
    run = rundir.RunDir(runs["q4-lcb"])
    with run.open_append(rundir.EXECUTIONS) as f:
        for i, verdict in enumerate([P, P, F]):
            rundir.append_execution(f, Execution(problem_id="lcb/5", sample_index=i,
                                                 verdict=verdict))
    report = ingest.ingest_runs(db, runs.values())
    assert report.ingested == ["q4-lcb"] and len(report.unchanged) == 5
    after = counts(db)
    assert after == (6, 28 + 3, 28, 10, 32 + 1, 2)
    with store.reader(db) as con:
        rows = con.execute("SELECT problem_id, n, c FROM problem_results WHERE run_id = 'q4-lcb'"
                           " ORDER BY 1").fetchall()
        status = con.execute("SELECT status FROM runs WHERE run_id = 'q4-lcb'").fetchone()[0]
    assert rows == [("lcb/1", 2, 2), ("lcb/2", 2, 1), ("lcb/3", 2, 0), ("lcb/4", 2, 1),
                    ("lcb/5", 3, 2)]
    assert status == "complete"


def test_partial_run_is_marked(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", "half", model("m"), "humaneval", {"HumanEval/0": [P]})
    manifest = rundir.RunDir(path).manifest()
    rundir.RunDir(path).write_manifest(
        manifest.__class__(**{**manifest.__dict__, "problems": ("HumanEval/0", "HumanEval/1")}))
    ingest.ingest_run(tmp_path / "db.duckdb", path)
    with store.reader(tmp_path / "db.duckdb") as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "partial"


def test_a_bad_run_changes_nothing(tmp_path: Path) -> None:
    runs = fixture_results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    ingest.ingest_runs(db, [runs["q4-he"]])
    before = db.read_bytes()
    bad = tmp_path / "results" / "q8-he" / rundir.EXECUTIONS
    bad.write_text(bad.read_text() + "{not json\n")
    with pytest.raises(DataError, match="not valid JSON"):
        ingest.ingest_runs(db, [runs["q4-mbpp"], runs["q8-he"]])
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.duckdb", "db.duckdb.lock",
                                                          "results"]


def test_rebuild_from_results(tmp_path: Path) -> None:
    fixture_results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, tmp_path / "results")
    expected = counts(db)
    ingest.rebuild(db, tmp_path / "results")
    assert counts(db) == expected


def test_missing_database_says_how_to_create_one(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    with pytest.raises(store.StoreMissingError, match="apr-eval ingest RESULTS_DIR"), \
            store.reader(missing):
        pass
    assert not missing.exists()


def test_cli_ingest_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture_results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "results"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "6 runs ingested, 0 unchanged" in result.output
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "results" / "q4-he"),
                                       "--db", str(db)])
    assert "0 runs ingested, 1 unchanged" in result.output
    with pytest.raises(SystemExit) as exc:
        entrypoint(["ingest", str(tmp_path / "nowhere"), "--db", str(db)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"apr-eval: error: {tmp_path / 'nowhere'}: no such directory"]
    with pytest.raises(SystemExit) as exc:
        entrypoint(["import", str(tmp_path / "missing.json"), "--db", str(db)])
    assert exc.value.code == 2
    assert "cannot read" in capsys.readouterr().err


class DatedBench:
    """A benchmark whose Problem records carry release dates (as LiveCodeBench's do)."""

    def __init__(self, version: str | None = None, path: str | None = None) -> None:
        self.version = version or "v1"

    def load(self) -> list[Problem]:
        return [Problem(benchmark="datedbench", version=self.version, problem_id=f"d/{i}",
                        prompt="", entry_point="f", release_date=date(2024, 1 + i, 1))
                for i in range(3)]


def test_release_dates_come_from_the_benchmark(tmp_path: Path) -> None:
    BENCHMARKS.register("datedbench", "test_store_ingest:DatedBench")
    run = write_run(tmp_path / "r", "dated", model("m"), "datedbench",
                    {"d/0": [P], "d/1": [F], "d/2": [P]})
    db = tmp_path / "db.duckdb"
    ingest.ingest_run(db, run)
    with store.reader(db) as con:
        frame = q.window_table(con, q.DateWindow(date(2024, 2, 1), date(2024, 12, 31)),
                               score_name="datedbench")
    assert frame[["run_id", "problems", "pass@1"]].values.tolist() == [["dated", 2, 0.5]]
