"""Two-run comparison for the app: the harness's comparison report (the one ``apr-eval
compare`` and the nightly print) when both run directories are at hand, else the same paired
statistics over the per-problem results in the database.

``apr_eval.harness.regression.compare`` reads the run directories (the source of truth) and
adds a paired test (exact McNemar for one sample per problem) and the verdict kinds of each
flip; published runs have no directory, so for them the store's own
:func:`run_queries.compare_runs` is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from apr_eval.harness.run.rundir import RunDir
from apr_eval.leaderboard import run_queries as rq
from apr_eval.leaderboard.migrations import Connection


@dataclass(frozen=True)
class RunComparison:
    summary: pd.DataFrame  # one row: pass@1 of each run, delta and its 95% interval, ...
    flips: pd.DataFrame  # problem_id, a pass@1, b pass@1, change (+ kinds from the harness)
    source: str  # "run directories" or "database"
    notes: tuple[str, ...] = ()


def _from_directories(a: Path, b: Path, score: str) -> RunComparison | None:
    from apr_eval.harness.regression.compare import compare_runs
    from apr_eval.harness.regression.report import verdict_label

    result = compare_runs(RunDir(a), RunDir(b), force=True)
    match = [s for s in result.scores if s.score == score]
    if not match:
        return None
    s = match[0]
    summary = rq.score_summary(s, result.run_a, result.run_b, verdict_label(s, result))
    real = {f.problem_id for f in (*s.lost, *s.gained)}
    flips = pd.DataFrame([{
        "problem_id": f.problem_id, "a pass@1": f.a_passed / f.a_samples,
        "b pass@1": f.b_passed / f.b_samples, "change": "gained" if f.change > 0 else "lost",
        "real flip": f.problem_id in real, "p (corrected)": f.p_value,
        "failing as": f.kind_text,
    } for f in s.changed], columns=["problem_id", "a pass@1", "b pass@1", "change",
                                    "real flip", "p (corrected)", "failing as"])
    notes = (tuple(str(d) for d in result.diffs) + tuple(result.warnings)
             + tuple(result.notes))
    return RunComparison(summary, flips, "run directories", notes)


def compare(con: Connection, run_a: str, run_b: str, score: str) -> RunComparison:
    """Compare B against A on one headline score."""
    sources = rq.run_sources(con, [run_a, run_b])
    a, b = sources.get(run_a), sources.get(run_b)
    if a and b and Path(a, "manifest.json").exists() and Path(b, "manifest.json").exists():
        found = _from_directories(Path(a), Path(b), score)
        if found is not None:
            return found
    return RunComparison(rq.compare_runs(con, run_a, run_b, score),
                         rq.flipped_problems(con, run_a, run_b, score), "database")
