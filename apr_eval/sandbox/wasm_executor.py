"""The WASM executor: each test group in a fresh CPython-on-WASI instance, limits in fuel.

Same protocol and split as the Docker executor: the guest gets the program, the inputs and the
runner (see ``wasm_guest``), reports raw outcomes, and the verdict is computed here against
expected outputs the guest never sees. No Docker daemon, no network (WASI has none), no host
files but a read-only tree of runner files and a fresh scratch dir, an environment holding only
``PYTHONHASHSEED=0``.

Per-input limits are instructions, not seconds: ``max(floor, factor x the canonical solution's
fuel on that input)`` (evalplus's rule in the guest's currency), the canonical fuel measured
once, in the same guest, and cached on disk keyed by the reference program, its inputs and the
guest; the floor is ``min_time_limit_s`` converted at ``FUEL_PER_SECOND``. A program's fuel on
an input does not change with machine load, so neither does its verdict (timeouts need no
confirming run). Where a benchmark has no reference solution (LiveCodeBench), its per-input
seconds are converted at ``FUEL_PER_SECOND``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from apr_eval.core import (
    Check,
    Execution,
    GroupResult,
    Job,
    SandboxLimits,
    TestGroup,
)
from apr_eval.sandbox.docker_executor import (
    RESULT_BYTES,
    _encoded_inputs,
    _group_result,
    infra_error,
)
from apr_eval.sandbox.wasm_host import FUEL_PER_SECOND, GroupPlan, run_group
from apr_eval.sandbox.wasm_runtime import guest_digest, guest_dir, open_runtime

REFERENCE_S = 60.0  # per-input allowance of a reference program being measured (ground truth)
WALL_FACTOR = 30.0  # wall seconds per second of fuel before the epoch backstop stops a guest
_MEMORY_CAP = 4 << 30  # wasm32: 4 GiB of linear memory at most


class FuelReferences:
    """Canonical fuel per input, one JSON line per (reference, group inputs, guest)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._known: dict[str, list[int]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    item = json.loads(line)
                    self._known[str(item["key"])] = [int(x) for x in item["fuel"]]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line is measured again

    def get(self, key: str) -> list[int] | None:
        with self._lock:
            return self._known.get(key)

    def put(self, key: str, fuel: Sequence[int]) -> None:
        with self._lock:
            self._known[key] = list(fuel)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, "fuel": list(fuel)}) + "\n")


def reference_key(job: Job, group: TestGroup, guest: str) -> str:
    """What the reference's fuel depends on: the guest, the program and how it is run, and
    the group's inputs (their digest is computed once per group)."""
    h = hashlib.sha256(json.dumps([guest, job.reference, job.mode.value, job.entry_point,
                                   job.guard, group.digest_over, _inputs_digest(group)])
                       .encode())
    return h.hexdigest()


_DIGESTS: dict[int, str] = {}


def _inputs_digest(group: TestGroup) -> str:
    hit = _DIGESTS.get(id(group))
    if hit is None:
        hit = hashlib.sha256(json.dumps(_encoded_inputs(group)).encode()).hexdigest()
        _DIGESTS[id(group)] = hit
        weakref.finalize(group, _DIGESTS.pop, id(group), None)
    return hit


def fuel_budgets(job: Job, group: TestGroup, reference: Sequence[int] | None,
                 limits: SandboxLimits) -> tuple[int, ...]:
    """Fuel of each metered call: the LCB stdin load (if any), then each input."""
    if reference is None:
        per_input = tuple(int(t * FUEL_PER_SECOND) for t in group.time_limits)
    else:
        floor = limits.min_time_limit_s * FUEL_PER_SECOND
        per_input = tuple(int(max(floor, limits.time_limit_factor * r)) for r in reference)
    if _load_metered(job):
        return (max(per_input, default=FUEL_PER_SECOND), *per_input)
    return per_input


def _load_metered(job: Job) -> bool:
    return job.mode.value == "stdio" and job.guard == "lcb"


def _payload(job: Job, group: TestGroup, code: str, output_bytes: int) -> bytes:
    return json.dumps({
        "job": {"id": "j", "code": code, "mode": job.mode.value, "entry": job.entry_point,
                "guard": job.guard},
        "group": {"inputs": _encoded_inputs(group), "limits": list(group.time_limits),
                  "deadline": group.budget(), "digest_over": group.digest_over,
                  "max_weight": group.max_weight, "iterate": group.iterate_outputs},
        "output_bytes": output_bytes}).encode()


class WasmExecutor:
    name = "wasm"

    def __init__(self, cache_dir: Path | None = None) -> None:
        if cache_dir is None:
            from apr_eval.settings import load_settings

            cache_dir = load_settings().cache_dir
        self._runtime = open_runtime(cache_dir)
        self._digest = guest_digest()
        self._guest = guest_dir(self._runtime, cache_dir)
        self._own_runs: dict[str, GroupResult] = {}
        self.references = FuelReferences(cache_dir / "wasm" / f"fuel-{self._digest[5:17]}.jsonl")

    def __del__(self) -> None:
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.close()

    @property
    def image_digest(self) -> str:
        return self._digest

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        todo = list(checks)
        self.measure(todo, limits)
        try:
            with ThreadPoolExecutor(max(1, limits.workers)) as pool:
                futures = [pool.submit(self.judge, c, limits) for c in todo]
                for fut in as_completed(futures):
                    yield fut.result()
        finally:
            self._own_runs.clear()

    def judge(self, check: Check, limits: SandboxLimits) -> Execution:
        """Every group of one check, each in its own instance; the verdict from the judge."""
        try:
            results = [self.run_group(check.job, g, limits) for g in check.job.groups]
        except Exception as exc:  # noqa: BLE001 - the harness failed, not the sample
            return infra_error(check, f"wasm executor: {type(exc).__name__}: {exc}")
        return check.judge(results)

    def run_group(self, job: Job, group: TestGroup, limits: SandboxLimits) -> GroupResult:
        reference = None
        if job.reference:
            key = reference_key(job, group, self._digest)
            if job.code == job.reference and key in self._own_runs:
                return self._own_runs[key]  # the reference itself: its measuring run
            reference = self.references.get(key)
        return self._run(job, group, job.code, fuel_budgets(job, group, reference, limits),
                         limits)[0]

    def _run(self, job: Job, group: TestGroup, code: str, budgets: tuple[int, ...],
             limits: SandboxLimits) -> tuple[GroupResult, list[int]]:
        """One group in one instance: its result and the fuel of each input it finished."""
        plan = GroupPlan(_payload(job, group, code, limits.output_bytes), budgets,
                         pool=int(group.budget() * FUEL_PER_SECOND),
                         wall_s=WALL_FACTOR * (group.budget() + sum(budgets) / FUEL_PER_SECOND),
                         memory_bytes=min(_MEMORY_CAP, limits.memory_mb << 20),
                         output_bytes=limits.output_bytes, result_bytes=RESULT_BYTES,
                         load_metered=_load_metered(job))
        run = run_group(self._runtime, self._guest, plan)
        result = _group_result({**run.record, "group": group.name}, group)
        fuel = run.fuel[1:] if plan.load_metered else run.fuel
        return _with_fuel_times(result, fuel), fuel

    # ------------------------------------------------------------ reference fuel

    def measure(self, checks: Sequence[Check], limits: SandboxLimits) -> None:
        """Measure the canonical fuel of every (reference, group) not yet in the cache."""
        wanted: dict[str, tuple[Job, TestGroup]] = {}
        for check in checks:
            if not check.job.reference:
                continue
            for group in check.job.groups:
                key = reference_key(check.job, group, self._digest)
                if key not in wanted and self.references.get(key) is None:
                    wanted[key] = (check.job, group)
        if not wanted:
            return
        with ThreadPoolExecutor(max(1, limits.workers)) as pool:
            futures = {pool.submit(self.measure_reference, job, group, limits): key
                       for key, (job, group) in wanted.items()}
            for fut in as_completed(futures):
                fuel, result = fut.result()
                self.references.put(futures[fut], fuel)
                self._own_runs[futures[fut]] = result

    def measure_reference(self, job: Job, group: TestGroup, limits: SandboxLimits
                          ) -> tuple[list[int], GroupResult]:
        """The reference program's fuel on each input (inputs it did not finish: the cap),
        and its result: run as a sample is, but with ``REFERENCE_S`` of fuel per input, so
        a sample that *is* the reference (a self-check) is judged on this very run."""
        cap = int(REFERENCE_S * FUEL_PER_SECOND)
        n = len(group.inputs)
        budgets = ((cap,) if _load_metered(job) else ()) + (cap,) * n
        result, fuel = self._run(job, group, job.reference, budgets, limits)
        return fuel + [cap] * (n - len(fuel)), result


def _with_fuel_times(result: GroupResult, fuel: Sequence[int]) -> GroupResult:
    """Outcome durations in native-equivalent seconds of fuel (the guest's clocks are not
    the host's CPU time)."""
    outcomes = tuple(dataclasses.replace(o, duration_s=fuel[i] / FUEL_PER_SECOND)
                     if i < len(fuel) else o for i, o in enumerate(result.outcomes))
    return dataclasses.replace(result, outcomes=outcomes)
