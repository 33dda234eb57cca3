"""What a run is: its spec (what to run), its manifest (what ran), its scores and windows.

Frozen records, no I/O; a manifest holds its spec typed (``RunManifest.spec``), stored on disk
under ``extra["spec"]`` as it always was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from apr_eval.core.records import Problem, PromptStyle, SamplingParams, SandboxLimits
from apr_eval.errors import UsageError


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

    @property
    def spec(self) -> RunSpec | None:
        """The spec the run was made from (None for runs made elsewhere)."""
        stored = self.extra.get("spec")
        return RunSpec.from_json(stored) if isinstance(stored, Mapping) else None


@dataclass(frozen=True)
class RunSpec:
    model: str
    benchmark: str  # registry name (the CLI defaults it)
    backend: str = "llamacpp"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    benchmark_version: str | None = None
    benchmark_options: Mapping[str, Any] = field(default_factory=dict)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    prompt_style: PromptStyle | None = None  # None: chat iff the model has a chat template
    prompt_preset: str = "default"
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    run_id: str | None = None  # None: derived from the spec (same command -> same run)
    cutoff: date | None = None
    problems: tuple[str, ...] = ()  # explicit problem ids (in this order)
    limit: int | None = None  # first N problems (after ``problems``)
    batch_size: int = 1  # problems per backend.generate call (completions written per batch)
    executor: str = "docker"

    def resolved_run_id(self) -> str:
        return self.run_id or default_run_id(self)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["prompt_style"] = None if self.prompt_style is None else self.prompt_style.value
        d["cutoff"] = None if self.cutoff is None else self.cutoff.isoformat()
        d["problems"] = list(self.problems)
        return json.loads(json.dumps(d, default=str))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunSpec:
        d = dict(d)
        style = d.pop("prompt_style", None)
        cutoff = d.pop("cutoff", None)
        return cls(
            sampling=SamplingParams(**d.pop("sampling", {})),
            limits=SandboxLimits(**d.pop("limits", {})),
            prompt_style=PromptStyle(style) if style else None,
            cutoff=date.fromisoformat(cutoff) if cutoff else None,
            problems=tuple(d.pop("problems", ())),
            **d,
        )


def _slug(text: str) -> str:
    stem = Path(text).name.removesuffix(".gguf")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:48] or "model"


def spec_digest(spec: RunSpec) -> str:
    """A hash of everything that defines the run's outputs (not where or how fast it runs)."""
    d = spec.to_json()
    for volatile in ("run_id", "batch_size", "executor"):
        d.pop(volatile, None)
    d["limits"] = spec.limits.key_fields()
    blob = json.dumps(d, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def default_run_id(spec: RunSpec) -> str:
    """Deterministic: rerunning the same command continues the same run directory."""
    return f"{_slug(spec.model)}-{spec.benchmark}-{spec_digest(spec)}"


def validate_run_id(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise UsageError(f"bad run id '{run_id}': use letters, digits, '.', '_' and '-'")
    return run_id
