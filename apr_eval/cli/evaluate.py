"""``apr-eval evaluate`` (samples made elsewhere) and ``apr-eval selfcheck``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from apr_eval.benchmarks import evalplus_outputs as outputs
from apr_eval.benchmarks.base import BENCHMARKS, Benchmark, open_benchmark
from apr_eval.cli.common import (
    console,
    execution_progress,
    limits_from,
    results_dir,
    sandbox_options,
    score_table,
    stdout,
)
from apr_eval.core import DateWindow
from apr_eval.errors import SandboxUnavailable, UsageError
from apr_eval.harness.interop.evaluate import EvaluateRequest
from apr_eval.harness.interop.evaluate import evaluate as run_evaluate
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.run.selfcheck import last_selfcheck, run_selfcheck
from apr_eval.harness.scoring.window import window_report
from apr_eval.sandbox.executor import EXECUTORS, Executor
from apr_eval.settings import load_settings


def make_executor(name: str, ray_address: str | None = None) -> Executor:
    if ray_address is not None:  # --ray-address (ray branch); otherwise APR_EVAL_RAY_ADDRESS
        if name != "ray":
            raise UsageError("--ray-address needs --executor ray")
        from apr_eval.sandbox.ray_executor import RayExecutor

        return RayExecutor(address=ray_address)
    cls = EXECUTORS.get(name)
    return cls()


def _ingest(db: Path, run: RunDir) -> str:
    from apr_eval.harness.run.stages import ingest
    from apr_eval.leaderboard.ingest import ingest_run

    ingest(run, db, ingest_run)
    return str(db)


def _evalplus_out(path: Path, benchmark: Benchmark, run: RunDir) -> None:
    serialize = None
    if benchmark.name == "mbpp":
        from evalplus.data.mbpp import mbpp_serialize_inputs

        serialize = mbpp_serialize_inputs
    execs = run.executions()
    solutions = {k: c.code for k, c in run.completions().items()}
    outputs.write_json(path, outputs.evalplus_results(benchmark.data_hash, execs, solutions,
                                                      serialize))


def _window_line(benchmark: Benchmark, run: RunDir, req: EvaluateRequest) -> None:
    window = getattr(benchmark, "window", None)
    if not isinstance(window, DateWindow):
        return
    problems = len({k.problem_id for k in run.executions()})
    report = window_report(window, problems, req.cutoff)
    start, end = window.as_strings()
    mark = " [bold red]possibly contaminated[/]" if report.contaminated else ""
    stdout.print(f"window {start or '…'} – {end or '…'}: {problems} problems, model cutoff "
                 f"{req.cutoff or 'not declared'}{mark}")


@click.command()
@click.option("--bench", required=True, help=f"One of: {', '.join(BENCHMARKS.names())}.")
@click.option("--version", "version", help="Dataset version (default: the benchmark's).")
@click.option("--data-file", type=click.Path(), help="Your own dataset file (or LCB folder).")
@click.option("--samples", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="evalplus JSONL (task_id + completion/solution) or lcb_runner JSON.")
@click.option("--run-id", help="Name of the run directory (reuse it to resume).")
@click.option("--model-name", help="Model name to record (default: the samples file name).")
@click.option("--results", "results", help="Results directory (default: ./results).")
@click.option("--evalplus-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write evalplus's eval_results.json shape here.")
@click.option("--lcb-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write lcb_runner's eval_all shape here (LiveCodeBench).")
@click.option("--allow-missing", is_flag=True, help="Score only the tasks present.")
@click.option("--executor", "executor_name", default="docker", show_default=True)
@click.option("--ray-address", help="--executor ray: the Ray cluster (default: "
              "$APR_EVAL_RAY_ADDRESS, else a local Ray).")
@click.option("--start-date", help="LiveCodeBench: first release date (YYYY-MM-DD).")
@click.option("--end-date", help="LiveCodeBench: last release date (YYYY-MM-DD).")
@click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]),
              help="The model's declared training cutoff (contamination mark).")
@sandbox_options
def evaluate(bench: str, version: str | None, data_file: str | None, samples: Path,
             run_id: str | None, model_name: str | None, results: str | None,
             evalplus_out: Path | None, lcb_out: Path | None, allow_missing: bool,
             executor_name: str, ray_address: str | None, start_date: str | None,
             end_date: str | None, cutoff: datetime | None, workers: int, batch_size: int,
             strict: bool, memory_mb: int) -> None:
    """Evaluate samples made elsewhere; print base and plus pass@k."""
    options = {k: v for k, v in (("start_date", start_date), ("end_date", end_date)) if v}
    benchmark = open_benchmark(bench, version, data_file, **options)
    limits = limits_from(workers, batch_size, strict, memory_mb)
    executor = make_executor(executor_name, ray_address)
    req = EvaluateRequest(benchmark, samples, results_dir(results), limits, run_id,
                          model_name, allow_missing, cutoff.date() if cutoff else None)
    from apr_eval.harness.interop.evaluate import load_samples

    total = len(load_samples(benchmark, samples, allow_missing))
    with execution_progress(total) as on_result:
        run, scores = run_evaluate(req, executor, on_result)
    stdout.print(score_table(f"{benchmark.name} {benchmark.version} — run {run.run_id}",
                             scores))
    _window_line(benchmark, run, req)
    check = last_selfcheck(benchmark, executor.image_digest, load_settings().cache_dir)
    if getattr(benchmark, "has_canonical", True) and (check is None or not check.valid):
        console.print("[yellow]ground truth not verified in this sandbox: run "
                      f"`apr-eval selfcheck --bench {bench}` before trusting these numbers")
    if evalplus_out:
        _evalplus_out(evalplus_out, benchmark, run)
    if lcb_out:
        from apr_eval.harness.interop.lcb_out import write_lcb_out

        write_lcb_out(lcb_out, benchmark, run)
    db = _ingest(load_settings().db_path if results is None else Path(results) /
                 "apr-eval.duckdb", run)
    click.echo(f"run {run.run_id}: verdicts in {run.path}, DuckDB {db}")


@click.command()
@click.option("--bench", required=True, help=f"One of: {', '.join(BENCHMARKS.names())}.")
@click.option("--version", "version", help="Dataset version (default: the benchmark's).")
@click.option("--executor", "executor_name", default="docker", show_default=True)
@sandbox_options
def selfcheck(bench: str, version: str | None, executor_name: str, workers: int,
              batch_size: int, strict: bool, memory_mb: int) -> None:
    """Run every canonical solution through the sandbox; exit 1 below 100%."""
    benchmark = open_benchmark(bench, version)
    limits = limits_from(workers, batch_size, strict, memory_mb)
    executor = make_executor(executor_name)
    with execution_progress(len(benchmark.load()), "selfcheck") as on_result:
        check = run_selfcheck(benchmark, executor, limits, load_settings().cache_dir, on_result)
    click.echo(f"{bench} {benchmark.version}: ground truth {check.passed}/{check.total} "
               f"= {100 * check.rate:.1f}% in image {executor.image_digest[:19]}")
    for failure in check.failures[:20]:
        click.echo(f"  {failure}")
    if not check.valid:
        raise SandboxUnavailable("ground-truth pass rate below 100%: do not trust runs "
                                 "on this machine until it is fixed")
