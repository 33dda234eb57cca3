"""Release-date windows and the contamination mark (LiveCodeBench-style scoring).

A window keeps problems released on or between its two days (both inclusive, whole days; an
open end keeps everything on that side). A model whose declared training cutoff is on or after
the window's first day may have seen the problems: its score is marked possibly contaminated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from apr_eval.core import DateWindow, Execution, Problem, SampleKey, Score
from apr_eval.harness.scoring.score import score_run

if TYPE_CHECKING:
    from apr_eval.benchmarks.base import Benchmark


def problem_dates(problems: Iterable[Problem], ids: set[str] | None = None,
                  ) -> dict[str, dict[str, dict[str, str | None]]]:
    """``{"problem_dates": {id: {"release_date", "difficulty"}}}`` for a manifest's ``extra``
    (empty when no problem has a date): the store reads release dates from there, whatever
    options the benchmark was opened with."""
    dates = {p.problem_id: {"release_date": p.release_date.isoformat(),
                            "difficulty": p.difficulty or None}
             for p in problems if p.release_date is not None
             and (ids is None or p.problem_id in ids)}
    return {"problem_dates": dates} if dates else {}


def possibly_contaminated(cutoff: date | None, window_start: date | None) -> bool:
    """True when the model's declared cutoff is on or after the window's first day.

    Unknown cutoff -> False (nothing declared, nothing to flag); an open window start with a
    known cutoff -> True (the window reaches back before any cutoff).
    """
    if cutoff is None:
        return False
    if window_start is None:
        return True
    return cutoff >= window_start


@dataclass(frozen=True)
class WindowReport:
    """What a date-windowed score reports beside pass@k."""

    window: DateWindow
    problems: int
    cutoff: date | None
    contaminated: bool


def window_report(window: DateWindow, problems: int, cutoff: date | None) -> WindowReport:
    return WindowReport(window, problems, cutoff, possibly_contaminated(cutoff, window.start))


def score_in_window(run_id: str, executions: Mapping[SampleKey, Execution], benchmark: Benchmark,
                    problems: Sequence[Problem], *, window: DateWindow,
                    cutoff: date | None) -> tuple[list[Score], WindowReport]:
    """Re-score a run on the problems released inside ``window`` (LCB's date slider)."""
    inside = {p.problem_id for p in window.select(problems)}
    kept = {k: e for k, e in executions.items() if e.problem_id in inside}
    scores = score_run(run_id, kept, benchmark)
    scored = len({e.problem_id for e in kept.values()})
    return scores, window_report(window, scored, cutoff)
