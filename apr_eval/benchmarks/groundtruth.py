"""Expected outputs: the canonical solutions run on every input, once, cached by data hash.

Canonical solutions are trusted dataset code, so they run on the host (as evalplus's
``get_groundtruth`` does), through the same runner the sandbox uses: the same encoding, the same
per-input timing. The cache is tagged JSON (never pickle), keyed by the dataset's hash.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apr_eval.errors import DataError
from apr_eval.sandbox import codec

GT_TIME_LIMIT_S = 60.0
DIGEST_OVER = 64 * 1024  # bytes of encoded output above which exact-only outputs are digests
CACHE_FORMAT = 5  # 2: CPU-second times; 3: large outputs as digests; 4: floats too;
# 5: group weights, strings-only sequences digested through repr


@dataclass(frozen=True)
class CanonicalTask:
    task_id: str
    code: str
    entry_point: str
    groups: Mapping[str, Sequence[Any]]  # group name -> inputs (already deserialized)
    # Outputs are compared by exact equality only (no tolerance, no special oracle): large
    # float-free outputs may be kept as digests (see codec.digest) instead of values.
    digest_ok: bool = False


@dataclass(frozen=True)
class GroundTruth:
    outputs: Mapping[str, tuple[Any, ...]]
    times: Mapping[str, tuple[float, ...]]
    errors: tuple[str, ...] = ()  # inputs where the canonical solution itself failed
    heaviest: Mapping[str, int] = field(default_factory=dict)  # group -> max codec.weight


def _batch(tasks: Sequence[CanonicalTask], digests: bool = True) -> bytes:
    groups: dict[str, Any] = {}
    jobs = []
    for t in tasks:
        refs = []
        for name, inputs in t.groups.items():
            gid = f"{t.task_id}/{name}"
            groups[gid] = {"inputs": [codec.encode(x) for x in inputs],
                           "limits": [GT_TIME_LIMIT_S] * len(inputs),
                           "deadline": GT_TIME_LIMIT_S * max(1, len(inputs)),
                           "digest_over": DIGEST_OVER if t.digest_ok and digests else 0,
                           "measure": True}
            refs.append([name, gid])
        jobs.append({"id": t.task_id, "code": t.code, "mode": "function",
                     "entry": t.entry_point, "guard": "none", "groups": refs})
    return json.dumps({"groups": groups, "jobs": jobs, "output_bytes": 1 << 30,
                       "result_bytes": 1 << 31}).encode()


def _run_chunk(tasks: Sequence[CanonicalTask], digests: bool = True
               ) -> dict[str, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "apr_eval.sandbox.runner"],
                          input=_batch(tasks, digests), capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        why = tail[0] if tail else (
            f"runner killed by signal {-proc.returncode} (out of memory?)"
            if proc.returncode < 0 else f"runner exited with status {proc.returncode}")
        raise DataError(f"computing expected outputs failed: {why}")
    out: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("t") == "group":
            out.setdefault(rec["job"], {})[rec["group"]] = rec
    return out


def compute(tasks: Sequence[CanonicalTask], workers: int = 2,
            chunk: int = 16) -> dict[str, dict[str, Any]]:
    """Raw (encoded) outcomes of every canonical solution, as the runner reported them.
    Small chunks on a pool: a few slow canonical solutions (MBPP+ has some) don't leave
    one worker with all the work."""
    chunks = [list(tasks[i:i + chunk]) for i in range(0, len(tasks), chunk)]
    merged: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(workers) as pool:
        for part in pool.map(_run_chunk, chunks):
            merged.update(part)
    # A group whose outputs include floats may be compared with tolerance (evalplus's sticky
    # atol), which needs whole values: redo the few such groups that used digests.
    redo = [t for t in tasks
            if any(_digested_floats(r) for r in merged.get(t.task_id, {}).values())]
    if redo:
        merged.update(_run_chunk(redo, digests=False))
    return merged


def _digested_floats(record: Mapping[str, Any]) -> bool:
    return bool(record.get("floats")) and any(
        isinstance(o[1], dict) and "$h" in o[1] for o in record["outcomes"])


def _to_truth(task: CanonicalTask, records: Mapping[str, Any], not_none: bool) -> GroundTruth:
    outputs: dict[str, tuple[Any, ...]] = {}
    times: dict[str, tuple[float, ...]] = {}
    errors: list[str] = []
    heaviest: dict[str, int] = {}
    for name, inputs in task.groups.items():
        rec = records.get(name, {"outcomes": [], "end": "lost"})
        heaviest[name] = int(rec.get("heaviest", 0))
        values = []
        for kind, value, error, _ in rec["outcomes"]:
            decoded = codec.decode(value)
            if kind != "returned":
                errors.append(f"{task.task_id}/{name}: {kind} {error}")
            values.append(decoded is not None if not_none else decoded)
        if len(values) < len(inputs):
            errors.append(f"{task.task_id}/{name}: {rec['end']} after {len(values)} inputs")
            values.extend(codec.Opaque("missing") for _ in range(len(inputs) - len(values)))
        outputs[name] = tuple(values)
        times[name] = tuple(float(o[3]) for o in rec["outcomes"]) + (
            (GT_TIME_LIMIT_S,) * (len(inputs) - len(rec["outcomes"])))
    return GroundTruth(outputs, times, tuple(errors), heaviest)


def load_or_compute(cache_file: Path, tasks: Sequence[CanonicalTask],
                    not_none: frozenset[str] = frozenset()) -> dict[str, GroundTruth]:
    """``not_none``: entry points whose expected output is only 'is not None' (evalplus)."""
    raw = _read_cache(cache_file)
    if raw is None:
        raw = compute(tasks)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(json.dumps({"format": CACHE_FORMAT, "tasks": raw})
                                      .encode(), compresslevel=3))
        tmp.replace(cache_file)
    return {t.task_id: _to_truth(t, raw.get(t.task_id, {}), t.entry_point in not_none)
            for t in tasks}


def _read_cache(path: Path) -> dict[str, dict[str, Any]] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError):
        return None  # a torn cache is recomputed, never trusted
    if data.get("format") != CACHE_FORMAT:
        return None
    tasks: dict[str, dict[str, Any]] = data["tasks"]
    return tasks
