"""Frozen records and enums that every layer of apr-eval speaks: verdicts, problems, prompts,
samples, and what crosses the sandbox boundary.

No I/O and no third-party imports here: this module is the shared vocabulary between
benchmarks, backends, the sandbox, scoring and the store.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any


class Verdict(enum.StrEnum):
    """The outcome of one sample (or one test group of a sample). Exactly one per sample."""

    PASSED = "passed"
    FAILED = "failed"  # ran to completion, wrong output
    ERROR = "error"  # raised, failed to load, or died before reporting
    TIMEOUT = "timeout"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    INFRA_ERROR = "infra_error"  # the harness failed, not the sample; still counted

    @property
    def passed(self) -> bool:
        return self is Verdict.PASSED


# The key under which a sample's headline verdict sits beside its test groups' verdicts when a
# benchmark's pass rule is asked (``Benchmark.passed``).
HEADLINE = ""


class PromptStyle(enum.StrEnum):
    COMPLETION = "completion"  # base models: raw continuation of the prompt
    CHAT = "chat"  # instruct models: chat messages through the model's template


class ExecMode(enum.StrEnum):
    """How the in-container runner drives a program."""

    FUNCTION = "function"  # call entry point (``f`` or ``Class.method``) with argument lists
    STDIO = "stdio"  # run the program as ``__main__`` with stdin text, capture stdout


class OutcomeKind(enum.StrEnum):
    """What happened to one input inside the sandbox (reported, never trusted as a verdict)."""

    RETURNED = "returned"
    RAISED = "raised"
    TIMED_OUT = "timed_out"


class GroupEnd(enum.StrEnum):
    """How the process that ran one test group ended, as observed by the runner/host."""

    COMPLETED = "completed"  # every input reported
    LOAD_ERROR = "load_error"  # the program failed to import / define the entry point
    STOPPED = "stopped"  # stopped early after a raised/timed-out input (fast check)
    TIMEOUT = "timeout"  # group wall-clock deadline hit, killed
    OUTPUT_LIMIT = "output_limit"
    KILLED = "killed"  # killed by a signal nobody in the harness sent (usually OOM)
    CRASHED = "crashed"  # exited before reporting every input (os._exit, segfault, ...)
    OOM = "oom"  # decided on the host from the engine's OOMKilled flag
    LOST = "lost"  # the container went away; no record for this group


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class Problem:
    benchmark: str
    version: str
    problem_id: str
    prompt: str
    entry_point: str
    release_date: date | None = None
    difficulty: str | None = None
    starter_code: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prompt:
    style: PromptStyle
    text: str = ""
    messages: tuple[ChatMessage, ...] = ()
    stop: tuple[str, ...] = ()
    # Text the model's answer continues (completion style); kept to rebuild the full program.
    prefix: str = ""
    # Named extraction steps the prompt's preset asks for (apr_eval.benchmarks.extract.STEPS).
    extract: tuple[str, ...] = ()


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 768
    seed: int = 0


@dataclass(frozen=True)
class GenerationOutput:
    text: str
    finish_reason: str = "stop"
    tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class Completion:
    run_id: str
    problem_id: str
    sample_index: int
    raw: str
    code: str
    finish_reason: str = "stop"
    tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class SampleKey:
    problem_id: str
    sample_index: int


@dataclass(frozen=True)
class TestGroup:
    """Inputs run together in one fresh process (evalplus: ``base`` and ``plus``)."""

    name: str
    inputs: tuple[Any, ...]
    time_limits: tuple[float, ...]
    # The whole group's wall-clock budget inside the sandbox (seconds).
    deadline_s: float = 0.0
    # >0: the group is compared by exact equality only, so outputs whose encoding is longer
    # than this many bytes may be reported as canonical digests (codec.digest).
    digest_over: int = 0
    # >0: an output that weighs more than this (codec.weight) cannot equal any expected output
    # of the group; the runner reports it as oversized instead of walking it. 0: no such cap.
    max_weight: int = 0
    # The canonical solution's CPU seconds per input, where known (see doubtful_timeout).
    reference_times: tuple[float, ...] = ()
    # The reference consumes each output as an iterable (evalplus: ``set(out)``): the runner
    # turns a lazy output (generator, map...) into a list of its elements (guard.consumed).
    iterate_outputs: bool = False

    def budget(self) -> float:
        return self.deadline_s or (sum(self.time_limits) + 1.0)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    value: Any = None  # decoded return value (FUNCTION) or stdout text (STDIO)
    error: str = ""  # exception type name for RAISED
    duration_s: float = 0.0


@dataclass(frozen=True)
class GroupResult:
    name: str
    outcomes: tuple[Outcome, ...]
    end: GroupEnd
    detail: str = ""  # load error / signal / stderr tail, for humans only


@dataclass(frozen=True)
class FailingTest:
    group: str
    index: int
    input: Any = None
    expected: Any = None
    got: Any = None
    reason: str = ""


@dataclass(frozen=True)
class Execution:
    problem_id: str
    sample_index: int
    verdict: Verdict  # the headline verdict (evalplus: base AND plus)
    group_verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    failing: FailingTest | None = None
    duration_s: float = 0.0
    detail: str = ""

    @property
    def key(self) -> SampleKey:
        return SampleKey(self.problem_id, self.sample_index)

    def rule_verdicts(self) -> dict[str, Verdict]:
        """Its test groups' verdicts and, under ``HEADLINE``, its own: what a pass rule reads."""
        return {HEADLINE: self.verdict, **self.group_verdicts}


# The host-side judge: turns what the sandbox reported into a verdict. Never sent anywhere.
Judge = Callable[[Sequence[GroupResult]], Execution]


@dataclass(frozen=True)
class Job:
    """What the sandbox receives: the program and the inputs, nothing else."""

    key: SampleKey
    code: str
    mode: ExecMode
    entry_point: str
    groups: tuple[TestGroup, ...]
    # evalplus runs programs under its ``reliability_guard`` (open/exit/os.* disabled);
    # verdicts only match it when the same guard is applied.
    guard: str = "none"
    # The benchmark's canonical solution for the same inputs (trusted; "" where there is
    # none). Never sent with the program: an executor that sets limits in its own currency
    # (wasm: instructions) runs it separately to measure them.
    reference: str = ""


@dataclass(frozen=True)
class Check:
    job: Job
    judge: Judge


@dataclass(frozen=True)
class SandboxLimits:
    memory_mb: int = 4096
    cpus: float = 1.0
    pids: int = 256
    tmpfs_mb: int = 256
    output_bytes: int = 8 * 1024 * 1024  # printed bytes per group before OUTPUT_LIMIT
    batch_size: int = 32  # samples per container; 1 = strict mode
    workers: int = 2  # containers at once
    min_time_limit_s: float = 1.0
    time_limit_factor: float = 4.0
    confirm_timeouts: bool = True  # a timeout stands only if a second fresh run times out too

    def key_fields(self) -> dict[str, Any]:
        """Fields that can change a verdict (batch size and workers cannot)."""
        return {
            "memory_mb": self.memory_mb,
            "pids": self.pids,
            "output_bytes": self.output_bytes,
            "min_time_limit_s": self.min_time_limit_s,
            "time_limit_factor": self.time_limit_factor,
            "confirm_timeouts": self.confirm_timeouts,
        }
