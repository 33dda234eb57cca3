"""The main job as a library: ``run_pipeline(spec, executor=...)``.

generate -> execute -> score -> ingest, each resumable per sample from the run directory.
Generation finishes (and the model is unloaded) before the sandbox starts, so the two never
compete for the same cores. ``apr-eval run`` and ``apr-eval nightly`` both call this.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apr_eval.benchmarks.base import Benchmark, extract, open_benchmark
from apr_eval.benchmarks.extract import prompt_opens_reasoning
from apr_eval.benchmarks.prompts import choose_style, preset_record
from apr_eval.core import (
    Problem,
    Prompt,
    PromptStyle,
    RunManifest,
    RunSpec,
    Score,
    spec_digest,
    validate_run_id,
)
from apr_eval.errors import UsageError
from apr_eval.harness.generation.backends.base import BACKENDS, Backend, decoding
from apr_eval.harness.run.execution import execute_stage
from apr_eval.harness.run.manifest import build_manifest, check_same_run
from apr_eval.harness.run.progress import NullProgress, Progress, StageStats
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.run.stages import (
    IngestRun,
    generate,
    ingest,
    missing_samples,
    prompt_renderer,
    score,
)
from apr_eval.sandbox.executor import EXECUTORS, Executor

BackendFactory = Callable[[RunSpec], Backend]


@dataclass(frozen=True)
class RunResult:
    run: RunDir
    manifest: RunManifest
    scores: tuple[Score, ...]
    generation: StageStats | None  # None: nothing was left to generate (model not loaded)
    execution: StageStats
    ingested: bool


def _missing_module(kind: str, name: str, exc: ModuleNotFoundError) -> UsageError:
    if exc.name and exc.name.startswith("apr_eval"):
        return UsageError(f"the {kind} '{name}' is not available in this checkout ({exc.name})")
    return UsageError(f"the {kind} '{name}' needs the package '{exc.name}': "
                      f"pip install 'apr-eval[{name}]'")


def open_backend(spec: RunSpec) -> Backend:
    """The spec's backend through the registry (unknown name -> "did you mean"); options are
    validated now, the model is only loaded when the backend is entered."""
    try:
        cls = BACKENDS.get(spec.backend)
    except ModuleNotFoundError as exc:
        raise _missing_module("backend", spec.backend, exc) from None
    return cls.from_options(spec.model, spec.backend_options)


def open_executor(name: str) -> Executor:
    try:
        cls = EXECUTORS.get(name)
    except ModuleNotFoundError as exc:
        raise _missing_module("executor", name, exc) from None
    return cls()


def open_spec_benchmark(spec: RunSpec) -> Benchmark:
    return open_benchmark(spec.benchmark, spec.benchmark_version, **spec.benchmark_options)


def select_problems(all_problems: Sequence[Problem], ids: Sequence[str] = (),
                    limit: int | None = None) -> list[Problem]:
    """``--problems`` (in the order given) then ``--limit N`` (the first N)."""
    problems = list(all_problems)
    if ids:
        by_id = {p.problem_id: p for p in problems}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            hint = f" (ids look like '{problems[0].problem_id}')" if problems else ""
            raise UsageError(f"unknown problem id(s): {', '.join(unknown[:5])}{hint}")
        problems = [by_id[i] for i in dict.fromkeys(ids)]
    if limit is not None:
        if limit < 1:
            raise UsageError("--limit must be at least 1")
        problems = problems[:limit]
    return problems


def run_dir_for(spec: RunSpec, results_dir: Path) -> RunDir:
    return RunDir(results_dir / validate_run_id(spec.resolved_run_id()))


def existing_spec(run: RunDir) -> RunSpec | None:
    """The spec a run directory was created with (None for imported runs)."""
    if not run.exists():
        return None
    return run.manifest().spec


def _check_spec(run: RunDir, spec: RunSpec) -> None:
    old = existing_spec(run)
    if old is not None and spec_digest(old) != spec_digest(spec):
        raise UsageError(f"run '{run.run_id}' already exists with different options; "
                         "pick another --run-id (or rerun with the original options)")


def check_prompts(spec: RunSpec, benchmark: Benchmark, problems: list[Problem]) -> None:
    """Fail on a bad preset/style before anything runs (renders the first problem)."""
    render = prompt_renderer(benchmark, spec.prompt_preset)
    for style in ([spec.prompt_style] if spec.prompt_style else list(PromptStyle)):
        render(problems[0], style)


def prompt_info(preset: str, benchmark: str, example: Prompt) -> dict[str, Any]:
    """What the manifest records of the prompt: the preset file's digest and few-shot ids
    (non-default presets), and whether the prompt opens a reasoning block itself."""
    info = preset_record(preset, benchmark) if preset != "default" else {}
    return {**info, "opens_reasoning": prompt_opens_reasoning(example)}


def generate_stage(spec: RunSpec, run: RunDir, benchmark: Benchmark, problems: list[Problem],
                   *, backend: Backend,
                   progress: Progress) -> tuple[RunManifest, StageStats | None]:
    """Write the manifest (first time) and every missing completion. The model is only loaded
    (``backend`` entered) when something is missing, and unloaded before this returns."""
    render = prompt_renderer(benchmark, spec.prompt_preset)
    if run.exists() and not missing_samples(run, problems, spec.sampling.n):
        return run.manifest(), None
    with backend:
        style = (PromptStyle(run.manifest().prompt_style) if run.exists()
                 else choose_style(spec.prompt_style, backend.has_chat_template()))
        manifest = build_manifest(
            spec, run.run_id, benchmark_name=benchmark.name,
            benchmark_version=benchmark.version, data_hash=benchmark.data_hash,
            problems=problems, model=backend.model_info(), style=style,
            prompt_info=prompt_info(spec.prompt_preset, benchmark.name,
                                    render(problems[0], style)),
            decoding=decoding(backend))
        if run.exists():
            old = run.manifest()
            check_same_run(old, manifest)
            manifest = old
        else:
            run.write_manifest(manifest)
        stats = generate(run, problems, backend, render=render, style=style,
                         params=spec.sampling, batch_size=spec.batch_size, progress=progress,
                         extract=functools.partial(extract, benchmark))
    return manifest, stats


def prepare(spec: RunSpec, results_dir: Path, backend_factory: BackendFactory = open_backend,
            ) -> tuple[RunDir, Benchmark, list[Problem], Backend]:
    """Resolve and validate a spec: run directory, benchmark, problems, backend (not loaded)."""
    run = run_dir_for(spec, results_dir)
    benchmark = open_spec_benchmark(spec)
    problems = select_problems(benchmark.load(), spec.problems, spec.limit)
    if not problems:
        raise UsageError(f"benchmark '{spec.benchmark}' has no problems to run")
    _check_spec(run, spec)
    check_prompts(spec, benchmark, problems)
    return run, benchmark, problems, backend_factory(spec)


def run_pipeline(spec: RunSpec, *, executor: Executor, results_dir: Path,
                 backend_factory: BackendFactory = open_backend,
                 progress: Progress | None = None, db_path: Path | None = None,
                 ingest_run: IngestRun | None = None) -> RunResult:
    """Generate, execute, score and (when ``db_path`` is given) ingest one run; resumable.
    Everything checkable without a model (names, options, presets, problem ids) is checked
    before anything runs."""
    progress = progress or NullProgress()
    run, benchmark, problems, backend = prepare(spec, results_dir, backend_factory)
    progress.note(f"run id: {run.run_id} ({run.path})")
    _, gen = generate_stage(spec, run, benchmark, problems, backend=backend, progress=progress)
    exe = execute_stage(run, benchmark, problems, executor, spec.limits, progress=progress)
    scores = score(run, benchmark, [p.problem_id for p in problems], executed=exe)
    ingested = ingest(run, db_path, ingest_run) if db_path is not None else False
    return RunResult(run, run.manifest(), tuple(scores), gen, exe.stats, ingested)
