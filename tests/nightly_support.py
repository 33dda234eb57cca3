"""Helpers for the compare/nightly tests: synthetic run directories (more to come)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from apr_eval.core import Execution, ModelInfo, RunManifest, SamplingParams, Verdict
from apr_eval.harness import rundir
from apr_eval.harness.rundir import RunDir

P = Verdict.PASSED
F = Verdict.FAILED
T = Verdict.TIMEOUT
E = Verdict.ERROR


def headline(base: Verdict, plus: Verdict) -> Verdict:
    return base if not base.passed else plus


def write_run(results: Path, run_id: str,
              samples: Mapping[str, Sequence[tuple[Verdict, Verdict]]], *,
              model: str = "model-a", created_at: str = "2026-11-24T00:00:00+00:00",
              n: int | None = None, benchmark: str = "humaneval",
              **overrides: Any) -> RunDir:
    """A run directory whose executions carry (base, plus) group verdicts per sample."""
    n = n or max(len(v) for v in samples.values())
    fields: dict[str, Any] = {
        "run_id": run_id, "benchmark": benchmark, "benchmark_version": "v0.1.10",
        "data_hash": "abc123", "model": ModelInfo(name=model), "created_at": created_at,
        "harness_version": "0.1.0", "backend": "fake",
        "sampling": SamplingParams(n=n, temperature=0.0 if n == 1 else 0.8),
        "prompt_style": "completion", "prompt_preset": "default",
        "sandbox": {"memory_mb": 4096, "pids": 256}, "problems": tuple(samples),
    }
    fields.update(overrides)
    run = RunDir(results / run_id)
    run.write_manifest(RunManifest(**fields))
    with run.open_append(rundir.EXECUTIONS) as f:
        for pid, verdicts in samples.items():
            for i, (base, plus) in enumerate(verdicts):
                rundir.append_execution(f, Execution(
                    pid, i, headline(base, plus), {"base": base, "plus": plus}))
    return run


def problems(count: int) -> list[str]:
    return [f"HumanEval/{i}" for i in range(count)]
