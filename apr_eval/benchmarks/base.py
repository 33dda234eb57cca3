"""The Benchmark plug-in point, its registry, and the rules every other layer asks it for.

A benchmark owns its score names, its pass rule (over :class:`Verdict`), its prompts and its
code extraction; the harness, the store and the leaderboard ask it (through the helpers here)
and never name one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from apr_eval.benchmarks.extract import extract_code
from apr_eval.core import (
    HEADLINE,
    Check,
    Problem,
    Prompt,
    PromptStyle,
    SandboxLimits,
    Verdict,
)
from apr_eval.errors import AprEvalError
from apr_eval.registry import Registry

# (score name, group verdicts + the headline verdict under HEADLINE) -> passed?
PassedFn = Callable[[str, Mapping[str, Verdict]], bool]


@runtime_checkable
class Benchmark(Protocol):
    """One benchmark at one pinned data version.

    Every benchmark special case (MBPP+ set comparison, LCB stdout rules...) lives in the
    benchmark's own module, never in the executor. Optional members, with the defaults the
    helpers below apply: ``render_prompt(..., preset=...)`` (prompt presets),
    ``extract_code(problem, prompt, raw)`` (default: :func:`extract.extract_code`),
    ``title`` (default: the name), ``averaged`` and ``dated`` (default: False).
    """

    name: str  # registry name
    version: str
    # Headline scores this benchmark reports, loosest first (its last is the strictest).
    score_names: tuple[str, ...]

    @property
    def data_hash(self) -> str: ...

    def load(self) -> Sequence[Problem]: ...

    def render_prompt(self, problem: Problem, style: PromptStyle) -> Prompt: ...

    def build_check(self, problem: Problem, code: str, sample_index: int,
                    limits: SandboxLimits) -> Check: ...

    def canonical_solution(self, problem: Problem) -> str: ...

    def assemble(self, problem: Problem, completion: str) -> str:
        """The program to run for a completion made elsewhere (evalplus: prompt + completion)."""
        ...

    def passed(self, score_name: str, group_verdicts: Mapping[str, Verdict]) -> bool:
        """Whether a sample counts as passed for one headline score (``group_verdicts`` holds
        each test group's verdict, and the sample's headline verdict under ``HEADLINE``)."""
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


def extract(benchmark: Benchmark, problem: Problem, prompt: Prompt, raw: str) -> str:
    """The program the sandbox runs for a model's raw text, by the benchmark's extraction."""
    own = getattr(benchmark, "extract_code", None)
    if own is not None:
        return str(own(problem, prompt, raw))
    return extract_code(raw, prompt, problem.entry_point)


# ------------------------------------------------------------------ the pass rule


def headline_passed(score_name: str, group_verdicts: Mapping[str, Verdict]) -> bool:
    """The rule for a benchmark that cannot be built here: the sample's headline verdict."""
    return group_verdicts.get(HEADLINE) == Verdict.PASSED


@dataclass(frozen=True)
class ScoreRule:
    """A benchmark's headline score names and its pass rule."""

    names: tuple[str, ...]
    passed: PassedFn

    def counts(self, score_name: str, verdicts: Sequence[Mapping[str, Verdict]]) -> int:
        """How many samples (each its group verdicts + headline) pass ``score_name``."""
        return sum(bool(self.passed(score_name, v)) for v in verdicts)


def score_rule(name: str, version: str | None = None) -> ScoreRule:
    """The benchmark's own rule: from its class when ``passed`` is a classmethod (no data
    needed, any version), else from the benchmark built here; a benchmark that cannot be
    found or built is judged by the sample's headline verdict."""
    try:
        cls = BENCHMARKS.get(name)
        if isinstance(inspect.getattr_static(cls, "passed", None), classmethod):
            passed: PassedFn = getattr(cls, "passed")  # bound to the class  # noqa: B009
            return ScoreRule(tuple(cls.score_names), passed)
        bench = cls(version=version or None, path=None)  # type: ignore[call-arg]
        return ScoreRule(tuple(bench.score_names), bench.passed)
    except (ImportError, AprEvalError, TypeError, OSError, ValueError, KeyError,
            AttributeError):
        return ScoreRule((name,), headline_passed)


# ------------------------------------------------------------------ how the leaderboard shows it


@dataclass(frozen=True)
class Layout:
    """The leaderboard's tables, from the registered benchmarks' own declarations."""

    families: dict[str, tuple[str, ...]]  # title -> score names, scored over all problems
    dated: tuple[str, ...]  # headline scores recomputed per release-date window
    dated_titles: tuple[str, ...]
    average_of: tuple[str, ...]  # the strictest score of each averaged benchmark, dated last


def leaderboard_layout() -> Layout:
    families: dict[str, tuple[str, ...]] = {}
    dated: list[str] = []
    titles: list[str] = []
    fixed: list[str] = []
    moving: list[str] = []
    for name in BENCHMARKS.names():
        try:
            cls = BENCHMARKS.get(name)
        except (ImportError, AprEvalError, AttributeError):
            continue  # a plug-in that does not import here is not shown
        title = str(getattr(cls, "title", name))
        names = tuple(cls.score_names)
        if getattr(cls, "dated", False):
            dated.append(names[0])
            titles.append(title)
        else:
            families[title] = names
        if getattr(cls, "averaged", False):
            (moving if getattr(cls, "dated", False) else fixed).append(names[-1])
    return Layout(families, tuple(dated), tuple(titles), (*fixed, *moving))
