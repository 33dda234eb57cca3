"""``apr-eval compare RUN_A RUN_B`` and ``apr-eval nightly --config nightly.toml``.

Exit codes: 0 no significant regression beyond --max-drop, 1 a regression, 2 usage or
comparability errors (raised as UsageError, turned into one line by the entrypoint), 3 an
inconclusive comparison (too many infra errors) or, in nightly, a cell that could not run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from apr_eval.cli import common
from apr_eval.errors import UsageError
from apr_eval.settings import load_settings

if TYPE_CHECKING:
    from apr_eval.harness.regression.compare import Comparison

FORMATS = ("table", "md", "json")


def _print_table(c: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table

    from apr_eval.harness.regression.report import (
        FLIP_HEADER,
        SCORE_HEADER,
        flip_rows,
        flip_sections,
        rule_text,
        score_row,
    )

    console = Console(width=None if sys.stdout.isatty() else 160)
    if c.diffs:
        console.print("[bold red]WARNING: compared with --force although the runs differ: "
                      + "; ".join(str(d) for d in c.diffs) + "[/]", highlight=False)
    for warning in c.warnings:
        console.print(f"[bold yellow]{warning}[/]", highlight=False)
    for note in c.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    table = Table(title=f"{c.benchmark}: B={c.run_b} ({c.model_b}) vs A={c.run_a} "
                        f"({c.model_a})", caption=rule_text(c))
    for name in SCORE_HEADER:
        table.add_column(name, justify="left" if name in ("score", "verdict") else "right")
    for s in c.scores:
        style = "bold red" if s.regressed and not c.inconclusive else (
            "green" if s.significant and s.delta.estimate > 0 else "")
        table.add_row(*score_row(s, c), style=style)
    console.print(table)
    for s in c.scores:
        for title, flips in flip_sections(s):
            flip_table = Table(title=title)
            for name in FLIP_HEADER:
                flip_table.add_column(name)
            for row in flip_rows(flips):
                flip_table.add_row(*row)
            console.print(flip_table)


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Percentage points B may lose against A before a significant drop fails.")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Significance level (family-wise over the comparison's scores).")
@click.option("--max-infra-share", type=float, default=0.02, show_default=True,
              help="Share of samples with infra errors (left out of both runs) above which "
                   "the comparison is inconclusive (exit 3).")
@click.option("--flip-correction", type=click.Choice(["holm", "fdr_bh"]), default="holm",
              show_default=True,
              help="Correction across problems of the per-problem Fisher tests (n > 1).")
@click.option("--force", is_flag=True, help="Compare runs that are not comparable (warns).")
@click.option("--resamples", type=int, default=10_000, hidden=True)  # accepted, unused
@click.option("--seed", type=int, default=0, hidden=True)  # accepted, unused
@click.option("--results-dir", type=click.Path(path_type=Path), default=None,
              help="Where run ids are looked up (default: APR_EVAL_RESULTS or ./results).")
@click.pass_context
def compare(ctx: click.Context, *, run_a: str, run_b: str, fmt: str, max_drop: float,
            alpha: float, max_infra_share: float, flip_correction: str, force: bool,
            resamples: int, seed: int, results_dir: Path | None) -> None:
    """Compare RUN_B against RUN_A (the reference).

    RUN_A / RUN_B: a run directory, a run id under the results directory, or
    latest:MODEL[:BENCH] / previous:MODEL[:BENCH].

    Exit 0: no regression; 1: a significant drop larger than --max-drop; 2: usage or
    comparability error; 3: inconclusive (too many infra errors).
    """
    from apr_eval.harness.regression.compare import compare_runs, resolve_run
    from apr_eval.harness.regression.report import comparison_markdown

    if not 0 < alpha < 1 or max_drop < 0 or not 0 <= max_infra_share <= 1:
        raise UsageError("need 0 < --alpha < 1, --max-drop >= 0 and 0 <= --max-infra-share <= 1")
    root = common.results_dir(results_dir)
    a, b = resolve_run(run_a, root), resolve_run(run_b, root)
    result = compare_runs(a, b, max_drop_pp=max_drop, alpha=alpha, force=force,
                          max_infra_share=max_infra_share, flip_method=flip_correction)
    if result.diffs:
        click.echo("apr-eval: WARNING: runs are not comparable, compared anyway (--force): "
                   + "; ".join(str(d) for d in result.diffs), err=True)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    elif fmt == "md":
        click.echo(comparison_markdown(result), nl=False)
    else:
        _print_table(result)
    ctx.exit(result.exit_code)


@click.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The nightly matrix (TOML): models x benchmarks, sampling, limits.")
@click.option("--results-dir", type=click.Path(path_type=Path), default=None,
              help="Overrides the config's results_dir and APR_EVAL_RESULTS.")
@click.option("--check", is_flag=True, help="Validate the config and list the matrix; run nothing.")
@click.pass_context
def nightly(ctx: click.Context, *, config_path: Path, results_dir: Path | None,
            check: bool) -> None:
    """Run what is missing of a models x benchmarks matrix, compare, report.

    Exit 0: no regression; 1: a comparison regressed; 2: bad config (before anything runs);
    3: a cell could not run or be compared (see the report).
    """
    from apr_eval.harness.regression.nightly import load_config, run_nightly

    config = load_config(config_path, results_dir=results_dir,
                         default_results=load_settings().results_dir)
    if check:
        for cell in config.cells():
            click.echo(f"{cell.model.name} x {cell.benchmark.name}")
        ctx.exit(0)
    outcome = run_nightly(config, echo=click.echo)
    click.echo(f"report: {outcome.report_path}")
    ctx.exit(outcome.exit_code)
