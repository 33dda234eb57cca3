"""``apr-eval merge``: join shards of one run (cut by problems) into one run directory."""

from __future__ import annotations

from pathlib import Path

import click

from apr_eval.cli import common
from apr_eval.cli.run import open_run


@click.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--run-id", required=True, help="The merged run's id (a new directory).")
@click.option("--results-dir", type=click.Path(path_type=Path), default=None,
              help="Where the shards are named and the merged run goes "
                   "(default: $APR_EVAL_RESULTS or ./results).")
def merge(run_refs: tuple[str, ...], run_id: str, results_dir: Path | None) -> None:
    """Join runs that are shards of one run (same settings and model, disjoint problems).

    Then `apr-eval execute` and `score` the merged run as any other; the shards stay as they
    are.
    """
    from apr_eval.harness.run.merge import merge_runs

    shards = [open_run(ref, results_dir) for ref in run_refs]
    report = merge_runs(shards, run_id, common.results_dir(results_dir))
    click.echo(f"run id: {report.run.run_id}: {report.shards} shards, {report.problems} "
               f"problems, {report.completions} completions, {report.executions} verdicts")
    click.echo(f"merged run: {report.run.path}")
