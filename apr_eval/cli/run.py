"""``apr-eval run`` (the main job), and its stages ``generate``, ``execute``, ``score``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from apr_eval.cli import common
from apr_eval.cli.common import (
    limits_from,
    sandbox_options,
    store_ingest_run,
    truncation_line,
)
from apr_eval.cli.progress import RichProgress
from apr_eval.core import Problem, PromptStyle, RunSpec, SamplingParams, Score
from apr_eval.errors import UsageError
from apr_eval.harness.run import execution, pipeline, stages
from apr_eval.harness.run.rundir import RunDir

DEFAULT_MODEL = "qwen2.5-coder-0.5b"

_SPEC_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--model", default=DEFAULT_MODEL, show_default=True,
                 help="GGUF path, alias, or the backend's model name."),
    click.option("--bench", "--benchmark", "bench", default="humaneval", show_default=True,
                 help="humaneval, mbpp, livecodebench."),
    click.option("--bench-version", "--version", "bench_version", default=None,
                 help="Benchmark data version, e.g. v0.1.9 or 0.1.9 (default: pinned)."),
    click.option("--backend", default="llamacpp", show_default=True,
                 help="llamacpp, vllm, openai, fake."),
    click.option("--backend-option", "backend_options", multiple=True, metavar="KEY=VALUE",
                 help="Backend option (repeatable); VALUE is parsed as JSON when it can be."),
    click.option("--n-samples", default=1, show_default=True, type=click.IntRange(min=1)),
    click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0)),
    click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(0, 1)),
    click.option("--max-tokens", default=768, show_default=True, type=click.IntRange(min=1)),
    click.option("--seed", default=0, show_default=True, type=int),
    click.option("--limit", default=None, type=click.IntRange(min=1), help="First N problems."),
    click.option("--problems", default=None, help="Comma-separated problem ids."),
    click.option("--prompt-style", type=click.Choice([s.value for s in PromptStyle]),
                 default=None, help="Default: chat iff the model has a chat template."),
    click.option("--prompt-preset", default="default", show_default=True,
                 help="Built-in preset name or a preset .json file."),
    click.option("--run-id", default=None, help="Default: derived from the options (so the "
                 "same command resumes the same run)."),
    click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), default=None,
                 help="Declared training cutoff of the model (YYYY-MM-DD)."),
    click.option("--gen-batch-size", default=1, show_default=True, type=click.IntRange(min=1),
                 help="Problems per backend call (completions are saved per call)."),
    click.option("--executor", "executor_name", default="docker", show_default=True,
                 help="docker or fake."),
    click.option("--results-dir", type=click.Path(path_type=Path), default=None,
                 help="Default: $APR_EVAL_RESULTS or ./results."),
    click.option("--dry-run", is_flag=True, help="Use the fake backend (no model)."),
]


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SPEC_OPTIONS):
        fn = option(fn)
    return sandbox_options(fn)


def parse_backend_options(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--backend-option expects KEY=VALUE, got '{item}'")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def build_spec(opts: dict[str, Any]) -> RunSpec:
    limits = limits_from(opts["workers"], opts["batch_size"], opts["strict"], opts["memory_mb"])
    cutoff: datetime | None = opts.get("cutoff")
    problems = tuple(p.strip() for p in (opts.get("problems") or "").split(",") if p.strip())
    dry = bool(opts.get("dry_run"))
    return RunSpec(
        model="fake" if dry and opts["model"] == DEFAULT_MODEL else opts["model"],
        benchmark=opts["bench"],
        benchmark_version=opts.get("bench_version"),
        backend="fake" if dry else opts["backend"],
        backend_options=parse_backend_options(opts.get("backend_options") or ()),
        sampling=SamplingParams(n=opts["n_samples"], temperature=opts["temperature"],
                                top_p=opts["top_p"], max_tokens=opts["max_tokens"],
                                seed=opts["seed"]),
        prompt_style=PromptStyle(opts["prompt_style"]) if opts.get("prompt_style") else None,
        prompt_preset=opts["prompt_preset"],
        limits=limits,
        run_id=opts.get("run_id"),
        cutoff=cutoff.date() if cutoff else None,
        problems=problems,
        limit=opts.get("limit"),
        batch_size=opts.get("gen_batch_size") or 1,
        executor=opts["executor_name"],
    )


def _echo_scores(scores: tuple[Score, ...] | list[Score]) -> None:
    for s in scores:
        click.echo(f"  {s.benchmark:<12} pass@{s.k:<3} {s.pass_at_k:.4f}  "
                   f"[{s.ci_low:.4f}, {s.ci_high:.4f}]  ({s.problems} problems, "
                   f"{s.samples} samples{f', {s.excluded} infra errors' if s.excluded else ''})")
    if scores:
        click.echo(f"  {truncation_line(scores[0])}")


def _write_outputs(run: RunDir, evalplus_out: Path | None, lcb_out: Path | None) -> None:
    """evalplus's eval_results.json / lcb_runner's eval_all shapes, by the shared writers."""
    if evalplus_out is None and lcb_out is None:
        return
    _, benchmark, _ = _run_context(run)
    if evalplus_out is not None:
        from apr_eval.cli.evaluate import _evalplus_out

        _evalplus_out(evalplus_out, benchmark, run)
        click.echo(f"evalplus-format results: {evalplus_out}")
    if lcb_out is not None:
        from apr_eval.harness.interop.lcb_out import write_lcb_out

        write_lcb_out(lcb_out, benchmark, run)
        click.echo(f"LiveCodeBench-format results: {lcb_out}")


@click.command()
@spec_options
@click.option("--evalplus-out", type=click.Path(path_type=Path), default=None,
              help="Also write evalplus's eval_results.json format here.")
@click.option("--lcb-out", type=click.Path(path_type=Path), default=None,
              help="Also write LiveCodeBench's eval_all format here.")
@click.option("--no-ingest", is_flag=True, help="Do not index the run in DuckDB.")
def run(evalplus_out: Path | None, lcb_out: Path | None, no_ingest: bool,
        **opts: Any) -> None:
    """Generate, execute, score and store one run (resumable: rerun the same command)."""
    spec = build_spec(opts)
    results = common.results_dir(opts.get("results_dir"))
    db = None if no_ingest else results / "apr-eval.duckdb"
    executor = pipeline.open_executor(spec.executor)
    with RichProgress() as progress:
        result = pipeline.run_pipeline(spec, executor=executor, results_dir=results,
                                       progress=progress, db_path=db,
                                       ingest_run=store_ingest_run())
    click.echo(f"run id: {result.run.run_id}")
    _echo_scores(result.scores)
    if result.generation is not None and result.generation.seconds > 0:
        g = result.generation
        click.echo(f"generation: {g.done_now} sample(s), {g.tokens} tokens in "
                   f"{g.seconds:.1f}s ({g.tokens_per_s:.1f} tok/s)")
    click.echo(f"results: {result.run.path}/ (scores.json, completions.jsonl, "
               "executions.jsonl, manifest.json)")
    if result.ingested and db is not None:
        click.echo(f"database: {db}")
    elif db is not None:
        click.echo("database: not updated (the store is not installed in this checkout)")
    _write_outputs(result.run, evalplus_out, lcb_out)


@click.command()
@spec_options
def generate(**opts: Any) -> None:
    """Only generate completions into a run directory (resumable)."""
    spec = build_spec(opts)
    results = common.results_dir(opts.get("results_dir"))
    run_dir, benchmark, problems, backend = pipeline.prepare(spec, results)
    with RichProgress() as progress:
        progress.note(f"run id: {run_dir.run_id} ({run_dir.path})")
        _, stats = pipeline.generate_stage(spec, run_dir, benchmark, problems, backend=backend,
                                           progress=progress)
    click.echo(f"run id: {run_dir.run_id}")
    if stats is not None:
        click.echo(f"generated {stats.done_now} sample(s), {stats.tokens} tokens, "
                   f"{stats.tokens_per_s:.1f} tok/s")
    click.echo(f"completions: {run_dir.path / 'completions.jsonl'}")


def open_run(run_ref: str, results_dir: Path | None) -> RunDir:
    path = Path(run_ref)
    run_dir = RunDir(path if (path / "manifest.json").exists()
                     else common.results_dir(results_dir) / run_ref)
    run_dir.manifest()  # a clear error when it is not a run directory
    return run_dir


def _run_context(run_dir: RunDir) -> tuple[RunSpec | None, Any, list[Problem]]:
    manifest = run_dir.manifest()
    spec = pipeline.existing_spec(run_dir)
    if spec is not None:
        benchmark = pipeline.open_spec_benchmark(spec)
    else:
        from apr_eval.benchmarks.base import open_benchmark
        benchmark = open_benchmark(manifest.benchmark, manifest.benchmark_version)
    problems = pipeline.select_problems(benchmark.load(), manifest.problems)
    return spec, benchmark, problems


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--executor", "executor_name", default="docker", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Containers running at once (default: as the run was made).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Samples per container (default: as the run was made).")
@click.option("--results-dir", type=click.Path(path_type=Path), default=None)
@click.option("--retry-infra-errors", is_flag=True,
              help="Run again the samples whose verdict is INFRA_ERROR (the new verdict wins).")
def execute(run_ref: str, executor_name: str, workers: int | None, batch_size: int | None,
            results_dir: Path | None, retry_infra_errors: bool) -> None:
    """Execute a run's completions that have no verdict yet (resumable). Verdict-changing
    limits (memory, time factors) always come from the run's manifest."""
    run_dir = open_run(run_ref, results_dir)
    spec, benchmark, problems = _run_context(run_dir)
    manifest = run_dir.manifest()
    spec = spec or RunSpec(model=manifest.model.name, benchmark=manifest.benchmark)
    limits = replace(spec.limits, workers=workers or spec.limits.workers,
                     batch_size=batch_size or spec.limits.batch_size)
    spec = replace(spec, limits=limits)
    executor = pipeline.open_executor(executor_name)
    with RichProgress() as progress:
        stats = execution.execute_stage(run_dir, benchmark, problems, executor, spec.limits,
                                        progress=progress,
                                        retry_infra_errors=retry_infra_errors).stats
    click.echo(f"run id: {run_dir.run_id}: executed {stats.done_now} sample(s), "
               f"{stats.done_before + stats.done_now}/{stats.total} done")


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--results-dir", type=click.Path(path_type=Path), default=None)
@click.option("--partial", is_flag=True, help="Score the problems finished so far (printed, "
              "not written).")
def score(run_ref: str, results_dir: Path | None, partial: bool) -> None:
    """Score a fully executed run into its scores.json and print pass@k."""
    run_dir = open_run(run_ref, results_dir)
    _, benchmark, problems = _run_context(run_dir)
    scores = stages.score(run_dir, benchmark, [p.problem_id for p in problems], partial=partial)
    click.echo(f"run id: {run_dir.run_id}")
    if partial:
        click.echo(f"partial: {scores[0].problems if scores else 0} of {len(problems)} problems "
                   "finished (not written)")
    _echo_scores(scores)
    if not partial:
        click.echo(f"scores: {run_dir.path / 'scores.json'}")
