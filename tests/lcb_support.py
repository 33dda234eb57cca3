"""Test/perf helper: run checks through the real in-container runner as a local subprocess.

No isolation (no Docker): only for our own fixtures and the published sample programs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from apr_eval.core import Check, Execution, GroupEnd, GroupResult, Outcome, OutcomeKind
from apr_eval.sandbox import codec

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = (ROOT.parent / "shared" / "data" / "samples" / "livecodebench" / "Qwen2.5-Ins-7B"
           / "eval_all_v5_only.json")


def _batch(checks: Sequence[Check]) -> dict[str, object]:
    groups: dict[str, object] = {}
    jobs = []
    for i, check in enumerate(checks):
        names = []
        for j, g in enumerate(check.job.groups):
            gid = f"{i}.{j}"
            groups[gid] = {"inputs": [codec.encode(x) for x in g.inputs],
                           "limits": list(g.time_limits), "deadline": g.budget()}
            names.append([g.name, gid])
        jobs.append({"id": str(i), "code": check.job.code, "mode": check.job.mode.value,
                     "entry": check.job.entry_point, "guard": check.job.guard, "groups": names})
    return {"groups": groups, "jobs": jobs, "output_bytes": 8 << 20}


def _run_batch(checks: Sequence[Check], command: Sequence[str] = ()) -> list[Execution]:
    command = list(command) or [sys.executable, "-m", "apr_eval.sandbox.runner"]
    proc = subprocess.run(command, input=json.dumps(_batch(checks)).encode(),
                          capture_output=True, cwd=ROOT, check=False, timeout=3600)
    found: dict[str, list[GroupResult]] = {}
    for line in proc.stdout.decode().splitlines():
        rec = json.loads(line)
        if rec.get("t") != "group":
            continue
        outcomes = tuple(Outcome(OutcomeKind(k), codec.decode(v), e, d)
                         for k, v, e, d in rec["outcomes"])
        found.setdefault(rec["job"], []).append(
            GroupResult(rec["group"], outcomes, GroupEnd(rec["end"]), rec["detail"]))
    return [c.judge(found.get(str(i), [])) for i, c in enumerate(checks)]


def run_local(checks: Sequence[Check], workers: int = 1,
              command: Sequence[str] = ()) -> list[Execution]:
    """One runner process (or container, with ``command``) per worker, checks split
    round-robin; results in input order."""
    parts = [list(checks[w::workers]) for w in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda part: _run_batch(part, command), parts))
    out: list[Execution | None] = [None] * len(checks)
    for w, results in enumerate(done):
        for k, e in enumerate(results):
            out[w + k * workers] = e
    return [e for e in out if e is not None]
