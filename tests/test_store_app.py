"""The Streamlit page without a browser (Streamlit's AppTest): bad input and the happy path."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from store_support import fixture_results

from apr_eval.cli.store import streamlit_command
from apr_eval.leaderboard import ingest, store

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "apr_eval" / "leaderboard" / "app.py"


def run_app(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", "--db", str(db)])
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    return app


def test_missing_database_says_how_to_create_one(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(tmp_path / "none.duckdb", monkeypatch)
    assert [e.value for e in app.error] == [store.missing_message(tmp_path / "none.duckdb")]
    assert "apr-eval ingest RESULTS_DIR" in app.error[0].value


def test_newer_schema_is_a_clear_message(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "future.duckdb"
    store.ensure(db)
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations (name) VALUES ('0099_from_the_future')")
    con.close()
    app = run_app(db, monkeypatch)
    assert len(app.error) == 1
    assert "newer than this apr-eval reads" in app.error[0].value
    assert not app.exception


def test_tables_and_window_without_a_browser(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fixture_results(tmp_path / "results")
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, tmp_path / "results")
    app = run_app(db, monkeypatch)
    assert not app.exception and not app.error
    lcb = app.dataframe[0].value
    assert list(lcb["model"]) == ["coder-q8"]  # coder-q4's cutoff is inside the window
    app.sidebar.toggle[0].set_value(True).run()
    assert list(app.dataframe[0].value["model"]) == ["coder-q8", "coder-q4"]
    assert not app.info
    with store.writer(db):  # an ingest is writing: the page still works, with a notice
        app.run()
        assert list(app.dataframe[0].value["model"]) == ["coder-q8", "coder-q4"]
        assert "An ingest is writing" in app.info[0].value


def test_leaderboard_command_runs_streamlit_headless(tmp_path: Path) -> None:
    cmd = streamlit_command(tmp_path / "db.duckdb", 8600)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == APP
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-2:] == ["--db", str(tmp_path / "db.duckdb")]
