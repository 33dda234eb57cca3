"""The Benchmark plug-in point and its registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from apr_eval.core import Check, Problem, Prompt, PromptStyle, SandboxLimits
from apr_eval.registry import Registry


@runtime_checkable
class Benchmark(Protocol):
    """One benchmark at one pinned data version.

    Every benchmark special case (MBPP+ set comparison, LCB stdout rules...) lives in the
    benchmark's own module, never in the executor.
    """

    name: str  # registry name: "humaneval", "mbpp", "livecodebench", ...
    version: str
    # Headline scores this benchmark reports, e.g. ("humaneval", "humaneval+"): the first is
    # scored from the group verdict named by ``score_groups[i]``.
    score_names: tuple[str, ...]

    @property
    def data_hash(self) -> str: ...

    def load(self) -> Sequence[Problem]: ...

    def render_prompt(self, problem: Problem, style: PromptStyle) -> Prompt: ...

    def build_check(self, problem: Problem, code: str, sample_index: int,
                    limits: SandboxLimits) -> Check: ...

    def canonical_solution(self, problem: Problem) -> str: ...

    def assemble(self, problem: Problem, completion: str) -> str:
        """The program to run for a completion (evalplus: prompt + completion)."""
        ...

    def passed(self, score_name: str, group_verdicts: dict[str, str]) -> bool:
        """Whether a sample counts as passed for one headline score."""
        ...


BENCHMARKS: Registry[type[Benchmark]] = Registry(
    "benchmark",
    {
        "humaneval": "apr_eval.benchmarks.humaneval:HumanEvalPlus",
        "mbpp": "apr_eval.benchmarks.mbpp:MbppPlus",
        "livecodebench": "apr_eval.benchmarks.livecodebench:LiveCodeBench",
    },
)


def open_benchmark(name: str, version: str | None = None, path: str | None = None,
                   **options: object) -> Benchmark:
    """Look ``name`` up in the registry and build it (unknown name -> "did you mean")."""
    cls = BENCHMARKS.get(name)
    return cls(version=version, path=path, **options)  # type: ignore[call-arg]
