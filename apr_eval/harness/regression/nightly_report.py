"""The nightly Markdown report: one summary table, then each comparison with its flip lists.

Written atomically to ``<results>/nightly/report-<UTC time>.md`` and copied to
``<results>/nightly/latest.md`` (what a CI job uploads or a cron mail sends).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apr_eval.harness.regression.report import comparison_markdown, pct, pp, verdict_label

if TYPE_CHECKING:
    from apr_eval.harness.regression.compare import Comparison
    from apr_eval.harness.regression.nightly_config import NightlyConfig


@dataclass(frozen=True)
class CellOutcome:
    """One cell of a night: what ran, what it was compared with, what the store said."""

    model: str
    benchmark: str
    run_id: str
    status: str  # "up to date" / "ran" / "resumed" / "failed"
    baseline: str | None = None  # run id compared against
    comparison: Comparison | None = None
    message: str = ""
    ingested: bool = False  # indexed in DuckDB (False: the store is not installed here)
    ingest_error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed" or bool(self.ingest_error)


def _headline(outcomes: Sequence[CellOutcome]) -> str:
    regressed = [c for c in outcomes if c.comparison is not None and c.comparison.regressed]
    failed = [c for c in outcomes if c.failed]
    unsure = [c for c in outcomes if c.comparison is not None and c.comparison.inconclusive]
    parts = []
    for label, cells in (("**REGRESSION** in {n} of {total} cells", regressed),
                         ("**FAILED** {n} cell(s)", failed),
                         ("**INCONCLUSIVE** {n} cell(s) (infra errors)", unsure)):
        if cells:
            names = ", ".join(f"{c.model} x {c.benchmark}" for c in cells)
            parts.append(label.format(n=len(cells), total=len(outcomes)) + f": {names}")
    return "\n\n".join(parts) if parts else f"**OK**: no regression in {len(outcomes)} cells"


def _score_cells(c: CellOutcome) -> tuple[str, str]:
    if c.comparison is None:
        return "-", c.message
    scores = "; ".join(f"{s.score} {pct(s.pass_a)} → {pct(s.pass_b)} ({pp(s.delta.estimate)}, "
                       f"p={s.test.p_value:.3g}, adj. {s.p_adjusted:.3g}, "
                       f"MDE {s.mde_pp:.1f} pp)" for s in c.comparison.scores)
    verdicts = ", ".join(f"{s.score}: {verdict_label(s, c.comparison)}"
                         for s in c.comparison.scores)
    return scores, verdicts


def render_report(config: NightlyConfig, outcomes: Sequence[CellOutcome], now: datetime) -> str:
    lines = [f"# apr-eval nightly — {now.strftime('%Y-%m-%d %H:%M UTC')}", "",
             f"Config `{config.path}`, results `{config.results_dir}`. A regression is a drop "
             f"of more than {config.max_drop:g} pp whose p-value stays below "
             f"{config.alpha:g} after correction across the whole night (Holm across cells, "
             "a run's nested scores as one family; exact McNemar for one sample per problem, "
             "a paired t-test over problems otherwise). Infra errors are retried once, then "
             f"left out of both runs; above {config.max_infra_share:.0%} of samples the "
             "cell is inconclusive (exit 3).",
             "", _headline(outcomes), "",
             "| model | benchmark | run | status | compared with | pass@1 (baseline → run) "
             "| verdict |", "|---|---|---|---|---|---|---|"]
    for c in outcomes:
        scores, verdicts = _score_cells(c)
        row = [c.model, c.benchmark, f"`{c.run_id}`", c.status,
               f"`{c.baseline}`" if c.baseline else "-", scores, verdicts]
        lines.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ")
                                        for x in row) + " |")
    for c in outcomes:
        if c.ingest_error:
            lines += ["", f"**database:** {c.model} x {c.benchmark}: {c.ingest_error}"]
    for c in outcomes:
        if c.comparison is not None:
            lines += ["", comparison_markdown(c.comparison, level=2).rstrip()]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(config: NightlyConfig, outcomes: Sequence[CellOutcome], now: datetime) -> Path:
    folder = config.results_dir / "nightly"
    folder.mkdir(parents=True, exist_ok=True)
    text = render_report(config, outcomes, now)
    path = folder / f"report-{now.strftime('%Y%m%dT%H%M%SZ')}.md"
    _write_atomic(path, text)
    _write_atomic(folder / "latest.md", text)
    return path
