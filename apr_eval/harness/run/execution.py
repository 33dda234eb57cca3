"""The execute stage: programs -> sandbox -> verdicts appended to executions.jsonl.

Resumable per sample: programs that already have a verdict in the run directory are skipped,
and every verdict is appended (and fsynced) the moment it arrives, so a kill loses at most the
samples in flight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import Check, Execution, Problem, SampleKey, SandboxLimits, Verdict
from apr_eval.errors import UsageError
from apr_eval.harness.run.rundir import EXECUTIONS, RunDir, append_execution
from apr_eval.sandbox.executor import Executor

OnResult = Callable[[Execution], None]


@dataclass(frozen=True)
class Program:
    problem_id: str
    sample_index: int
    code: str

    @property
    def key(self) -> SampleKey:
        return SampleKey(self.problem_id, self.sample_index)


def pending(run: RunDir, programs: Sequence[Program],
            retry_infra_errors: bool = False) -> list[Program]:
    """Programs without a verdict (and, with ``retry_infra_errors``, those whose verdict is
    INFRA_ERROR: a later verdict supersedes it when the run directory is read)."""
    done = run.executions()
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


def execute(run: RunDir, benchmark: Benchmark, programs: Sequence[Program],
            executor: Executor, limits: SandboxLimits,
            on_result: OnResult | None = None, retry_infra_errors: bool = False) -> int:
    """Run every program that has no verdict yet. Returns how many were run."""
    todo = pending(run, programs, retry_infra_errors)
    if not todo:
        return 0
    checks = build_checks(benchmark, todo, limits)
    wanted = {p.key for p in todo}
    written = 0
    with run.open_append(EXECUTIONS) as f:
        for execution in executor.run(checks, limits):
            if execution.key not in wanted:
                continue  # never trust an executor to stay inside the request
            wanted.discard(execution.key)
            append_execution(f, execution)
            written += 1
            if on_result is not None:
                on_result(execution)
    return written
