"""Evaluating samples made elsewhere: samples file -> run directory -> scores (-> DuckDB)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from apr_eval import __version__
from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import (
    Completion,
    DateWindow,
    ModelInfo,
    RunManifest,
    SampleKey,
    SandboxLimits,
    Score,
)
from apr_eval.errors import UsageError
from apr_eval.harness.generation.models import sha256_file
from apr_eval.harness.interop.samples import Sample, read_samples, samples_model_name
from apr_eval.harness.run.execution import OnResult, execute
from apr_eval.harness.run.manifest import SEMANTICS_VERSION
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.run.truncation import run_truncation, with_truncation
from apr_eval.harness.scoring.score import score_run
from apr_eval.harness.scoring.window import problem_dates
from apr_eval.sandbox.executor import Executor


@dataclass(frozen=True)
class EvaluateRequest:
    benchmark: Benchmark
    samples_path: Path
    results_dir: Path
    limits: SandboxLimits
    run_id: str | None = None
    model_name: str | None = None
    allow_missing: bool = False
    cutoff: date | None = None


def load_samples(benchmark: Benchmark, path: Path, allow_missing: bool) -> list[Sample]:
    problems = {p.problem_id: p for p in benchmark.load()}
    universe: set[str] = getattr(benchmark, "universe", set)()
    samples = read_samples(path, problems.keys(),
                           lambda pid, c: benchmark.assemble(problems[pid], c),
                           outside=universe - problems.keys())
    covered = {s.problem_id for s in samples}
    missing = [pid for pid in problems if pid not in covered]
    if missing and not allow_missing:
        raise UsageError(
            f"task {missing[0]} has no samples ({len(missing)} of {len(problems)} tasks "
            "missing); pass --allow-missing to score only the tasks present")
    return samples


def window_strings(benchmark: Benchmark) -> tuple[str | None, str | None]:
    window = getattr(benchmark, "window", None)
    return window.as_strings() if isinstance(window, DateWindow) else (None, None)


def default_run_id(benchmark: Benchmark, samples_path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", samples_path.stem)[:40]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{benchmark.name}-{benchmark.version}-{stem}-{stamp}"


def open_run(req: EvaluateRequest, samples: Sequence[Sample], image_digest: str) -> RunDir:
    """A new run directory, or the existing one of ``--run-id`` (resume)."""
    run = RunDir(req.results_dir / (req.run_id or default_run_id(req.benchmark,
                                                                 req.samples_path)))
    if run.exists():
        old = run.manifest()
        if (old.benchmark, old.data_hash) != (req.benchmark.name, req.benchmark.data_hash):
            raise UsageError(f"run {run.run_id} exists for {old.benchmark} {old.benchmark_version}"
                             "; choose another --run-id")
        return run
    b = req.benchmark
    run.write_manifest(RunManifest(
        run_id=run.run_id, benchmark=b.name, benchmark_version=b.version,
        data_hash=b.data_hash,
        model=ModelInfo(name=req.model_name or samples_model_name(req.samples_path),
                        cutoff=req.cutoff),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        harness_version=__version__, sandbox=req.limits.key_fields(),
        image_digest=image_digest,
        problems=tuple(sorted({s.problem_id for s in samples})),
        date_window=window_strings(b),
        # The samples' digest: evaluations of the same file are one leaderboard row.
        extra={"samples_file": str(req.samples_path), "samples": len(samples),
               "samples_sha256": sha256_file(req.samples_path),
               **problem_dates(b.load(), {s.problem_id for s in samples})},
        semantics=SEMANTICS_VERSION))
    return run


def record_completions(run: RunDir, samples: Sequence[Sample]) -> dict[SampleKey, Completion]:
    """The samples become the run's completions.jsonl, so the run directory stands alone.
    Returns the run's completions after it (what a fresh read would give)."""
    have = run.completions()
    new = [Completion(run.run_id, s.problem_id, s.sample_index, raw=s.raw, code=s.code)
           for s in samples if s.key not in have]
    run.append_completions(new)
    return {**have, **{SampleKey(c.problem_id, c.sample_index): c for c in new}}


def evaluate(req: EvaluateRequest, executor: Executor,
             on_result: OnResult | None = None) -> tuple[RunDir, list[Score]]:
    samples = load_samples(req.benchmark, req.samples_path, req.allow_missing)
    run = open_run(req, samples, executor.image_digest)
    completions = record_completions(run, samples)
    executions = execute(run, req.benchmark, samples, executor, req.limits, on_result)
    scores = with_truncation(score_run(run.run_id, executions, req.benchmark),
                             run_truncation(run, completions=completions))
    run.write_scores([s.__dict__ for s in scores])
    return run, scores
