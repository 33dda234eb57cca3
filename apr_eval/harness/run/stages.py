"""The stages of a run, each resumable per sample from its run directory.

- :func:`generate`: samples without a completion -> ``completions.jsonl`` (per backend call).
- ``execution.execute_stage``: completions without an execution -> ``executions.jsonl`` (per
  verdict); it hands back the verdicts it read and appended, for :func:`score`.
- :func:`score`: executions -> ``scores.json``.
- :func:`ingest`: the run directory -> DuckDB (through the store's ingest callable).

Every stage only appends whole lines (``rundir``), so a kill at any point loses at most the
samples in flight, and a rerun does exactly the missing ones.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import (
    Completion,
    Execution,
    GenerationOutput,
    Problem,
    Prompt,
    PromptStyle,
    SampleKey,
    SamplingParams,
    Score,
)
from apr_eval.errors import AprEvalError, BackendError, UsageError
from apr_eval.harness.generation.backends.base import Backend, PartialGenerationError
from apr_eval.harness.run.execution import Executed
from apr_eval.harness.run.progress import NullProgress, Progress, StageStats
from apr_eval.harness.run.rundir import COMPLETIONS, RunDir, append_completion
from apr_eval.harness.run.truncation import run_truncation, with_truncation
from apr_eval.harness.scoring.score import score_run
from apr_eval.registry import Registry

Renderer = Callable[[Problem, PromptStyle], Prompt]
# (problem, prompt, raw text) -> the program the sandbox runs: the benchmark's extraction
# (``benchmarks.base.extract``), the only one, so there is no default here.
Extractor = Callable[[Problem, Prompt, str], str]


def prompt_renderer(benchmark: Benchmark, preset: str) -> Renderer:
    """The benchmark's own renderer; a non-default preset needs one that takes ``preset``."""
    if preset == "default":
        return benchmark.render_prompt
    if "preset" in inspect.signature(benchmark.render_prompt).parameters:
        def render(problem: Problem, style: PromptStyle) -> Prompt:
            return benchmark.render_prompt(problem, style, preset=preset)  # type: ignore[call-arg]
        return render
    raise UsageError(f"benchmark '{benchmark.name}' has no prompt presets (got '{preset}')")


# ------------------------------------------------------------------------------ generate


def missing_samples(run: RunDir, problems: Sequence[Problem], n: int) -> list[tuple[Problem,
                                                                                   list[int]]]:
    have = run.completions()
    out = []
    for p in problems:
        todo = [i for i in range(n) if SampleKey(p.problem_id, i) not in have]
        if todo:
            out.append((p, todo))
    return out


def _batches(todo: list[tuple[Problem, list[int]]],
             size: int) -> Iterator[list[tuple[Problem, list[int]]]]:
    for start in range(0, len(todo), size):
        yield todo[start: start + size]


def _call_backend(backend: Backend, prompts: list[Prompt], params: SamplingParams,
                  ) -> Iterator[tuple[int, list[GenerationOutput]]]:
    """``(prompt index, its outputs)`` as the backend finishes them: each one at once from a
    streaming backend (``generate_stream``), all at the end otherwise. On a failure part-way,
    the finished ones come first, then the error."""
    stream = getattr(backend, "generate_stream", None)
    given: set[int] = set()
    try:
        results = stream(prompts, params) if stream is not None else enumerate(
            backend.generate(prompts, params))
        for at, outs in results:
            if len(outs) != params.n or not 0 <= at < len(prompts) or at in given:
                raise BackendError(f"{backend.name} backend returned the wrong number of "
                                   "outputs")
            given.add(at)
            yield at, outs
    except PartialGenerationError as exc:
        yield from sorted((at, outs) for at, outs in exc.done.items() if at not in given)
        raise
    except AprEvalError:
        raise
    except Exception as exc:  # the backend boundary: any failure becomes one line
        raise BackendError(f"{backend.name} backend failed: {type(exc).__name__}: {exc}") from exc
    if len(given) != len(prompts):
        raise BackendError(f"{backend.name} backend returned the wrong number of outputs")


def generate(run: RunDir, problems: Sequence[Problem], backend: Backend, *,
             render: Renderer, style: PromptStyle, params: SamplingParams,
             extract: Extractor, batch_size: int = 1,
             progress: Progress | None = None) -> StageStats:
    """Generate every missing (problem, sample); completions are appended per problem as the
    backend finishes it. A streaming backend (``generate_stream``) gets every missing problem
    in one call (it batches across problems itself); others get ``batch_size`` per call.

    A problem is always asked for all ``n`` samples and sample ``i`` is always the ``i``-th
    output, so a seeded backend whose texts do not depend on batching gives the same text for
    it whether or not the run was interrupted (a problem cut between two of its lines is
    regenerated whole; only its missing samples are written)."""
    progress = progress or NullProgress()
    todo = missing_samples(run, problems, params.n)
    total = len(problems) * params.n
    missing = sum(len(idx) for _, idx in todo)
    progress.start("generate", total, total - missing)
    tokens, started, written = 0, time.monotonic(), 0
    size = len(todo) if hasattr(backend, "generate_stream") else batch_size
    with run.open_append(COMPLETIONS) as f:
        for batch in _batches(todo, max(1, size)):
            prompts = [render(p, style) for p, _ in batch]
            for at, outs in _call_backend(backend, prompts, params):
                (problem, indices), prompt = batch[at], prompts[at]
                for index in indices:
                    out = outs[index]
                    c = Completion(run_id=run.run_id, problem_id=problem.problem_id,
                                   sample_index=index, raw=out.text,
                                   code=extract(problem, prompt, out.text),
                                   finish_reason=out.finish_reason, tokens=out.tokens,
                                   latency_s=round(out.latency_s, 4))
                    append_completion(f, c)
                    tokens += out.tokens
                    written += 1
                    progress.completion(c)
    return StageStats(total - missing, written, total, tokens, time.monotonic() - started)


# --------------------------------------------------------------------------------- score


def score(run: RunDir, benchmark: Benchmark, problems: Sequence[str] = (), *,
          partial: bool = False, executed: Executed | None = None) -> list[Score]:
    """pass@k for every headline score, written to scores.json; refuses a run with unexecuted
    samples. ``partial``: score only the problems whose every sample has a verdict, and write
    nothing (a progress check on an unfinished run). ``executed``: the run's verdicts and
    completions as the execute stage handed them on (read from the run directory if not given)."""
    manifest = run.manifest()
    ids = set(problems or manifest.problems)
    n = manifest.sampling.n if manifest.sampling else 1
    given = run.executions() if executed is None else executed.executions
    completions = None if executed is None else executed.completions
    mine = {k: e for k, e in given.items() if k.problem_id in ids}
    per_problem: dict[str, int] = {}
    for k in mine:
        per_problem[k.problem_id] = per_problem.get(k.problem_id, 0) + 1
    if partial:
        mine = {k: e for k, e in mine.items() if per_problem[k.problem_id] >= n}
        return _scored(run, mine, benchmark, completions) if mine else []
    missing = len(ids) * n - len(mine)
    if missing > 0:
        raise UsageError(f"run '{run.run_id}' has {missing} sample(s) without a verdict; "
                         f"finish it first (apr-eval run / execute {run.path})")
    scores = _scored(run, mine, benchmark, completions)
    run.write_scores([dataclasses.asdict(s) for s in scores])
    return scores


def _scored(run: RunDir, executions: dict[SampleKey, Execution], benchmark: Benchmark,
            completions: Mapping[SampleKey, Completion] | None) -> list[Score]:
    """pass@k with the truncation counts of the same problems' completions."""
    scored = {k.problem_id for k in executions}
    return with_truncation(score_run(run.run_id, executions, benchmark),
                           run_truncation(run, scored, completions))


# -------------------------------------------------------------------------------- ingest


# (database, run directory) -> None: the store's writer, handed in by the caller (the CLI);
# library callers that pass none get the one registered under "duckdb".
IngestRun = Callable[[Path, Path], None]
INGESTERS: Registry[IngestRun] = Registry(
    "ingest", {"duckdb": "apr_eval.leaderboard.ingest:ingest_run"})


def ingest(run: RunDir, db_path: Path, ingest_run: IngestRun | None = None) -> bool:
    """Index the run in DuckDB (idempotent by run id). The run directory stays the source of
    truth; the index can always be rebuilt from it (``apr-eval ingest --rebuild``). False when
    no store is given and none is installed."""
    if ingest_run is None:
        try:
            ingest_run = INGESTERS.get("duckdb")
        except ModuleNotFoundError:
            return False
    ingest_run(db_path, run.path)
    return True
