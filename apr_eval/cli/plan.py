"""``apr-eval plan``: how many samples (or problems) a comparison needs to detect a gap."""

from __future__ import annotations

from pathlib import Path

import click

from apr_eval.cli import common
from apr_eval.errors import AprEvalError, UsageError


def _problem_count(bench: str, version: str | None) -> int:
    from apr_eval.benchmarks.base import open_benchmark

    try:
        return len(open_benchmark(bench, version).load())
    except (AprEvalError, ImportError, OSError, TypeError, ValueError) as exc:
        raise UsageError(f"cannot count {bench}'s problems ({exc}); pass --problems") from None


def _from_run(ref: str, results_dir: Path, score: str | None) -> tuple[str, int, float | None,
                                                                       str]:
    """(benchmark, problems, per-sample variance or None, score) of an earlier run."""
    from apr_eval.harness.regression.compare import resolve_run, score_rules
    from apr_eval.harness.regression.paired import outcomes, pair_executions
    from apr_eval.harness.regression.power import within_from_counts

    run = resolve_run(ref, results_dir)
    manifest = run.manifest()
    names, passed = score_rules(manifest)
    name = score or names[-1]
    if name not in names:
        raise UsageError(f"run {manifest.run_id} has no score '{name}' "
                         f"(it has: {', '.join(names)})")
    executions, _, _ = pair_executions(run.executions(), run.executions())
    table = outcomes(executions, name, passed)
    if not table:
        raise UsageError(f"run {manifest.run_id} has no executed sample")
    n = [o.samples for o in table.values()]
    c = [o.passed for o in table.values()]
    return manifest.benchmark, len(table), within_from_counts(n, c), name


@click.command()
@click.option("--bench", help="Benchmark to plan for (its problem count).")
@click.option("--delta", "delta_pp", type=float, required=True,
              help="The gap to detect, in percentage points (e.g. 0.6).")
@click.option("--from", "from_run", metavar="RUN",
              help="An earlier run (n > 1 samples per problem) whose per-problem pass rates "
                   "give the variance; else --discordance is the prior.")
@click.option("--score", help="Which of the run's scores (default: its last, e.g. humaneval+).")
@click.option("--discordance", type=click.FloatRange(0, 1), default=0.08, show_default=True,
              help="Prior: share of problems that flip between two one-sample runs.")
@click.option("--problem-sd", "tau_pp", type=click.FloatRange(0), default=0.0,
              show_default=True,
              help="Prior spread (pp) of the true per-problem effect; more samples cannot "
                   "remove it.")
@click.option("--problems", type=click.IntRange(2), help="Problem count (default: the "
              "benchmark's, or the run's).")
@click.option("--samples", "samples_now", type=click.IntRange(1), default=1,
              show_default=True, help="Samples per problem you run now.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True)
@click.option("--power", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True)
@click.option("--results-dir", type=click.Path(path_type=Path), default=None)
def plan(bench: str | None, delta_pp: float, from_run: str | None, score: str | None,
         discordance: float, tau_pp: float, problems: int | None, samples_now: int,
         alpha: float, power: float, results_dir: Path | None) -> None:
    """Samples per problem needed to detect a DELTA pp gap with 80% power (or why not)."""
    from apr_eval.harness.regression import power as pw

    if delta_pp <= 0:
        raise UsageError("--delta must be > 0 (percentage points)")
    within: float | None = None
    source = f"prior: {discordance:.0%} of problems flip between two one-sample runs"
    count = problems
    if from_run is not None:
        bench_run, run_problems, within, name = _from_run(
            from_run, common.results_dir(results_dir), score)
        bench = bench or bench_run
        count = count or run_problems
        if within is None:
            source += f" (run {from_run} has one sample per problem: no per-problem variance)"
        else:
            source = f"run {from_run}, {name}, per-problem pass rates"
    if bench is None:
        raise UsageError("say --bench (or --from RUN)")
    count = count or _problem_count(bench, None)
    if within is None:
        within = pw.within_from_prior(discordance)
    result = pw.plan(count, delta_pp, within=within, source=source, alpha=alpha, power=power,
                     tau_pp=tau_pp, samples_now=samples_now)
    for line in pw.explain(result, bench):
        click.echo(line)
