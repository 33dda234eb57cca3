"""Join shards of one run into one run directory: ``apr-eval merge A B --run-id ALL``.

A long run can be cut by problems (``--problems`` or ``--limit``) into shards that generate at
the same time, on other cores or other machines, each a self-contained, resumable run directory.
Merging checks that the shards are parts of one run, then writes their completions and verdicts
into a new directory whose manifest and comparability key are those the unsharded run would
have had. The shards themselves are left as they are.

Shards are parts of one run when everything that changes scores is equal (the comparability
fields apart from the problem set), they come from the same model file and engine, their
problem sets are disjoint, and the verdicts they hold come from one sandbox image.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from apr_eval.core import Completion, Execution, RunManifest, RunSpec, SampleKey, validate_run_id
from apr_eval.errors import UsageError
from apr_eval.harness.run.manifest import with_key
from apr_eval.harness.run.pipeline import open_spec_benchmark
from apr_eval.harness.run.rundir import (
    COMPLETIONS,
    EXECUTIONS,
    RunDir,
    completion_to_json,
    execution_to_json,
    write_jsonl,
)

T = TypeVar("T")


@dataclass(frozen=True)
class MergeReport:
    run: RunDir
    shards: int
    problems: int
    completions: int
    executions: int


@dataclass(frozen=True)
class _Shard:
    """One shard, read once: its manifest, spec, and the samples of its own problems."""

    run: RunDir
    manifest: RunManifest
    spec: RunSpec
    completions: dict[SampleKey, Completion]
    executions: dict[SampleKey, Execution]


def _load(run: RunDir) -> _Shard:
    manifest = run.manifest()
    spec = manifest.spec
    if spec is None:
        raise UsageError(f"run '{run.run_id}' was not made by apr-eval generate "
                         "(no spec in its manifest); only such runs can be merged")
    mine = set(manifest.problems)
    return _Shard(run, manifest, spec,
                  {k: c for k, c in run.completions().items() if k.problem_id in mine},
                  {k: e for k, e in run.executions().items() if k.problem_id in mine})


def _model_identity(m: RunManifest) -> tuple[str, str]:
    return m.model.sha256 or m.model.name, m.model.engine


def _check_parts_of_one_run(shards: Sequence[_Shard]) -> None:
    first = shards[0].manifest
    want = {**first.comparability_fields(), "problems": None}
    for shard in shards[1:]:
        m = shard.manifest
        got = {**m.comparability_fields(), "problems": None}
        diff = sorted(k for k in want if want[k] != got.get(k))
        if diff:
            raise UsageError(f"runs '{first.run_id}' and '{m.run_id}' differ in "
                             f"{', '.join(diff)}: not shards of one run")
        if _model_identity(m) != _model_identity(first):
            raise UsageError(f"runs '{first.run_id}' and '{m.run_id}' come from different "
                             "models or engines: not shards of one run")


def _image_digest(shards: Sequence[_Shard]) -> str:
    """The one image every shard's verdicts came from ("" when none has verdicts yet)."""
    digests = {s.manifest.image_digest for s in shards if s.executions}
    if len(digests) > 1:
        raise UsageError("the shards were executed with different sandbox images "
                         f"({', '.join(sorted(d[:19] for d in digests))}); merge them before "
                         "executing, or execute their completions into new runs")
    return digests.pop() if digests else ""


def _merged_problems(shards: Sequence[_Shard]) -> tuple[tuple[str, ...], bool]:
    """The union of the shards' problems in benchmark order, and whether it is the whole set."""
    owner: dict[str, str] = {}
    for shard in shards:
        for pid in shard.manifest.problems:
            if pid in owner:
                raise UsageError(f"problem {pid} is in both '{owner[pid]}' and "
                                 f"'{shard.run.run_id}': shards must not overlap")
            owner[pid] = shard.run.run_id
    order = [p.problem_id for p in open_spec_benchmark(shards[0].spec).load()]
    unknown = sorted(set(owner) - set(order))
    if unknown:
        raise UsageError(f"problem(s) {', '.join(unknown[:5])} are not in the benchmark")
    merged = tuple(pid for pid in order if pid in owner)
    return merged, len(merged) == len(order)


def _manifest(shards: Sequence[_Shard], run_id: str, problems: tuple[str, ...],
              whole: bool) -> RunManifest:
    first = shards[0].manifest
    merged_spec = dataclasses.replace(shards[0].spec, run_id=run_id,
                                      problems=() if whole else problems, limit=None)
    dates = {pid: d for s in shards
             for pid, d in dict(s.manifest.extra.get("problem_dates") or {}).items()}
    extra = {**first.extra, "spec": merged_spec.to_json(),
             "merged_from": [s.run.run_id for s in shards],
             **({"problem_dates": dates} if dates else {})}
    return with_key(dataclasses.replace(
        first, run_id=run_id, problems=problems, image_digest=_image_digest(shards),
        created_at=min(s.manifest.created_at for s in shards), extra=extra))


def merge_runs(runs: Sequence[RunDir], run_id: str, results_dir: Path) -> MergeReport:
    """Write the merged run ``results_dir/run_id`` (refused if it exists); the directory
    appears whole or not at all."""
    if len(runs) < 2:
        raise UsageError("merge needs at least two run directories")
    if len({r.path.resolve() for r in runs}) != len(runs):
        raise UsageError("the same run directory is given twice")
    target = RunDir(results_dir / validate_run_id(run_id))
    if target.path.exists():
        raise UsageError(f"{target.path} already exists; pick another --run-id")
    shards = [_load(r) for r in runs]
    _check_parts_of_one_run(shards)
    problems, whole = _merged_problems(shards)
    manifest = _manifest(shards, run_id, problems, whole)
    completions = {k: dataclasses.replace(c, run_id=run_id)
                   for s in shards for k, c in s.completions.items()}
    executions = {k: e for s in shards for k, e in s.executions.items()}
    staging = RunDir(target.path.with_name(f".{run_id}.merging"))
    shutil.rmtree(staging.path, ignore_errors=True)
    staging.write_manifest(manifest)
    rank = {pid: i for i, pid in enumerate(problems)}
    _write_sorted(staging.path / COMPLETIONS, completions, rank, completion_to_json)
    _write_sorted(staging.path / EXECUTIONS, executions, rank, execution_to_json)
    os.replace(staging.path, target.path)
    return MergeReport(target, len(shards), len(problems), len(completions), len(executions))


def _write_sorted(path: Path, records: Mapping[SampleKey, T], rank: Mapping[str, int],
                  to_json: Callable[[T], dict[str, Any]]) -> None:
    """Benchmark order, then sample order."""
    keys = sorted(records, key=lambda k: (rank[k.problem_id], k.sample_index))
    write_jsonl(path, (to_json(records[k]) for k in keys))
