"""Append-only named migrations for the results database.

Each migration runs once, in order, and is recorded by name in ``schema_migrations``. The
schema version is the number of migrations applied. Never edit or reorder a released
migration: add a new one at the end. A database that names a migration this checkout does not
know was written by a newer apr-eval and is refused with a clear message.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from apr_eval.benchmarks.base import ScoreRule, headline_passed, score_rule
from apr_eval.core import HEADLINE, Verdict
from apr_eval.errors import UsageError

Connection = Any  # duckdb.DuckDBPyConnection (duckdb ships no type information)

# The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), via lgamma.
_PASS_AT_K_SQL = """
CASE WHEN n < {k} THEN NULL
     WHEN n - c < {k} THEN 1.0
     ELSE 1.0 - exp(lgamma(n - c + 1) - lgamma(n - c - {k} + 1)
                    - lgamma(n + 1) + lgamma(n - {k} + 1)) END AS pass_at_{k}
"""

PER_PROBLEM_KS = (1, 5, 10, 100)


class SchemaError(UsageError):
    """The database's schema is not the one this apr-eval reads."""


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[Connection], None]


def _initial(con: Connection) -> None:
    con.execute("""
        CREATE TABLE models (
            model_id VARCHAR NOT NULL, name VARCHAR NOT NULL, path VARCHAR, sha256 VARCHAR,
            quantization VARCHAR, bits DOUBLE, parameters BIGINT, architecture VARCHAR,
            base_model VARCHAR, lineage VARCHAR, cutoff DATE, cutoff_source VARCHAR,
            published BOOLEAN NOT NULL DEFAULT FALSE);
        CREATE TABLE runs (
            run_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, benchmark VARCHAR NOT NULL,
            benchmark_version VARCHAR, data_hash VARCHAR, comparability_key VARCHAR,
            backend VARCHAR, engine VARCHAR, engine_version VARCHAR, image_digest VARCHAR,
            harness_version VARCHAR, prompt_style VARCHAR, n INTEGER, temperature DOUBLE,
            created_at TIMESTAMP, ingested_at TIMESTAMP, status VARCHAR NOT NULL,
            published BOOLEAN NOT NULL DEFAULT FALSE, source VARCHAR, fingerprint VARCHAR,
            config VARCHAR);
        CREATE TABLE problems (
            benchmark VARCHAR NOT NULL, version VARCHAR NOT NULL, problem_id VARCHAR NOT NULL,
            release_date DATE, difficulty VARCHAR, platform VARCHAR);
        CREATE TABLE completions (
            run_id VARCHAR NOT NULL, problem_id VARCHAR NOT NULL, sample_index INTEGER NOT NULL,
            raw VARCHAR, code VARCHAR, finish_reason VARCHAR, tokens INTEGER, latency_s DOUBLE);
        CREATE TABLE executions (
            run_id VARCHAR NOT NULL, problem_id VARCHAR NOT NULL, sample_index INTEGER NOT NULL,
            verdict VARCHAR NOT NULL, group_verdicts VARCHAR, failing VARCHAR,
            duration_s DOUBLE, detail VARCHAR);
        CREATE TABLE scores (
            run_id VARCHAR NOT NULL, score_name VARCHAR NOT NULL, k INTEGER NOT NULL,
            pass_at_k DOUBLE NOT NULL, ci_low DOUBLE, ci_high DOUBLE, problems INTEGER,
            samples INTEGER, excluded INTEGER);
    """)


def _problem_results(con: Connection) -> None:
    """Per-problem results (n, c, pass@k) so window scores never scan every sample."""
    ks = ", ".join(f"pass_at_{k} DOUBLE" for k in PER_PROBLEM_KS)
    con.execute(f"""
        CREATE TABLE problem_results (
            run_id VARCHAR NOT NULL, score_name VARCHAR NOT NULL, problem_id VARCHAR NOT NULL,
            n INTEGER, c INTEGER, {ks})
    """)
    for run_id, score_names in con.execute(
            "SELECT run_id, list(DISTINCT score_name ORDER BY score_name) FROM scores "
            "GROUP BY run_id ORDER BY run_id").fetchall():
        refresh_problem_results(con, run_id, list(score_names))


def _problem_release_dates(con: Connection) -> None:
    """Each per-problem row carries its problem's release date: window scores scan one table."""
    con.execute("ALTER TABLE problem_results ADD COLUMN release_date DATE")
    refresh_release_dates(con)


def _score_interval_method(con: Connection) -> None:
    """How each score's interval was made ("wilson", "t-clustered", ...; NULL: older runs)."""
    con.execute("ALTER TABLE scores ADD COLUMN ci_method VARCHAR")


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial", _initial),
    Migration("0002_problem_results", _problem_results),
    Migration("0003_problem_release_dates", _problem_release_dates),
    Migration("0004_score_interval_method", _score_interval_method),
)
SCHEMA_VERSION = len(MIGRATIONS)


def refresh_problem_results(con: Connection, run_id: str, score_names: list[str]) -> None:
    """(Re)compute one run's per-problem results from its executions, each sample judged by
    its benchmark's own pass rule (``Benchmark.passed``), as ``scores.json`` is."""
    con.execute("DELETE FROM problem_results WHERE run_id = ?", [run_id])
    counted = problem_counts(con, run_id, score_names)
    if counted.empty:
        return
    ks = ",\n".join(_PASS_AT_K_SQL.format(k=k) for k in PER_PROBLEM_KS if k > 1)
    con.register("counted_in", counted)
    try:
        con.execute(f"""
            INSERT INTO problem_results BY NAME
            SELECT run_id, score_name, problem_id, n, c, c / n AS pass_at_1, {ks}
            FROM counted_in""")
    finally:
        con.unregister("counted_in")


def problem_counts(con: Connection, run_id: str, score_names: list[str]) -> pd.DataFrame:
    """(run_id, score_name, problem_id, n, c) for one run, by its benchmark's pass rule."""
    bench = con.execute("SELECT benchmark, benchmark_version FROM runs WHERE run_id = ?",
                        [run_id]).fetchall()
    rule = (_rule(bench[0][0], bench[0][1]) if bench
            else ScoreRule(tuple(score_names), headline_passed))
    samples: dict[str, list[dict[str, Verdict]]] = {}
    for pid, verdict, groups in con.execute(
            "SELECT problem_id, verdict, group_verdicts FROM executions WHERE run_id = ? "
            "ORDER BY problem_id, sample_index", [run_id]).fetchall():
        verdicts = {k: Verdict(v) for k, v in json.loads(groups or "{}").items()}
        samples.setdefault(pid, []).append({HEADLINE: Verdict(verdict), **verdicts})
    rows = [{"run_id": run_id, "score_name": name, "problem_id": pid, "n": len(v),
             "c": rule.counts(name, v)}
            for name in score_names for pid, v in samples.items()]
    return pd.DataFrame(rows, columns=["run_id", "score_name", "problem_id", "n", "c"])


@functools.lru_cache(maxsize=16)
def _rule(benchmark: str, version: str | None) -> ScoreRule:
    return score_rule(benchmark, version)


def refresh_release_dates(con: Connection) -> None:
    """Copy problems' release dates onto per-problem results (run at the end of every write).

    A problem's date may arrive after its runs (e.g. LiveCodeBench's leaderboard imported
    later); versions of a benchmark share problem ids, so the earliest known date counts.
    """
    con.execute("""
        UPDATE problem_results p SET release_date = d.release_date
        FROM (SELECT benchmark, problem_id, min(release_date) AS release_date FROM problems
              GROUP BY ALL) d, runs r
        WHERE p.run_id = r.run_id AND r.benchmark = d.benchmark AND p.problem_id = d.problem_id
          AND p.release_date IS DISTINCT FROM d.release_date""")


# ------------------------------------------------------------------ applying


def _ensure_table(con: Connection) -> None:
    con.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
        name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""")


def applied(con: Connection) -> list[str]:
    """Names of the migrations applied to this database, oldest first ([] for a fresh one)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name = 'schema_migrations'").fetchall()
    if exists[0][0] == 0:
        return []
    return [row[0] for row in
            con.execute("SELECT name FROM schema_migrations ORDER BY rowid").fetchall()]


def check(names: list[str], db: str, *, writable: bool) -> None:
    """Refuse a database from a newer apr-eval (or, when read-only, an older schema)."""
    known = [m.name for m in MIGRATIONS]
    unknown = [n for n in names if n not in known]
    if unknown or names != known[: len(names)]:
        raise SchemaError(
            f"{db} has schema version {len(names)} ({names[-1] if names else 'none'}), newer "
            f"than this apr-eval reads (version {SCHEMA_VERSION}): upgrade apr-eval, or rebuild "
            "the database from the run directories with `apr-eval ingest --rebuild RESULTS_DIR`")
    if not writable and len(names) < SCHEMA_VERSION:
        raise SchemaError(
            f"{db} has schema version {len(names)}, older than this apr-eval's "
            f"({SCHEMA_VERSION}): run `apr-eval ingest --db {db}` once to upgrade it")


def migrate(con: Connection, db: str = "database", *, upto: int | None = None) -> list[str]:
    """Apply every pending migration (each in its own transaction); return the names applied."""
    _ensure_table(con)
    done = applied(con)
    check(done, db, writable=True)
    todo = MIGRATIONS[len(done): SCHEMA_VERSION if upto is None else upto]
    for migration in todo:
        con.execute("BEGIN TRANSACTION")
        try:
            migration.apply(con)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [migration.name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return [m.name for m in todo]
