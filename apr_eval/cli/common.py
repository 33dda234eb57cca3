"""Pieces shared by CLI commands: sandbox options, progress bars, score tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from apr_eval.core import Execution, SandboxLimits, Score
from apr_eval.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])

console = Console(stderr=True)
stdout = Console()


def sandbox_options(func: F) -> F:
    """--workers, --batch-size, --strict, --memory-mb: how the sandbox runs samples."""
    options = [
        click.option("--workers", type=int, default=2, show_default=True,
                     help="Containers running at once."),
        click.option("--batch-size", type=int, default=SandboxLimits.batch_size,
                     show_default=True, help="Samples per container."),
        click.option("--strict", is_flag=True, help="One container per sample (batch size 1)."),
        click.option("--memory-mb", type=int, default=SandboxLimits.memory_mb,
                     show_default=True, help="Memory cap per container (no swap)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def limits_from(workers: int, batch_size: int, strict: bool, memory_mb: int) -> SandboxLimits:
    return SandboxLimits(workers=workers, batch_size=1 if strict else batch_size,
                         memory_mb=memory_mb)


def results_dir(option: str | Path | None) -> Path:
    """``--results-dir`` when given, else $APR_EVAL_RESULTS or ./results."""
    return Path(option) if option else load_settings().results_dir


@contextmanager
def execution_progress(total: int, label: str = "execute"
                       ) -> Iterator[Callable[[Execution], None]]:
    """A rich bar with ETA and the live pass rate; yields the per-verdict callback."""
    passed = 0
    seen = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("pass {task.fields[rate]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=total, rate="-")

        def on_result(e: Execution) -> None:
            nonlocal passed, seen
            seen += 1
            passed += e.verdict.passed
            bar.update(task, advance=1, rate=f"{100 * passed / seen:.1f}%")

        yield on_result


def truncation_line(s: Score) -> str:
    """The run's samples cut short, as ``run`` and ``score`` print it under the scores."""
    share = 100 * s.truncated / s.samples if s.samples else 0.0
    line = f"stopped at max_tokens: {s.truncated}/{s.samples} samples ({share:.1f}%)"
    if s.truncated_reasoning:
        line += f"; unclosed <think> (empty program): {s.truncated_reasoning}"
    return line


def score_table(title: str, scores: Sequence[Score]) -> Table:
    table = Table(title=title)
    for col in ("benchmark", "k", "pass@k", "95% CI", "problems", "samples", "infra errors"):
        table.add_column(col, justify="right" if col != "benchmark" else "left")
    for s in scores:
        table.add_row(s.benchmark, str(s.k), f"{100 * s.pass_at_k:.1f}",
                      f"{100 * s.ci_low:.1f}–{100 * s.ci_high:.1f}"
                      + (f" ({s.ci_method})" if s.ci_method else ""), str(s.problems),
                      str(s.samples), str(s.excluded))
    return table


def store_ingest_run() -> Callable[[Path, Path], None] | None:
    """The store's ingest for the harness to hand finished runs to (None: not installed)."""
    try:
        from apr_eval.leaderboard.ingest import ingest_run
    except ModuleNotFoundError:
        return None
    return ingest_run
