"""One test group in one fresh WASM instance, every input metered in fuel by the host.

How per-input fuel is observed (and why the sample cannot forge it): the runner's per-input
limit in the guest is a pair of host calls, ``os.fsync(1)`` before the input and
``os.fdatasync(1)`` after it. Those WASI imports are the host's own functions here, and inside
them the host reads the store's fuel and *sets* it: at a start, to that input's budget (the
guest's remaining fuel for loading and reporting is put aside); at an end, back to what was put
aside. Fuel is counted by the engine and read and set only by the host, between guest
instructions. Budgets are taken in order, at most one per input; starts and ends must
alternate (anything else stops the group as crashed). So a program that makes those calls
itself can at most move fuel between its own inputs: it never gets more than the sum of its
inputs' budgets plus one allowance for loading and reporting, and never touches another group.

Other limits, all from the host: memory (the store's limit; CPython raises ``MemoryError``,
judged OOM as in the container), record bytes (fd 1) and printed bytes (fd 2) counted as they
are written, a wall-clock backstop (the engine's epoch), and sleeping: ``poll_oneoff`` on clocks
returns at once and is charged in fuel, so ``time.sleep(60)`` times out like a busy loop.
"""

from __future__ import annotations

import json
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apr_eval.sandbox import lockdown, supervisor
from apr_eval.sandbox.wasm_guest import RECORDS
from apr_eval.sandbox.wasm_runtime import EPOCH_TICK_S, Runtime

# Fuel the guest burns for the work native CPython 3.11 does in one CPU second (measured on
# CPU-bound code, perf/wasm_vs_docker.py): turns the harness's seconds into the guest's currency.
FUEL_PER_SECOND = 20_000_000_000
WASI = "wasi_snapshot_preview1"
_NS = 1_000_000_000
MEMORY_SLACK = 16 << 20  # a failed growth this close to the cap is the cap's
BEGIN, END = "begin", "end"


@dataclass(frozen=True)
class GroupPlan:
    """What one instance runs, and the fuel it may burn."""

    payload: bytes  # {"job", "group", "output_bytes"} for wasm_guest.py
    budgets: tuple[int, ...]  # fuel of each metered call in order (LCB stdin: the load first)
    pool: int  # fuel outside metered calls: start-up, loading, reporting
    wall_s: float  # epoch backstop
    memory_bytes: int
    output_bytes: int
    result_bytes: int
    load_metered: bool = False


@dataclass
class GroupRun:
    record: dict[str, Any]  # in the runner's group-record format
    fuel: list[int] = field(default_factory=list)  # fuel each metered call used


def _get_fuel(ctx: Any) -> int:
    from wasmtime import Store

    return int(Store.get_fuel(ctx))  # the caller's store context, read inside the call


def _set_fuel(ctx: Any, fuel: int) -> None:
    from wasmtime import Store

    Store.set_fuel(ctx, max(0, fuel))


class _Meter:
    """The host's side of one instance: fuel per input, the record channel, printed bytes."""

    def __init__(self, plan: GroupPlan) -> None:
        self.plan = plan
        # The runner's own record parser; CPU is metered in fuel here, so its outside CPU
        # watch is off (no caps).
        self.record = supervisor.Group(
            0, 0, 0, {"output_bytes": plan.output_bytes, "result_bytes": plan.result_bytes},
            n_inputs=len(plan.budgets) - plan.load_metered,
            watch=lockdown.CpuWatch(lockdown.CpuMeter(), 0, None, 0.0))
        self.calls = 0
        self.in_call = False
        self.aside = 0
        self.used: list[int] = []
        self.forced, self.detail = "", ""
        self.slept = 0  # nanoseconds of sleep the guest was charged for in fuel

    def stop(self, ctx: Any, end: str, detail: str) -> None:
        """End the guest at its next instruction (no fuel left), with the host's reason."""
        if not self.forced:
            self.forced, self.detail = end, detail
        _set_fuel(ctx, 0)

    def boundary(self, ctx: Any, mark: str) -> None:
        budgets = self.plan.budgets
        if mark == BEGIN:
            if self.in_call or self.calls >= len(budgets):
                self.stop(ctx, "crashed", "input boundary out of order")
                return
            self.aside = _get_fuel(ctx)
            _set_fuel(ctx, budgets[self.calls])
            self.in_call = True
            return
        if not self.in_call:
            self.stop(ctx, "crashed", "input boundary out of order")
            return
        self.used.append(budgets[self.calls] - _get_fuel(ctx))
        self.calls += 1
        self.in_call = False
        _set_fuel(ctx, self.aside)

    def sync(self, caller: Any, fd: int) -> int:
        """``os.fsync(1)``: an input starts (other fds: nothing to sync in a scratch dir)."""
        if fd == RECORDS:
            self.boundary(caller, BEGIN)
        return 0

    def datasync(self, caller: Any, fd: int) -> int:
        """``os.fdatasync(1)``: an input ends."""
        if fd == RECORDS:
            self.boundary(caller, END)
        return 0

    def records(self, data: bytes) -> int | None:
        """fd 1, the record channel (outcome lines), capped at ``result_bytes``."""
        if self.record.feed_results(data):
            return None
        self.forced = self.forced or "output_limit"
        return -5  # EIO: the guest cannot write past the cap

    def printed(self, data: bytes) -> int | None:
        """fd 2, whatever the program prints past the runner, capped at ``output_bytes``."""
        if self.record.feed_output(data):
            return None
        self.forced = self.forced or "output_limit"
        return -5

    def clock(self, caller: Any, clock: int, precision: int, at: int) -> int:
        """The guest's clocks: the host's, plus the time it 'slept' (see ``poll_oneoff``)."""
        try:
            if clock in (0, 1):
                now = (time.time_ns() if clock == 0 else time.monotonic_ns()) + self.slept
            else:
                now = time.thread_time_ns()
            caller["memory"].write(caller, struct.pack("<Q", now), at)
        except Exception:  # noqa: BLE001 - a host error must not escape into wasmtime
            return 28  # EINVAL
        return 0

    def poll_oneoff(self, caller: Any, subs: int, events: int, count: int, nevents: int) -> int:
        """Sleeps (clock-only polls) return at once and cost their length in fuel; polls on
        files are not supported (a program has no file worth waiting for)."""
        try:
            memory = caller["memory"]
            raw = bytes(memory.read(caller, subs, subs + 48 * count))
            if count < 1 or any(raw[48 * i + 8] != 0 for i in range(count)):
                return 58  # ENOTSUP
            delay, userdata = min(self._clock_delay(raw, 48 * i) for i in range(count))
            fuel = _get_fuel(caller)
            charge = delay * FUEL_PER_SECOND // _NS
            _set_fuel(caller, fuel - charge if charge < fuel else 0)
            self.slept += delay
            memory.write(caller, struct.pack("<QHBx", userdata, 0, 0) + bytes(20), events)
            memory.write(caller, struct.pack("<I", 1), nevents)
        except Exception as exc:  # noqa: BLE001
            self.stop(caller, "crashed", f"host poll_oneoff: {type(exc).__name__}: {exc}")
        return 0

    def _clock_delay(self, raw: bytes, at: int) -> tuple[int, int]:
        """(nanoseconds until the subscription fires, its userdata)."""
        (userdata,) = struct.unpack_from("<Q", raw, at)
        (clock,) = struct.unpack_from("<I", raw, at + 16)
        (timeout,) = struct.unpack_from("<Q", raw, at + 24)
        (flags,) = struct.unpack_from("<H", raw, at + 40)
        if flags & 1:  # absolute, on the guest's clock
            now = (time.time_ns() if clock == 0 else time.monotonic_ns()) + self.slept
            timeout = max(0, timeout - now)
        return timeout, userdata


class _Linkers(threading.local):
    """Per thread: the linker with the shadowed imports and a plain WASI one for the rest.
    The shadows find the running instance's meter here (one instance per thread at a time)."""

    def __init__(self) -> None:
        self.meter: _Meter | None = None
        self.engine: Any = None
        self.linker: Any = None


_LINKERS = _Linkers()
_DEFINE = threading.Lock()  # wasmtime-py's registry of host functions is not thread-safe


def _linkers(engine: Any) -> _Linkers:
    import wasmtime as w

    state = _LINKERS
    if state.engine is engine:
        return state
    i32, i64 = w.ValType.i32(), w.ValType.i64()
    shadows = {
        "fd_sync": (w.FuncType([i32], [i32]), lambda c, fd: _current().sync(c, fd)),
        "fd_datasync": (w.FuncType([i32], [i32]), lambda c, fd: _current().datasync(c, fd)),
        "clock_time_get": (w.FuncType([i32, i64, i32], [i32]),
                           lambda c, *a: _current().clock(c, *a)),
        "poll_oneoff": (w.FuncType([i32] * 4, [i32]), lambda c, *a: _current().poll_oneoff(c, *a)),
    }
    with _DEFINE:
        linker = w.Linker(engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        for name, (ty, fn) in shadows.items():
            linker.define_func(WASI, name, ty, fn, access_caller=True)
    state.engine, state.linker = engine, linker
    return state


def _current() -> _Meter:
    meter = _LINKERS.meter
    if meter is None:  # pragma: no cover - only an instance of ours calls these
        raise RuntimeError("no wasm group running on this thread")
    return meter


def run_group(runtime: Runtime, guest_root: Path, plan: GroupPlan) -> GroupRun:
    """Run ``plan`` in a fresh store and instance with a fresh scratch dir; always a record."""
    import wasmtime as w

    meter = _Meter(plan)
    state = _linkers(runtime.engine)
    with tempfile.TemporaryDirectory(prefix="apr-wasm-") as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        stdin = Path(tmp) / "stdin.json"
        stdin.write_bytes(plan.payload)
        with _DEFINE:
            store = _store(w, runtime, plan, meter, guest_root, scratch, stdin)
        state.meter = meter
        try:
            outcome = _start(w, state.linker, store, runtime.module)
        finally:
            state.meter = None
            with _DEFINE:
                store.close()
    return GroupRun(_finish(meter, outcome), meter.used)


def _store(w: Any, runtime: Runtime, plan: GroupPlan, meter: _Meter, guest_root: Path,
           scratch: Path, stdin: Path) -> Any:
    wasi = w.WasiConfig()
    wasi.argv = ["python", "-B", "/apr/wasm_guest.py"]
    wasi.env = [("PYTHONHASHSEED", "0")]
    wasi.stdin_file = str(stdin)
    wasi.stdout_custom = meter.records
    wasi.stderr_custom = meter.printed
    wasi.preopen_dir(str(guest_root), "/apr", False)
    wasi.preopen_dir(str(scratch), "/tmp", True)
    store = w.Store(runtime.engine)
    store.set_wasi(wasi)
    store.set_limits(memory_size=plan.memory_bytes)
    store.set_fuel(plan.pool)
    store.set_epoch_deadline(max(1, int(plan.wall_s / EPOCH_TICK_S)))
    return store


@dataclass
class _Ending:
    how: str  # "exit" / "trap" / "error"
    what: Any  # exit code / TrapCode / message
    memory: int = 0  # bytes of linear memory when it ended


def _start(w: Any, linker: Any, store: Any, module: Any) -> _Ending:
    """Run the guest to its end, however it ends."""
    instance = None
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
        ending = _Ending("exit", 0)
    except w.ExitTrap as exc:
        ending = _Ending("exit", exc.code)
    except w.Trap as exc:
        ending = _Ending("trap", exc.trap_code)
    except w.WasmtimeError as exc:
        ending = _Ending("error", (str(exc).splitlines() or ["wasmtime error"])[0][:300])
    if instance is not None:
        ending.memory = instance.exports(store)["memory"].data_len(store)
    return ending


def _finish(meter: _Meter, ending: _Ending) -> dict[str, Any]:
    """The group record, as the container's runner would have written it."""
    from wasmtime import TrapCode

    g = meter.record
    body = g.outcomes()
    end, detail = meter.forced, meter.detail
    trap = ending.what if ending.how == "trap" else None
    if not end and trap is TrapCode.OUT_OF_FUEL:
        end, detail, body = _out_of_fuel(meter, body)
    elif not end and trap is TrapCode.INTERRUPT:
        end, detail = "timeout", "wall-clock backstop (epoch deadline)"
    if not end:
        end, detail = g.end, g.detail
    if not end:
        end = "crashed"
        detail = _crash_detail(ending)
    if end in ("crashed", "load_error") and _out_of_memory(ending, detail, meter.plan):
        end = "oom"
    if not detail and end != "completed":
        detail = g.stderr_tail.decode(errors="replace")
    outcomes = json.loads("[" + body + "]") if body else []
    return {"outcomes": outcomes, "end": end, "detail": detail[-2000:], "floats": g.floats,
            "heaviest": g.heaviest, "t": "group"}


def _crash_detail(ending: _Ending) -> str:
    from wasmtime import TrapCode

    if ending.how == "exit":
        return f"exit {ending.what} before reporting"
    if ending.what is TrapCode.MEMORY_OUT_OF_BOUNDS:
        # The WASI build's C stack sits below address 0 of linear memory: overflowing it
        # (recursion through C: lru_cache, sorted(key=...), deep repr) faults there.
        return "trap: the guest's C stack overflowed (deep recursion through C code)"
    return f"{ending.how}: {ending.what}"


def _out_of_memory(ending: _Ending, detail: str, plan: GroupPlan) -> bool:
    """Loading failed with MemoryError, or the interpreter died with its memory at the cap (the
    container's cgroup would have killed it: OOM there too)."""
    return detail.startswith("MemoryError") or (
        ending.memory + MEMORY_SLACK >= plan.memory_bytes)


def _out_of_fuel(meter: _Meter, body: str) -> tuple[str, str, str]:
    if not meter.in_call:
        return "timeout", "fuel for loading and reporting ran out", body
    if meter.plan.load_metered and meter.calls == 0:
        return "load_error", "TimeoutException: Timed out!", body
    spent = meter.plan.budgets[meter.calls] / FUEL_PER_SECOND
    line = json.dumps(["timed_out", None, "", spent])
    return "stopped", "", f"{body},{line}" if body else line
