"""Samples cut short: by the token limit (``finish_reason`` "length") or inside a reasoning
block that never closed (an empty program, see ``extract.reasoning_unclosed``).

A score that drops because answers got longer and hit ``max_tokens`` is not the same finding as
one that drops because answers got worse; the share is reported beside every score and
``compare`` flags runs whose shares differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from apr_eval.benchmarks.extract import reasoning_unclosed
from apr_eval.core import Completion, SampleKey, Score
from apr_eval.harness.run.rundir import RunDir

LENGTH = "length"  # the finish_reason of a generation stopped by max_tokens (every backend)
# compare flags truncation shares further apart than this (percentage points)
NOTE_THRESHOLD_PP = 3.0


@dataclass(frozen=True)
class Truncation:
    samples: int
    length: int  # stopped by max_tokens
    reasoning: int  # a <think> block never closed (a subset of failures, often of ``length``)

    @property
    def share(self) -> float:
        return self.length / self.samples if self.samples else 0.0


def count(completions: Iterable[Completion], opened: bool = False) -> Truncation:
    """``opened``: the run's prompt itself opened a reasoning block (manifest records it)."""
    samples = length = reasoning = 0
    for c in completions:
        samples += 1
        length += c.finish_reason == LENGTH
        reasoning += reasoning_unclosed(c.raw, opened)
    return Truncation(samples, length, reasoning)


def run_truncation(run: RunDir, problems: Collection[str] | None = None,
                   completions: Mapping[SampleKey, Completion] | None = None) -> Truncation:
    """Over the run's completions (of ``problems`` only, when given; ``completions``: as
    already read, else read here)."""
    info = run.manifest().extra.get("prompt")
    opened = bool(info.get("opens_reasoning")) if isinstance(info, dict) else False
    have = run.completions() if completions is None else completions
    return count((c for k, c in have.items()
                  if problems is None or k.problem_id in problems), opened)


def with_truncation(scores: Sequence[Score], t: Truncation) -> list[Score]:
    return [dataclasses.replace(s, truncated=t.length, truncated_reasoning=t.reasoning)
            for s in scores]


def truncation_note(a: Truncation, b: Truncation,
                    threshold_pp: float = NOTE_THRESHOLD_PP) -> str | None:
    """A compare note when the two runs' shares of samples cut by max_tokens differ by more
    than ``threshold_pp`` points: a "regression" that is really a longer answer hitting it."""
    gap = round(abs(a.share - b.share) * 100, 9)  # 5% - 2% is 3.0000000000000004 pp
    if gap <= threshold_pp:
        return None
    return (f"truncation differs: {a.length}/{a.samples} samples ({100 * a.share:.1f}%) of A "
            f"vs {b.length}/{b.samples} ({100 * b.share:.1f}%) of B stopped at max_tokens "
            f"({gap:.1f} pp apart, more than {threshold_pp:g}); part of the difference may be "
            "answers cut by the limit, not wrong ones")


def truncation_notes(run_a: RunDir, run_b: RunDir, problems: Collection[str]) -> list[str]:
    """The compare call site: both runs over the problems they share."""
    note = truncation_note(run_truncation(run_a, problems), run_truncation(run_b, problems))
    return [note] if note else []
