"""Run directories -> rows in the results database (the directories stay the source of truth).

Ingest is idempotent by run id: a run's rows are replaced as a whole, and a run whose files have
not changed since the last ingest is skipped without touching the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from apr_eval.benchmarks.base import open_benchmark, score_rule
from apr_eval.core import ModelInfo, Problem, RunManifest
from apr_eval.errors import AprEvalError
from apr_eval.harness.run import rundir
from apr_eval.harness.run.rundir import RunDir
from apr_eval.leaderboard import store
from apr_eval.leaderboard.migrations import Connection, SchemaError, refresh_problem_results

RUN_TABLES = ("runs", "completions", "executions", "scores", "problem_results")


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_published: int = 0


def model_id(model: ModelInfo) -> str:
    """A model's identity: its file hash, else name + quantization + bits."""
    if model.sha256:
        return model.sha256
    bits = "" if model.bits is None else f"{model.bits:g}"
    return "|".join([model.name, model.quantization, bits])


def comparability_key(manifest: RunManifest) -> str:
    """The key the pipeline recorded in the manifest, else the same hash computed here."""
    from apr_eval.harness.run.manifest import comparability_key as compute

    recorded = manifest.extra.get("comparability_key")
    return str(recorded) if recorded else compute(manifest)


def fingerprint(run: RunDir) -> str:
    """Sizes and mtimes of the run's files: equal fingerprints mean nothing to re-ingest."""
    parts = []
    for name in (rundir.MANIFEST, rundir.COMPLETIONS, rundir.EXECUTIONS, rundir.SCORES):
        path = run.path / name
        st = path.stat() if path.exists() else None
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}" if st else f"{name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


# ------------------------------------------------------------------ rows


def _model_row(model: ModelInfo) -> dict[str, Any]:
    return {
        "model_id": model_id(model), "name": model.name, "path": model.path,
        "sha256": model.sha256, "quantization": model.quantization, "bits": model.bits,
        "parameters": model.parameters, "architecture": model.architecture,
        "base_model": model.base_model, "lineage": model.lineage, "cutoff": model.cutoff,
        "cutoff_source": "declared" if model.cutoff else None, "published": False,
    }


def _run_row(run: RunDir, manifest: RunManifest, status: str) -> dict[str, Any]:
    sampling = manifest.sampling
    return {
        "run_id": manifest.run_id, "model_id": model_id(manifest.model),
        "benchmark": manifest.benchmark, "benchmark_version": manifest.benchmark_version,
        "data_hash": manifest.data_hash, "comparability_key": comparability_key(manifest),
        "backend": manifest.backend, "engine": manifest.model.engine,
        "engine_version": manifest.model.engine_version,
        "image_digest": manifest.image_digest, "harness_version": manifest.harness_version,
        "prompt_style": manifest.prompt_style,
        "n": None if sampling is None else sampling.n,
        "temperature": None if sampling is None else sampling.temperature,
        "created_at": _timestamp(manifest.created_at), "ingested_at": datetime.now(UTC),
        "status": status, "published": False, "source": str(run.path.resolve()),
        "fingerprint": fingerprint(run),
        "config": json.dumps(rundir.manifest_to_json(manifest), sort_keys=True),
    }


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _execution_rows(run_id: str, run: RunDir) -> pd.DataFrame:
    rows = []
    for e in run.executions().values():
        d = rundir.execution_to_json(e)
        rows.append({
            "run_id": run_id, "problem_id": e.problem_id, "sample_index": e.sample_index,
            "verdict": e.verdict.value, "group_verdicts": json.dumps(d["group_verdicts"]),
            "failing": None if d["failing"] is None else json.dumps(d["failing"]),
            "duration_s": e.duration_s, "detail": e.detail,
        })
    return pd.DataFrame(rows)


def _completion_rows(run_id: str, run: RunDir) -> pd.DataFrame:
    rows = [{**dataclasses.asdict(c), "run_id": run_id} for c in run.completions().values()]
    return pd.DataFrame(rows)


def _score_rows(run_id: str, run: RunDir) -> pd.DataFrame:
    rows = [{
        "run_id": run_id, "score_name": s["benchmark"], "k": int(s["k"]),
        "pass_at_k": float(s["pass_at_k"]), "ci_low": s.get("ci_low"),
        "ci_high": s.get("ci_high"), "problems": s.get("problems"),
        "samples": s.get("samples"), "excluded": s.get("excluded", 0),
        "ci_method": s.get("ci_method") or None,
    } for s in run.scores()]
    return pd.DataFrame(rows)


def _status(manifest: RunManifest, executions: int, scored: bool) -> str:
    expected = len(manifest.problems) * (manifest.sampling.n if manifest.sampling else 1)
    if not scored or (manifest.problems and executions < expected):
        return "partial"
    return "complete"


def _score_names(manifest: RunManifest, scores: pd.DataFrame) -> list[str]:
    """The headline scores to keep per problem: scores.json's, else the benchmark's own."""
    if not scores.empty:
        return sorted(set(scores["score_name"]))
    return sorted(score_rule(manifest.benchmark, manifest.benchmark_version or None).names)


# ------------------------------------------------------------------ problems


def _date(value: Any) -> date | None:
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])


def _problems_from_manifest(manifest: RunManifest) -> list[dict[str, Any]]:
    """``extra["problem_dates"]``: {problem id: ISO date | {"release_date", "difficulty"}}."""
    meta = manifest.extra.get("problem_dates") or {}
    rows = []
    for pid, value in dict(meta).items():
        info = value if isinstance(value, Mapping) else {"release_date": value}
        rows.append({"problem_id": pid, "release_date": _date(info.get("release_date")),
                     "difficulty": info.get("difficulty"), "platform": info.get("platform")})
    return rows


@functools.lru_cache(maxsize=8)
def _benchmark_problems(name: str, version: str) -> tuple[Problem, ...]:
    """The benchmark's own Problem records (release dates), or () if it cannot be loaded."""
    # Dates are optional metadata: a benchmark that cannot be built here must not stop ingest.
    with contextlib.suppress(AprEvalError, ImportError, OSError, TypeError, ValueError,
                             KeyError, AttributeError):
        return tuple(open_benchmark(name, version or None).load())
    return ()


def _problems_from_benchmark(manifest: RunManifest) -> list[dict[str, Any]]:
    return [{"problem_id": p.problem_id, "release_date": p.release_date,
             "difficulty": p.difficulty, "platform": p.metadata.get("platform")}
            for p in _benchmark_problems(manifest.benchmark, manifest.benchmark_version)]


def _write_problems(con: Connection, manifest: RunManifest) -> None:
    rows = _problems_from_manifest(manifest)
    if not rows:
        known = con.execute("SELECT count(*) FROM problems WHERE benchmark = ? AND version = ?",
                            [manifest.benchmark, manifest.benchmark_version]).fetchall()
        if known[0][0]:
            return
        rows = _problems_from_benchmark(manifest)
    if rows:
        frame = pd.DataFrame(rows).assign(benchmark=manifest.benchmark,
                                          version=manifest.benchmark_version)
        write_problems(con, frame)


def write_problems(con: Connection, frame: pd.DataFrame) -> None:
    """Upsert problems (benchmark, version, problem_id, release_date, difficulty, platform)."""
    con.register("new_problems", frame)
    con.execute("""DELETE FROM problems p USING new_problems n WHERE p.benchmark = n.benchmark
                   AND p.version = n.version AND p.problem_id = n.problem_id""")
    con.execute("INSERT INTO problems BY NAME SELECT benchmark, version, problem_id, "
                "release_date::DATE AS release_date, difficulty, platform FROM new_problems")
    con.unregister("new_problems")


# ------------------------------------------------------------------ writing


def insert_frame(con: Connection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("frame_in", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame_in")
    con.unregister("frame_in")


def upsert_model(con: Connection, row: dict[str, Any]) -> None:
    con.execute("DELETE FROM models WHERE model_id = ?", [row["model_id"]])
    insert_frame(con, "models", pd.DataFrame([row]))


def delete_run(con: Connection, run_id: str) -> None:
    for table in RUN_TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])


def write_run(con: Connection, run: RunDir) -> str:
    """Replace one run's rows (inside the caller's transaction); return its run id."""
    manifest = run.manifest()
    run_id = manifest.run_id
    execs = _execution_rows(run_id, run)
    scores = _score_rows(run_id, run)
    delete_run(con, run_id)
    upsert_model(con, _model_row(manifest.model))
    status = _status(manifest, len(execs), not scores.empty)
    insert_frame(con, "runs", pd.DataFrame([_run_row(run, manifest, status)]))
    insert_frame(con, "completions", _completion_rows(run_id, run))
    insert_frame(con, "executions", execs)
    insert_frame(con, "scores", scores)
    _write_problems(con, manifest)
    refresh_problem_results(con, run_id, _score_names(manifest, scores))
    return run_id


def _known_fingerprints(db_path: Path) -> dict[str, str]:
    if not db_path.exists():
        return {}
    try:
        with store.reader(db_path) as con:
            con.execute("SELECT run_id, fingerprint FROM runs WHERE NOT published")
            return dict(con.fetchall())
    except (SchemaError, store.StoreBusyError):
        return {}  # an older schema: the writer migrates it and re-ingests everything


def ingest_runs(db_path: Path, run_paths: Iterable[Path]) -> IngestReport:
    """Ingest several run directories in one write (one copy of the database)."""
    runs = [RunDir(Path(p)) for p in run_paths]
    for run in runs:
        run.manifest()  # a bad directory fails before anything is written
    known = _known_fingerprints(db_path)
    report = IngestReport()
    todo = []
    for run in runs:
        if known.get(run.manifest().run_id) == fingerprint(run):
            report.unchanged.append(run.manifest().run_id)
        else:
            todo.append(run)
    if todo or not db_path.exists():
        with store.writer(db_path) as con:
            report.ingested = [write_run(con, run) for run in todo]
    return report


def ingest_run(db_path: Path, run_path: Path) -> None:
    """Ingest one run directory: idempotent by run id, visible all-or-nothing."""
    ingest_runs(db_path, [run_path])


def run_dirs(results_dir: Path) -> list[Path]:
    """Every run directory directly under ``results_dir``, sorted by name."""
    return sorted(p.parent for p in results_dir.glob(f"*/{rundir.MANIFEST}"))


def rebuild(db_path: Path, results_dir: Path) -> IngestReport:
    """A new database from every run under ``results_dir`` (published imports are kept)."""
    old = db_path if db_path.exists() else None
    report = IngestReport()
    with store.writer(db_path, fresh=True) as con:
        if old is not None:
            report.kept_published = _copy_published(con, old)
        report.ingested = [write_run(con, RunDir(p)) for p in run_dirs(results_dir)]
    return report


def _copy_published(con: Connection, old: Path) -> int:
    """Copy imported reference runs (not rebuildable from results/) from the old database."""
    con.execute(f"ATTACH '{old}' AS old (READ_ONLY)")
    try:
        con.execute("SELECT run_id FROM old.runs WHERE published")
        ids = [r[0] for r in con.fetchall()]
        where = "run_id IN (SELECT run_id FROM old.runs WHERE published)"
        for table in RUN_TABLES:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM old.{table} WHERE {where}")
        con.execute("INSERT INTO models BY NAME SELECT * FROM old.models WHERE published")
        con.execute("INSERT INTO problems BY NAME SELECT * FROM old.problems")
    finally:
        con.execute("DETACH old")
    return len(ids)
