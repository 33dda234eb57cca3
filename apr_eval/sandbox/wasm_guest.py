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
import cmath
import contextlib
import functools
import io
import itertools
import json
import math
import operator
import os
import sys
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decimal import Decimal

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


_C_SUM = sum
_INTS = frozenset((int, bool))
_SEQUENCES = frozenset((list, tuple))
_CHUNK = 4096


def _range_total(r: range) -> int:
    """The exact sum of a range's ints. The guest's C ``sum`` keeps its fast int total in a C
    ``long``, 32 bits on wasm32, and falls back to one big-int addition per item once the total
    passes 2**31: Mbpp/599's canonical ``sum(range(1, 10**8 + 1))`` took minutes per input."""
    count = max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)
    return count * r.start + r.step * count * (count - 1) // 2


def sum_311(iterable: Any, /, start: Any = 0) -> Any:
    """CPython 3.11's ``sum`` (the reference's interpreter): plain left-to-right ``+``. The
    guest's 3.12 adds floats with Neumaier compensation, so float sums differ in the last bits,
    and an iteration that amplifies them ends elsewhere: HumanEval/32's canonical Newton
    iteration converged on plus#30 under 3.11 and wandered for 1000 steps under 3.12.

    Speed: integer addition is exact, so the order does not matter for ints: a ``range`` is
    summed in closed form, a list or tuple of ints and, while the total is an exact int,
    chunks of any iterable by the C ``sum``. From the first other item on,
    ``functools.reduce(operator.add, ...)`` adds left to right in C, ``PyNumber_Add`` for
    every item, as 3.11's generic loop (and its float loop, in value) does."""
    for kind, instead in _NO_SUM.items():
        if isinstance(start, kind):
            what = "strings" if kind is str else kind.__name__
            raise TypeError(f"sum() can't sum {what} [use {instead} instead]")
    if type(start) is int and type(iterable) is range:
        return start + _range_total(iterable)
    if type(start) is int and type(iterable) in _SEQUENCES and set(map(type, iterable)) <= _INTS:
        return _C_SUM(iterable, start)
    items = iter(iterable)
    result = start
    while type(result) is int:
        chunk = list(itertools.islice(items, _CHUNK))
        if not chunk:
            return result
        if not set(map(type, chunk)) <= _INTS:
            return functools.reduce(operator.add, items, functools.reduce(operator.add, chunk,
                                                                          result))
        result = result + _C_SUM(chunk)
    return functools.reduce(operator.add, items, result)


_C_POW = math.pow
_EXACT_POW_BITS = 1 << 16  # exact when |n| x the operands' bits stays under this (fast big ints)


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
    num, den = fx.as_integer_ratio()
    if abs(n) * max(abs(num).bit_length(), den.bit_length()) > _EXACT_POW_BITS:
        return result
    if n < 0:
        num, den, n = den, num, -n
    top: int = num**n
    bottom: int = den**n
    try:
        return top / bottom
    except OverflowError:
        return result


_ATAN_DIGITS = 50
_C_ATAN2 = math.atan2
_C_PHASE = cmath.phase
_C_POLAR = cmath.polar


@functools.cache
def _pi() -> Decimal:
    """Imported on first use: most samples never need ``decimal`` (an import per guest)."""
    from decimal import Decimal

    return Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def _atan(t: Decimal) -> Decimal:
    """atan(t) for t > 0 to ~``_ATAN_DIGITS`` digits: halve the angle until t <= 1/8, then
    the Taylor series."""
    if t > 1:
        return _pi() / 2 - _atan(1 / t)
    halvings = 0
    while t > _pi() / 25:  # ~0.1257
        t = t / (1 + (1 + t * t).sqrt())
        halvings += 1
    total, power, square, k = t, t, t * t, 3
    tiny = t.scaleb(2 - _ATAN_DIGITS)
    while True:
        power = -power * square
        term = power / k
        if abs(term) < tiny:
            return total * (1 << halvings)
        total += term
        k += 2


def atan2_rounded(y: float, x: float) -> float:
    """``atan2`` correctly rounded (a 50-digit series, rounded once). wasi-libc's is musl's,
    off by the last bit near halfway cases that glibc (the reference's) rounds correctly:
    ``cmath.polar(complex(-4, -6))`` on Mbpp/590. Zeros, infinities and NaNs keep the C
    function's result. ~30 µs natively: only ``cmath.phase``/``polar`` use it (see
    docs/wasm.md for why ``math.atan2`` does not)."""
    result = _C_ATAN2(y, x)
    if not (math.isfinite(y) and math.isfinite(x) and y and x):
        return result
    from decimal import Decimal, localcontext

    with localcontext(prec=_ATAN_DIGITS):
        angle = _atan(Decimal(abs(y)) / Decimal(abs(x)))
        if x < 0:
            angle = _pi() - angle
    return math.copysign(float(angle), y)


def hypot_rounded(x: float, y: float) -> float:
    """``abs(complex(x, y))`` correctly rounded (a 50-digit square root, rounded once): the C
    ``hypot`` behind it is wasi-libc's in the guest (Mbpp/590 plus#36 differs in the last
    bit); glibc's agrees with the correctly rounded value on all but ~0.06% of arguments
    (measured). Zeros, infinities and NaNs keep the C function's result."""
    result = abs(complex(x, y))
    if not (math.isfinite(x) and math.isfinite(y) and x and y):
        return result
    from decimal import Decimal, localcontext

    with localcontext(prec=_ATAN_DIGITS):
        return float((Decimal(x) ** 2 + Decimal(y) ** 2).sqrt())


def phase_rounded(z: Any, /) -> float:
    result = _C_PHASE(z)  # types and errors as the C function's
    w = complex(z)
    return atan2_rounded(w.imag, w.real) if math.isfinite(result) else result


def polar_rounded(z: Any, /) -> tuple[float, float]:
    modulus, phi = _C_POLAR(z)  # types, errors and overflow as the C function's
    w = complex(z)
    if not math.isfinite(phi):
        return modulus, phi
    return hypot_rounded(w.real, w.imag), atan2_rounded(w.imag, w.real)


# wasm32 against the reference's 64-bit CPython 3.11: objects made only of pointer-sized
# fields are exactly twice as large there; these have fixed extra header bytes (measured).
_SIZE_DOUBLED = frozenset((tuple, list, set, frozenset, range))
_SIZE_EXTRA = {int: 12, bool: 12, float: 8, complex: 8, bytes: 16, type(None): 8}
_ASCII_STR_EXTRA = 28
_C_GETSIZEOF = sys.getsizeof


def getsizeof_64(obj: Any, *default: Any) -> int:
    """``sys.getsizeof`` as 64-bit CPython 3.11 reports it, for the built-in types whose
    layout maps exactly (Mbpp/596 compares tuple sizes); other types keep the guest's size."""
    size: int = _C_GETSIZEOF(obj, *default)
    kind = type(obj)
    if kind in _SIZE_DOUBLED:
        return 2 * size
    if kind is str and obj.isascii():
        return size + _ASCII_STR_EXTRA
    return size + _SIZE_EXTRA.get(kind, 0)


def as_64_bit() -> None:
    """What a sample sees of the word size is the reference's: ``sys.maxsize`` (a common
    sentinel in solutions) and ``sys.getsizeof``."""
    sys.maxsize = (1 << 63) - 1
    sys.getsizeof = getsizeof_64  # type: ignore[assignment]


def main() -> None:
    builtins.sum = sum_311
    math.pow = pow_rounded
    cmath.phase, cmath.polar = phase_rounded, polar_rounded
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
    as_64_bit()
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
