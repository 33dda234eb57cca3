"""The execute stage: completions -> sandbox -> verdicts appended to executions.jsonl.

Resumable per sample: programs that already have a verdict in the run directory are skipped,
and every verdict is appended (and fsynced) the moment it arrives, so a kill loses at most the
samples in flight. ``executions.jsonl`` is read once per stage; the stage hands back what it
read plus what it appended (:class:`Executed`), so scoring need not read it again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import (
    Check,
    Completion,
    Execution,
    Problem,
    SampleKey,
    SandboxLimits,
    Verdict,
)
from apr_eval.errors import UsageError
from apr_eval.harness.run.manifest import with_image, with_key
from apr_eval.harness.run.progress import NullProgress, Progress, StageStats
from apr_eval.harness.run.rundir import EXECUTIONS, RunDir, add_execution, append_execution
from apr_eval.sandbox.executor import Executor

OnResult = Callable[[Execution], None]
Executions = dict[SampleKey, Execution]


@dataclass(frozen=True)
class Program:
    """One sample's code as the sandbox runs it (a run's completion, a canonical solution, or
    a sample read from a file made elsewhere, which keeps what the file held in ``raw``)."""

    problem_id: str
    sample_index: int
    code: str  # the full program to run
    raw: str = ""

    @property
    def key(self) -> SampleKey:
        return SampleKey(self.problem_id, self.sample_index)


@dataclass(frozen=True)
class Executed:
    """What the execute stage read and wrote, handed on so scoring reads no file again."""

    stats: StageStats
    executions: Executions  # the run's verdicts after the stage (as RunDir.executions reads)
    completions: dict[SampleKey, Completion]  # the run's completions, as read by the stage


def pending(done: Mapping[SampleKey, Execution], programs: Sequence[Program],
            retry_infra_errors: bool = False) -> list[Program]:
    """Programs without a verdict in ``done`` (and, with ``retry_infra_errors``, those whose
    verdict is INFRA_ERROR: a later verdict supersedes it when the run directory is read)."""
    if retry_infra_errors:
        done = {k: e for k, e in done.items() if e.verdict is not Verdict.INFRA_ERROR}
    return [p for p in programs if p.key not in done]


def build_checks(benchmark: Benchmark, programs: Sequence[Program],
                 limits: SandboxLimits) -> list[Check]:
    """The checks, each job carrying its problem's canonical solution as ``reference`` (for
    executors that measure limits in their own currency; Docker ignores it)."""
    problems = {p.problem_id: p for p in benchmark.load()}
    references: dict[str, str] = {}
    checks = []
    for p in programs:
        problem = problems[p.problem_id]
        check = benchmark.build_check(problem, p.code, p.sample_index, limits)
        if p.problem_id not in references:
            references[p.problem_id] = _reference(benchmark, problem)
        job = dataclasses.replace(check.job, reference=references[p.problem_id])
        checks.append(dataclasses.replace(check, job=job))
    return checks


def _reference(benchmark: Benchmark, problem: Problem) -> str:
    try:
        return benchmark.canonical_solution(problem)
    except UsageError:  # a benchmark without reference solutions (LiveCodeBench)
        return ""


def _run_checks(run: RunDir, benchmark: Benchmark, todo: Sequence[Program],
                executor: Executor, limits: SandboxLimits,
                on_result: OnResult | None) -> list[Execution]:
    """Run ``todo``, appending each verdict on arrival; returns the verdicts appended."""
    if not todo:
        return []
    checks = build_checks(benchmark, todo, limits)
    wanted = {p.key for p in todo}
    new: list[Execution] = []
    with run.open_append(EXECUTIONS) as f:
        for execution in executor.run(checks, limits):
            if execution.key not in wanted:
                continue  # never trust an executor to stay inside the request
            wanted.discard(execution.key)
            append_execution(f, execution)
            new.append(execution)
            if on_result is not None:
                on_result(execution)
    return new


def _merged(done: Mapping[SampleKey, Execution], new: Sequence[Execution]) -> Executions:
    """The run's verdicts after appending ``new``, as a fresh read would give them."""
    have = dict(done)
    for e in new:
        add_execution(have, e)
    return have


def execute(run: RunDir, benchmark: Benchmark, programs: Sequence[Program],
            executor: Executor, limits: SandboxLimits, on_result: OnResult | None = None,
            retry_infra_errors: bool = False) -> Executions:
    """Run every program that has no verdict yet (samples made elsewhere: ``evaluate``).
    Returns the run's verdicts after it; executions.jsonl is read once."""
    done = run.executions()
    todo = pending(done, programs, retry_infra_errors)
    return _merged(done, _run_checks(run, benchmark, todo, executor, limits, on_result))


def _stamp_image(run: RunDir, digest: str, executed_before: bool) -> None:
    """Record the executor's image in the manifest (one run's verdicts, one image)."""
    manifest = run.manifest()
    if not executed_before:
        manifest = dataclasses.replace(manifest, image_digest="")
    if manifest.image_digest != digest:
        run.write_manifest(with_key(with_image(manifest, digest)))


def execute_stage(run: RunDir, benchmark: Benchmark, problems: Sequence[Problem],
                  executor: Executor, limits: SandboxLimits, *,
                  progress: Progress | None = None, retry_infra_errors: bool = False,
                  record_image: bool = True) -> Executed:
    """Run every completion of ``problems`` that has no execution yet (and, with
    ``retry_infra_errors``, those whose verdict is INFRA_ERROR); each verdict is appended on
    arrival. ``record_image``: first check and record the executor's image in the manifest.
    Reads executions.jsonl once."""
    progress = progress or NullProgress()
    done = run.executions()
    if record_image:
        _stamp_image(run, executor.image_digest, bool(done))
    ids = {p.problem_id for p in problems}
    completions = run.completions()
    programs = [Program(c.problem_id, c.sample_index, c.code)
                for c in completions.values() if c.problem_id in ids]
    todo = pending(done, programs, retry_infra_errors)
    progress.start("execute", len(programs), len(programs) - len(todo))
    started = time.monotonic()
    new = _run_checks(run, benchmark, todo, executor, limits, progress.execution)
    if len(new) < len(todo):
        progress.note(f"{len(todo) - len(new)} sample(s) got no verdict from the "
                      f"'{executor.name}' executor; rerun to retry them")
    stats = StageStats(len(programs) - len(todo), len(new), len(programs),
                       seconds=time.monotonic() - started)
    return Executed(stats, _merged(done, new), completions)
