"""Frozen records and enums that every layer of apr-eval speaks.

No I/O and no third-party imports here: this module is the shared vocabulary between
benchmarks, backends, the sandbox, scoring and the store.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from apr_eval.errors import UsageError


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


@dataclass(frozen=True)
class DateWindow:
    """Problems released on or between two days (both inclusive; an open end keeps all)."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise UsageError(f"date window is empty: start {self.start} is after end {self.end}")

    def contains(self, released: date | None) -> bool:
        if self.start is None and self.end is None:
            return True
        if released is None:
            return False  # undated problems cannot be placed inside a window
        return (self.start is None or released >= self.start) and \
            (self.end is None or released <= self.end)

    def select(self, problems: Iterable[Problem]) -> list[Problem]:
        return [p for p in problems if self.contains(p.release_date)]

    def as_strings(self) -> tuple[str | None, str | None]:
        """For ``RunManifest.date_window``."""
        return (self.start.isoformat() if self.start else None,
                self.end.isoformat() if self.end else None)


@dataclass(frozen=True)
class PassAtK:
    k: int
    value: float
    ci_low: float
    ci_high: float
    ci_method: str = ""  # "wilson" (one sample per problem) / "t-clustered" / ...


@dataclass(frozen=True)
class Score:
    run_id: str
    benchmark: str  # "humaneval" / "humaneval+" / "mbpp" / "mbpp+" / "livecodebench"
    k: int
    pass_at_k: float
    ci_low: float
    ci_high: float
    problems: int
    samples: int
    excluded: int = 0  # samples with INFRA_ERROR (still counted as failures)
    truncated: int = 0  # samples whose generation stopped at max_tokens (finish_reason "length")
    truncated_reasoning: int = 0  # samples whose <think> block never closed (empty program)
    ci_method: str = ""  # how ci_low/ci_high were made (harness.passk)


@dataclass(frozen=True)
class ModelInfo:
    """What we know about the model that produced a run (empty for imported samples)."""

    name: str
    path: str = ""
    sha256: str = ""
    quantization: str = ""
    bits: float | None = None
    parameters: int | None = None
    architecture: str = ""
    base_model: str = ""
    lineage: str = ""  # e.g. "quantized from X", "merged from A+B"
    cutoff: date | None = None  # declared training cutoff
    engine: str = ""
    engine_version: str = ""
    # What else decides the exact generated text: the engine build's CPU/GPU features (e.g.
    # llama.cpp's system info). Greedy texts can differ across builds and instruction sets.
    engine_build: str = ""


@dataclass(frozen=True)
class RunManifest:
    """What actually ran. Written beside the JSONL files; DuckDB is derived from it."""

    run_id: str
    benchmark: str
    benchmark_version: str
    data_hash: str
    model: ModelInfo
    created_at: str  # ISO timestamp
    harness_version: str
    backend: str = ""  # "" for samples made elsewhere
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    sampling: SamplingParams | None = None
    prompt_style: str = ""
    prompt_preset: str = ""
    sandbox: Mapping[str, Any] = field(default_factory=dict)  # SandboxLimits.key_fields()
    image_digest: str = ""
    problems: tuple[str, ...] = ()
    date_window: tuple[str | None, str | None] = (None, None)
    extra: Mapping[str, Any] = field(default_factory=dict)
    # How verdicts were judged (harness.manifest.SEMANTICS_VERSION); "" = before it was recorded
    semantics: str = ""

    def comparability_fields(self) -> dict[str, Any]:
        """Everything that changes scores apart from the model itself. ``decoding`` (a
        decoder's settings that change texts, such as llama.cpp's batched ``n_parallel``) is
        there only when the run recorded one, so older runs keep their key."""
        sampling = self.sampling
        fields = {
            "benchmark": self.benchmark,
            "benchmark_version": self.benchmark_version,
            "data_hash": self.data_hash,
            "prompt_style": self.prompt_style,
            "prompt_preset": self.prompt_preset,
            "temperature": None if sampling is None else sampling.temperature,
            "top_p": None if sampling is None else sampling.top_p,
            "max_tokens": None if sampling is None else sampling.max_tokens,
            "n": None if sampling is None else sampling.n,
            "sandbox": dict(self.sandbox),
            "problems": list(self.problems),
            "date_window": list(self.date_window),
            "semantics": self.semantics,
        }
        decoding = self.extra.get("decoding")
        if decoding:
            fields["decoding"] = dict(decoding)
        return fields
