"""Import LiveCodeBench's published per-problem leaderboard as read-only reference runs.

The file (``performances_generation.json`` of livecodebench.github.io) holds, per model and
problem, the published pass@1 in percent, the problem's date and difficulty, and per model a
release date. Each model becomes one run flagged ``published``, with per-problem pass@1 only
(no samples, so no pass@k for k > 1 and no drill-down). LiveCodeBench's own site treats the
release date as the model's cutoff, and so do we: ``cutoff_source`` says so.

Dates: the file's problem dates are one day after the dataset's ``contest_date`` (checked on all
342 problems the two share: the offset is exactly +1 day for every one), so we subtract a day to
store the contest date.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apr_eval.benchmarks.livecodebench import LiveCodeBench
from apr_eval.errors import DataError
from apr_eval.leaderboard import store
from apr_eval.leaderboard.ingest import RUN_TABLES, insert_frame, write_problems

BENCHMARK = LiveCodeBench.name
VERSION = "release_v6"
RUN_PREFIX = f"published:{BENCHMARK}:"
CUTOFF_SOURCE = "release date (LiveCodeBench leaderboard)"
DATE_OFFSET = timedelta(days=1)


@dataclass(frozen=True)
class PublishedLeaderboard:
    models: pd.DataFrame  # model, release_date, style, link
    results: pd.DataFrame  # model, problem_id, release_date, difficulty, platform, pass_at_1
    sha256: str


@dataclass(frozen=True)
class ImportReport:
    models: int
    problems: int
    rows: int


def _day(ms: Any) -> date:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).date()


def load(path: Path) -> PublishedLeaderboard:
    """Parse and check the file; DataError (one line) if it is not that leaderboard."""
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
        models = pd.DataFrame([{
            "model": m["model_repr"], "release_date": _day(m["release_date"]),
            "style": m.get("model_style", ""), "link": m.get("link", ""),
        } for m in doc["models"]])
        results = pd.DataFrame([{
            "model": p["model"], "problem_id": p["question_id"],
            "release_date": _day(p["date"]) - DATE_OFFSET,
            "difficulty": p.get("difficulty"), "platform": p.get("platform"),
            "pass_at_1": float(p["pass@1"]) / 100.0,
        } for p in doc["performances"]])
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a LiveCodeBench performances file ({exc!r})") from None
    unknown = set(results["model"]) - set(models["model"])
    if unknown:
        raise DataError(f"{path}: results for models not listed in 'models': {sorted(unknown)}")
    return PublishedLeaderboard(models, results, hashlib.sha256(raw).hexdigest())


def _wald(values: np.ndarray) -> tuple[float, float]:
    """95% normal interval of a mean over problems (the file has no samples to bootstrap)."""
    if len(values) < 2:
        return float("nan"), float("nan")
    half = 1.96 * float(values.std(ddof=1)) / float(np.sqrt(len(values)))
    mean = float(values.mean())
    return max(0.0, mean - half), min(1.0, mean + half)


def _frames(board: PublishedLeaderboard, source: str) -> dict[str, pd.DataFrame]:
    """models, runs, scores and problem_results rows for every published model."""
    models = board.models.assign(run_id=RUN_PREFIX + board.models["model"])
    now = datetime.now(UTC)
    results = board.results.assign(run_id=RUN_PREFIX + board.results["model"])
    stats = [(float(g["pass_at_1"].mean()), *_wald(g["pass_at_1"].to_numpy()), len(g))
             for _, g in results.groupby("run_id", sort=False)]
    means = pd.DataFrame(stats, columns=["pass_at_k", "ci_low", "ci_high", "problems"],
                         index=results["run_id"].unique())
    return {
        "models": pd.DataFrame({
            "model_id": models["run_id"], "name": models["model"], "path": models["link"],
            "sha256": "", "quantization": "", "bits": None, "parameters": None,
            "architecture": models["style"], "base_model": "", "lineage": "",
            "cutoff": models["release_date"], "cutoff_source": CUTOFF_SOURCE,
            "published": True}),
        "runs": pd.DataFrame({
            "run_id": models["run_id"], "model_id": models["run_id"], "benchmark": BENCHMARK,
            "benchmark_version": VERSION, "data_hash": board.sha256, "status": "published",
            "published": True, "source": source, "fingerprint": board.sha256[:16],
            "ingested_at": now, "config": json.dumps({"published": source})}),
        "scores": means.rename_axis("run_id").reset_index().assign(
            score_name=BENCHMARK, k=1, samples=None, excluded=0),
        "problem_results": pd.DataFrame({
            "run_id": results["run_id"], "score_name": BENCHMARK,
            "problem_id": results["problem_id"], "pass_at_1": results["pass_at_1"]}),
    }


def import_published(db_path: Path, path: Path) -> ImportReport:
    """Load the file into the database (replacing an earlier import of the same models)."""
    board = load(path)
    problems = (board.results.drop_duplicates("problem_id")
                [["problem_id", "release_date", "difficulty", "platform"]]
                .assign(benchmark=BENCHMARK, version=VERSION))
    frames = _frames(board, str(path.resolve()))
    with store.writer(db_path) as con:
        write_problems(con, problems)
        con.register("new_runs", frames["runs"][["run_id"]])
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM new_runs)")
        con.execute("DELETE FROM models WHERE model_id IN (SELECT run_id FROM new_runs)")
        con.unregister("new_runs")
        for table, frame in frames.items():
            insert_frame(con, table, frame)
    return ImportReport(models=len(board.models), problems=len(problems),
                        rows=len(frames["problem_results"]))


def import_problems(db_path: Path, path: Path) -> int:
    """Load a LiveCodeBench problems file (JSONL with question_id, contest_date, ...)."""
    rows = []
    try:
        with path.open() as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    rows.append({"problem_id": d["question_id"],
                                 "release_date": date.fromisoformat(d["contest_date"][:10]),
                                 "difficulty": d.get("difficulty"),
                                 "platform": d.get("platform"),
                                 "version": d.get("_version") or VERSION})
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a LiveCodeBench problems file ({exc!r})") from None
    with store.writer(db_path) as con:
        write_problems(con, pd.DataFrame(rows).assign(benchmark=BENCHMARK))
    return len(rows)
