"""Test/perf helper: evalplus 0.3.1 itself and apr-eval on the same samples file, side by side.

evalplus runs offline through its dataset override variables (``HUMANEVAL_OVERRIDE_PATH`` /
``MBPP_OVERRIDE_PATH``) on a decompressed copy of the pinned dataset file, optionally reduced
to some tasks (evalplus insists that every task of the dataset has a sample; a reduced file
keeps a small run small, and a task's expected outputs do not depend on the other tasks).
apr-eval reads the very same file (``path=``), so both judge the same tasks and samples.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLES = SHARED / "samples" / "evalplus" / "qwen2.5-coder-1.5b-base"
DATA = REPO / "apr_eval" / "benchmarks" / "data" / "evalplus"
STEMS = {("humaneval", "v0.1.10"): "HumanEvalPlus-v0.1.10", ("mbpp", "v0.2.0"): "MbppPlus-v0.2.0",
         ("humaneval", "v0.1.9"): "HumanEvalPlus-v0.1.9", ("mbpp", "v0.1.0"): "MbppPlus-v0.1.0"}
GROUPS = ("base", "plus")

Key = tuple[str, int]  # (task id, sample index within the task, in file order)
Verdicts = dict[Key, tuple[bool, bool]]  # -> (base passed, plus passed)


def dataset_file(dest: Path, stem: str, tasks: Collection[str] | None = None) -> Path:
    """The pinned dataset decompressed (evalplus hashes the plain file), maybe reduced."""
    lines = gzip.decompress((DATA / f"{stem}.jsonl.gz").read_bytes()).decode().splitlines()
    if tasks is not None:
        lines = [x for x in lines if x.strip() and json.loads(x)["task_id"] in tasks]
    path = dest / f"{stem}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def read_tasks(path: Path) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in map(json.loads, path.read_text().splitlines()) if t}


def evalplus_env(dataset: Path, bench: str) -> dict[str, str]:
    key = "HUMANEVAL_OVERRIDE_PATH" if bench == "humaneval" else "MBPP_OVERRIDE_PATH"
    return {**os.environ, key: str(dataset)}


def evalplus_cmd(bench: str, samples: Path, parallel: int | None = None,
                 options: Sequence[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "evalplus.evaluate", "--dataset", bench,
           "--samples", str(samples), *options]
    return [*cmd, "--parallel", str(parallel)] if parallel else cmd


def write_samples(path: Path, programs: Iterable[tuple[str, str]]) -> Path:
    """evalplus ``{"task_id", "solution"}`` lines (whole programs; both harnesses take them
    as they are)."""
    with path.open("w") as f:
        for task_id, code in programs:
            f.write(json.dumps({"task_id": task_id, "solution": code}) + "\n")
    return path


def keys_in_order(task_ids: Iterable[str]) -> list[Key]:
    """Samples numbered per task in file order, as both harnesses number them."""
    seen: dict[str, int] = {}
    out = []
    for task_id in task_ids:
        out.append((task_id, seen.get(task_id, 0)))
        seen[task_id] = seen.get(task_id, 0) + 1
    return out


def run_evalplus(bench: str, dataset: Path, samples: Path, parallel: int = 2,
                 timeout: float = 7200, options: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> Verdicts:
    """evalplus 0.3.1's base/plus verdict of every sample (its ``_eval_results.json``)."""
    result = samples.with_name(samples.name.replace(".jsonl", "_eval_results.json"))
    result.unlink(missing_ok=True)  # it would reuse old results
    with tempfile.TemporaryFile() as err:  # a pipe would fill up with tqdm and block it
        proc = subprocess.run(evalplus_cmd(bench, samples, parallel, options),
                              env={**evalplus_env(dataset, bench), **(env or {})},
                              cwd=samples.parent,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                              check=False, timeout=timeout)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"evalplus failed: {err.read().decode(errors='replace')[-2000:]}")
    table = json.loads(result.read_text())["eval"]
    order = [json.loads(x)["task_id"] for x in samples.read_text().splitlines() if x.strip()]
    rows = {task_id: iter(table[task_id]) for task_id in table}
    return {key: _passes(next(rows[key[0]])) for key in keys_in_order(order)}


def _passes(row: dict[str, Any]) -> tuple[bool, bool]:
    return row["base_status"] == "pass", row["plus_status"] == "pass"


def run_apr(bench: str, dataset: Path, samples: Path, results: Path,
            workers: int = 2) -> Verdicts:
    """apr-eval's base/plus verdict of every sample, through the Docker sandbox."""
    from apr_eval.benchmarks.base import open_benchmark
    from apr_eval.core import SandboxLimits
    from apr_eval.harness.interop.evaluate import EvaluateRequest, evaluate
    from apr_eval.sandbox.docker_executor import DockerExecutor

    benchmark = open_benchmark(bench, None, path=str(dataset))
    req = EvaluateRequest(benchmark, samples, results, SandboxLimits(workers=workers),
                          run_id=f"diff-{bench}")
    run, _ = evaluate(req, DockerExecutor())
    out: Verdicts = {}
    for key, e in run.executions().items():
        gv = e.group_verdicts
        out[(key.problem_id, key.sample_index)] = (gv["base"].passed, gv["plus"].passed)
    return out


@dataclass(frozen=True)
class Difference:
    key: Key
    group: str
    evalplus: bool
    apr: bool


def differences(theirs: Verdicts, ours: Verdicts) -> list[Difference]:
    if set(theirs) != set(ours):
        raise RuntimeError(f"the harnesses judged different samples: "
                           f"{sorted(set(theirs) ^ set(ours))[:5]}")
    return [Difference(k, g, theirs[k][i], ours[k][i])
            for k in sorted(theirs) for i, g in enumerate(GROUPS)
            if theirs[k][i] != ours[k][i]]
