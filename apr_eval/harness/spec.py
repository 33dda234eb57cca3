"""RunSpec: what to run. Built by the CLI, ``apr-eval nightly``, or a library caller.

A spec is stored in the run's manifest (``extra["spec"]``), so ``apr-eval generate RUN`` can
continue a run without its options being repeated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from apr_eval.core import PromptStyle, SamplingParams, SandboxLimits
from apr_eval.errors import UsageError


@dataclass(frozen=True)
class RunSpec:
    model: str
    benchmark: str = "humaneval"
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
