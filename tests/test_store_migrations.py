"""Append-only migrations: an empty database, one at the previous schema, one from the future."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from store_support import fixture_results

from apr_eval.leaderboard import ingest, store
from apr_eval.leaderboard.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaError,
    applied,
    migrate,
)

OLD_TABLES = ("models", "runs", "problems", "completions", "executions", "scores")


def test_empty_database_gets_every_migration(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    assert store.ensure(db) == SCHEMA_VERSION
    with store.reader(db) as con:
        assert applied(con) == [m.name for m in MIGRATIONS]
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
    assert {*OLD_TABLES, "problem_results", "schema_migrations"} <= tables
    assert store.ensure(db) == SCHEMA_VERSION  # idempotent
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
    con.close()


def _older_copy(current: Path, old: Path, version: int) -> None:
    """A database at schema ``version`` holding the same runs as ``current``."""
    con = duckdb.connect(str(old))
    migrate(con, upto=version)
    con.execute(f"ATTACH '{current}' AS cur (READ_ONLY)")
    for table in OLD_TABLES:
        # scores.ci_method arrived in 0004: copy the columns the old schema has
        con.execute(f"INSERT INTO {table} SELECT * EXCLUDE (ci_method) FROM cur.{table}"
                    if table == "scores" and version < 4 else
                    f"INSERT INTO {table} SELECT * FROM cur.{table}")
    if version == 2:  # per-problem results exist, without their release dates (0003)
        con.execute("INSERT INTO problem_results "
                    "SELECT * EXCLUDE (release_date) FROM cur.problem_results")
    elif version >= 3:
        con.execute("INSERT INTO problem_results SELECT * FROM cur.problem_results")
    con.execute("DETACH cur")
    con.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_older_schema_is_migrated_and_backfilled(tmp_path: Path, version: int) -> None:
    fixture_results(tmp_path / "results")
    current, old = tmp_path / "current.duckdb", tmp_path / "old.duckdb"
    ingest.rebuild(current, tmp_path / "results")
    _older_copy(current, old, version)
    with pytest.raises(SchemaError, match="older than this apr-eval's"), store.reader(old):
        pass
    assert store.ensure(old) == SCHEMA_VERSION
    query = "SELECT * FROM problem_results ORDER BY run_id, score_name, problem_id"
    with store.reader(current) as a, store.reader(old) as b:
        expected = a.execute(query).fetchall()
        assert len(expected) == 32
        assert sum(r[-1] is not None for r in expected) == 8  # the LCB rows have dates
        assert b.execute(query).fetchall() == expected


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "future.duckdb"
    store.ensure(db)
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations (name) VALUES ('0099_from_the_future')")
    con.close()
    message = f"schema version {SCHEMA_VERSION + 1}.*newer than this apr-eval reads"
    with pytest.raises(SchemaError, match=message), store.reader(db):
        pass
    before = db.read_bytes()
    with pytest.raises(SchemaError, match="upgrade apr-eval"):
        store.ensure(db)
    assert db.read_bytes() == before  # nothing written
    assert list(tmp_path.glob(".*tmp*")) == []
