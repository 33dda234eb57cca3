"""Ground-truth self-check: every canonical solution through the same sandbox.

A benchmark whose canonical solutions do not all pass in this sandbox (slow machine, missing
module, encoding bug) cannot be trusted to judge anyone else; runs record whether the check
passed for their (benchmark, data hash, image) and are marked invalid otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import Execution, SandboxLimits
from apr_eval.harness.run.execution import OnResult, Program, build_checks
from apr_eval.sandbox.executor import Executor


@dataclass(frozen=True)
class SelfCheck:
    benchmark: str
    version: str
    data_hash: str
    image_digest: str
    total: int
    passed: int
    failures: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def valid(self) -> bool:
        return self.total > 0 and self.passed == self.total


def _record_path(cache_dir: Path, benchmark: Benchmark, image_digest: str) -> Path:
    digest = image_digest.removeprefix("sha256:")[:12]
    return cache_dir / "selfcheck" / f"{benchmark.name}-{benchmark.data_hash}-{digest}.json"


def run_selfcheck(benchmark: Benchmark, executor: Executor, limits: SandboxLimits,
                  cache_dir: Path, on_result: OnResult | None = None) -> SelfCheck:
    problems = benchmark.load()
    programs = [Program(p.problem_id, 0, benchmark.canonical_solution(p)) for p in problems]
    results: list[Execution] = []
    for e in executor.run(build_checks(benchmark, programs, limits), limits):
        results.append(e)
        if on_result:
            on_result(e)
    failures = tuple(sorted(f"{e.problem_id}: {e.verdict.value}"
                            + (f" ({e.failing.group}#{e.failing.index})" if e.failing else "")
                            for e in results if not e.verdict.passed))
    check = SelfCheck(benchmark.name, benchmark.version, benchmark.data_hash,
                      executor.image_digest, len(results), len(results) - len(failures),
                      failures)
    path = _record_path(cache_dir, benchmark, executor.image_digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(check.__dict__, indent=2) + "\n")
    return check


def last_selfcheck(benchmark: Benchmark, image_digest: str, cache_dir: Path) -> SelfCheck | None:
    path = _record_path(cache_dir, benchmark, image_digest)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["failures"] = tuple(data["failures"])
    return SelfCheck(**data)
