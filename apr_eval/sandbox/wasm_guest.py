"""The WASM guest's entry script: one test group of one job, inside CPython 3.12 on WASI.

Stdlib only; it runs in the guest from the read-only ``/apr`` tree beside the very runner,
codec and guard files the Docker image holds, and drives the runner's own per-input loop
(``runner._each_input`` through ``_run_function`` / ``_run_stdio`` / ``_run_lcb_stdio``). What
differs from the container is only what WASI lacks (no fork, no signals, no ``resource``):

- the per-input CPU limit (``guard.time_limit``) becomes a pair of host calls (``fsync`` and
  ``fdatasync`` of the record channel, fd 1): the host meters every input in fuel between them
  and stops the guest when an input's fuel runs out (see ``wasm_host``);
- outcome lines go to fd 1 as soon as they are made (the host reads fuel per input);
- the program's own stdout/stderr are fd 2, counted by the host against the printed-bytes cap.

Input on stdin: ``{"job": {...}, "group": {...}, "output_bytes": N}`` in the runner's format.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import math
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

RECORDS = 1


@contextlib.contextmanager
def metered(seconds: float, _begin: Any = os.fsync, _end: Any = os.fdatasync) -> Iterator[None]:
    """Replaces ``guard.time_limit``: the host, not the guest, counts and enforces the limit.
    ``fsync``/``fdatasync`` of the record channel are the host's input boundaries."""
    _begin(RECORDS)
    try:
        yield
    finally:
        _end(RECORDS)


def _no_resource() -> types.ModuleType:
    """WASI has no ``resource``; evalplus's guard sets rlimits the host's store limits replace."""
    module = types.ModuleType("resource")
    module.RLIMIT_AS, module.RLIMIT_DATA, module.RLIMIT_STACK = 9, 2, 3  # type: ignore[attr-defined]

    def setrlimit(*args: object) -> None:
        raise OSError("no rlimits in WASI")

    module.setrlimit = setrlimit  # type: ignore[attr-defined]
    return module


def _no_supervision() -> None:
    """The runner's PID-1 modules (``lockdown``: prctl and seccomp through ctypes, cgroup CPU;
    ``supervisor``: pidfds, select) supervise forked children in the container. The guest has
    no ctypes and no children to supervise, and its CPU is metered in fuel by the host, so it
    gets stand-ins: the per-input loop it runs uses neither."""
    lockdown = types.ModuleType("apr_eval.sandbox.lockdown")
    supervisor = types.ModuleType("apr_eval.sandbox.supervisor")
    supervisor.KINDS = ("returned", "raised", "timed_out")  # type: ignore[attr-defined]
    sys.modules[lockdown.__name__], sys.modules[supervisor.__name__] = lockdown, supervisor


_NO_SUM = {str: "''.join(seq)", bytes: "b''.join(seq)", bytearray: "b''.join(seq)"}


def sum_311(iterable: Any, /, start: Any = 0) -> Any:
    """CPython 3.11's ``sum`` (the reference's interpreter): plain left-to-right ``+``. The
    guest's 3.12 adds floats with Neumaier compensation, so float sums differ in the last bits,
    and an iteration that amplifies them ends elsewhere: HumanEval/32's canonical Newton
    iteration converged on plus#30 under 3.11 and wandered for 1000 steps under 3.12."""
    for kind, instead in _NO_SUM.items():
        if isinstance(start, kind):
            what = "strings" if kind is str else kind.__name__
            raise TypeError(f"sum() can't sum {what} [use {instead} instead]")
    result = start
    for item in iterable:
        result = result + item
    return result


_C_POW = math.pow
_EXACT_POW_MAX = 64  # exponents up to this size are computed exactly (numerators stay small)


def pow_rounded(x: Any, y: Any, /) -> float:
    """``math.pow`` correctly rounded for integral exponents, as glibc's (the reference's C
    library) is in practice. wasi-libc's ``pow`` is one ulp off on some arguments:
    ``math.pow(131456790.14347894, 4)`` is 2.9862907882997606e+32 there, 2.986290788299761e+32
    under glibc and exactly rounded; HumanEval/32's canonical Newton iteration (``poly`` uses
    ``math.pow``) amplified that ulp and stopped one ulp from the root on plus#650. The C
    ``pow`` still decides types, domain errors, overflow and the special values; for a finite
    result with an integral exponent the value is ``x ** n`` in exact rational arithmetic,
    rounded once (int true division is correctly rounded). ``x ** y`` on floats still calls
    the C ``pow`` (not replaceable from Python); see docs/wasm.md."""
    result = _C_POW(x, y)
    fx, fy = float(x), float(y)
    if not (math.isfinite(result) and fx and math.isfinite(fx) and fy.is_integer()):
        return result
    n = int(fy)
    if abs(n) > _EXACT_POW_MAX:
        return result
    num, den = fx.as_integer_ratio()
    if n < 0:
        num, den, n = den, num, -n
    top: int = num**n
    bottom: int = den**n
    try:
        return top / bottom
    except OverflowError:
        return result


def main() -> None:
    builtins.sum = sum_311
    math.pow = pow_rounded
    sys.modules["resource"] = _no_resource()
    _no_supervision()
    from apr_eval.sandbox import codec, guard, runner

    payload = json.loads(sys.stdin.read())
    job, raw = payload["job"], payload["group"]
    group = {**raw, "inputs": [codec.decode(x) for x in raw["inputs"]]}
    guard.time_limit = metered
    runner.CHUNK = 0  # every outcome line reaches the host when it is made
    # The runner's clock readings (durations, flush timing) would each be a host call here:
    # durations come from the host's fuel count instead, and every line is flushed anyway.
    setattr(runner, "time", types.SimpleNamespace(process_time=float, monotonic=float))  # noqa: B010
    printed = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    for name in ("stdout", "__stdout__", "stderr", "__stderr__"):
        setattr(sys, name, printed)
    res = runner._Results(RECORDS)

    def on_limit() -> None:
        runner._end(res, "output_limit")
        os._exit(0)

    sink = guard.Sink(int(payload["output_bytes"]), on_limit)
    if job["mode"] != "stdio":  # swallowed per call as evalplus does, as in the Docker runner
        sink = guard.Sink(guard.SWALLOWED_BYTES, guard.out_of_memory)
    os.chdir("/tmp")
    if job.get("guard") == "evalplus":
        guard.reliability_guard()
    elif job.get("guard") == "lcb":
        guard.lcb_guard()
    run = runner._run_function
    if job["mode"] == "stdio":
        run = runner._run_lcb_stdio if job.get("guard") == "lcb" else runner._run_stdio
    run(res, job, group, sink)
    res.flush()


if __name__ == "__main__":
    main()
