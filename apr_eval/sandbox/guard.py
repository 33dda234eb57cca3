"""Process-level conventions the reference harnesses run programs under. Stdlib only.

This is *semantics*, not security: the container is the security boundary. evalplus executes
every sample under ``reliability_guard`` (``open``, ``exit``, ``os.remove``... replaced by
``None``) with stdin/stdout/stderr swallowed and a SIGALRM per input; a program that calls
``open()`` fails there, so it must fail here too or verdicts drift. ``reliability_guard`` below
mirrors ``evalplus.eval.utils.reliability_guard`` (0.3.1) line for line; evalplus itself cannot
be imported inside the sandbox image (it pulls numpy, psutil, tree-sitter, openai...).
"""

from __future__ import annotations

import builtins
import contextlib
import faulthandler
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

EVALPLUS_MAX_MEMORY = 4 * 1024 * 1024 * 1024


class TimeoutException(Exception):
    pass


_ENCODABLE = (str, bytes, list, tuple, set, frozenset, dict, int, float, complex, type(None))


def consumed(value: Any) -> Any:
    """An output the reference consumes as an iterable (evalplus's ``set(out)`` on MBPP+'s
    set-equality tasks), as a list where it is lazy (a generator, ``map``, ``zip``, a numpy
    array...): the reference compares its elements, which are encodable where the iterator is
    not. Called under the input's time limit, as the reference's ``set(out)`` runs under its."""
    if isinstance(value, _ENCODABLE):
        return value
    try:
        items = iter(value)
    except TypeError:  # not iterable: the host's set(...) fails it, as the reference's does
        return value
    return list(items)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """evalplus's per-input limit, counted in CPU seconds (ITIMER_PROF), not wall seconds.

    evalplus uses the wall clock, so its verdicts move with machine load: a correct O(n^3)
    solution times out while another job shares the core. The limits here are derived from
    the canonical solution's CPU time too, so the ratio holds under load. Programs that sleep
    or block burn no CPU; the group's wall-clock deadline (enforced by the runner and, as a
    backstop, by the host) stops those.
    """

    def handler(signum: int, frame: Any) -> None:
        raise TimeoutException("Timed out!")

    signal.signal(signal.SIGPROF, handler)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


# What a function-mode program may print within one call. evalplus keeps it in a
# ``WriteOnlyStringIO`` per call (under its 4 GiB address-space limit); lcb_runner lets
# call-based programs print to its real stdout. Nothing is kept here, so only that memory
# bound is mirrored; a runaway printer runs into its CPU-time limit first.
SWALLOWED_BYTES = EVALPLUS_MAX_MEMORY


def out_of_memory() -> None:
    raise MemoryError("printed more than the reference harness could hold")


class Sink(io.StringIO):
    """evalplus's ``WriteOnlyStringIO``, but it keeps nothing and stops a runaway printer."""

    def __init__(self, cap: int, on_limit: Callable[[], object]) -> None:
        super().__init__()
        self.cap, self.count, self.on_limit = cap, 0, on_limit

    def write(self, s: str) -> int:
        self.count += len(s)
        if self.count > self.cap:
            self.on_limit()
        return len(s)

    def read(self, *args: Any, **kwargs: Any) -> str:
        raise OSError

    def readline(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        raise OSError

    def readlines(self, *args: Any, **kwargs: Any) -> list[str]:  # type: ignore[override]
        raise OSError

    def readable(self, *args: Any, **kwargs: Any) -> bool:
        return False


class Capture(io.StringIO):
    """Captured stdout of a stdin/stdout program, counted against the same cap."""

    def __init__(self, sink: Sink) -> None:
        super().__init__()
        self.sink = sink

    def write(self, s: str) -> int:
        self.sink.write(s)
        return super().write(s)


@contextlib.contextmanager
def swallowed(sink: Sink) -> Iterator[None]:
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        saved, sys.stdin = sys.stdin, sink
        try:
            yield
        finally:
            sys.stdin = saved


@contextlib.contextmanager
def stdio(text: str, captured: Capture) -> Iterator[None]:
    saved_in = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        sys.stdin = saved_in


# How deep a sample's function may recurse under evalplus 0.3.1 (its CLI: the function is
# called 30 frames down, under the default limit of 1000): measured on this machine with a
# probing sample (perf/evalplus_differential.py's recursion-* classes check it). The runner's
# own call path is shorter, so a sample recursing 966-987 deep would pass here and fail there.
EVALPLUS_HEADROOM = 965
_DEFAULT_RECURSION_LIMIT = 1000
_getlimit, _setlimit = sys.getrecursionlimit, sys.setrecursionlimit


def _probe() -> int:
    """How many nested calls fit below the caller of this function."""
    n = 0

    def down() -> None:
        nonlocal n
        n += 1
        down()

    try:
        down()
    except RecursionError:
        pass
    return n


def _nest(levels: int, fn: Callable[..., Any], args: Any) -> Any:
    return _nest(levels - 1, fn, args) if levels > 0 else fn(*args)


def at_headroom(fn: Callable[..., Any], headroom: int) -> Callable[..., Any]:
    """``fn`` called ``headroom`` nested calls away from the recursion limit (under the default
    limit), by padding the stack; a limit the program sets itself moves both alike. The pad
    is probed once, at the first call, from the same depth as every later call."""
    pad: list[int] = []

    def call(*args: Any) -> Any:
        if not pad:
            saved = _getlimit()
            _setlimit(_DEFAULT_RECURSION_LIMIT)
            try:
                # the probe starts one frame above fn, and fn(*args) costs two more levels
                pad.append(max(0, _probe() - 3 - headroom))
            finally:
                _setlimit(saved)
        return _nest(pad[0], fn, args)

    return call


def resolve(env: dict[str, Any], entry: str) -> Callable[..., Any]:
    """``f`` -> ``env["f"]``; ``Solution.method`` -> ``getattr(env["Solution"](), "method")``."""
    owner, _, method = entry.partition(".")
    if method:
        return getattr(env[owner](), method)  # type: ignore[no-any-return]
    return env[entry]  # type: ignore[no-any-return]


def _memory_bytes() -> int:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        total = EVALPLUS_MAX_MEMORY
    return min(EVALPLUS_MAX_MEMORY, total)


def reliability_guard() -> None:
    import resource

    limit = _memory_bytes()
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (limit, limit))
    _disable_shared()
    b: Any = builtins
    b.exit = None
    b.open = None


def _disable_shared() -> None:
    """What evalplus's and lcb_runner's ``reliability_guard`` both disable."""
    faulthandler.disable()
    b: Any = builtins
    b.quit = None
    b.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    o: Any = os
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace",
                 "unlink", "fchmod", "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod",
                 "lchown", "getcwd", "chdir"):
        setattr(o, name, None)
    _disable_signal_senders()

    import shutil
    import subprocess

    s: Any = shutil
    s.rmtree = None
    s.move = None
    s.chown = None
    sp: Any = subprocess
    sp.Popen = None
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[mod] = None  # type: ignore[assignment]


def _disable_signal_senders() -> None:
    """Beyond the references' list: every other name that sends a signal to another process
    (``posix.kill`` is ``os.kill`` under its own module's name). A program still reaching
    ``kill(2)`` some other way (ctypes) finds the runner ignoring signals (lockdown)."""
    import posix

    p: Any = posix
    for name in ("kill", "killpg"):
        setattr(p, name, None)
    s: Any = signal
    for name in ("pthread_kill", "pidfd_send_signal"):
        if hasattr(s, name):
            setattr(s, name, None)


# ---------------------------------------------------------------- LiveCodeBench conventions
# lcb_runner (lcb_runner/evaluation/testing_util.py) runs every program after its own
# ``reliability_guard`` with no memory limit: the same ``os``/``shutil``/``subprocess`` names are
# disabled, ``quit`` and ``help`` are ``None``, but ``exit`` and ``open`` stay usable.


def lcb_guard() -> None:
    _disable_shared()


class LcbStdin(io.StringIO):
    """The ``sys.stdin`` a program sees while it loads (``from sys import stdin`` keeps it).

    lcb_runner patches ``sys.stdin.readline/readlines/read`` *before* it swaps ``sys.stdin`` for
    a ``StringIO`` of the input, so the patches land on this original object: during a call its
    ``readline()`` returns the next input line without ``\\n`` (``StopIteration`` past the end),
    ``readlines()`` the input split on ``\\n``, ``read()`` the whole input; everything else reads
    an empty stream, as the real (``/dev/null``) stdin upstream does.
    """

    def __init__(self) -> None:
        super().__init__("")
        self.text: str | None = None
        self.lines: Iterator[str] = iter(())
        self.buffer: Any = io.BytesIO(b"")

    def readline(self, *args: Any) -> str:  # type: ignore[override]
        return next(self.lines) if self.text is not None else super().readline(*args)

    def readlines(self, *args: Any) -> list[str]:  # type: ignore[override]
        return self.text.split("\n") if self.text is not None else super().readlines(*args)

    def read(self, *args: Any) -> str:
        return self.text if self.text is not None else super().read(*args)


@contextlib.contextmanager
def lcb_stdio(text: str, captured: Capture, load_stdin: LcbStdin) -> Iterator[None]:
    """One lcb_runner call: stdin = a plain StringIO of ``text``; ``SystemExit`` is swallowed."""
    load_stdin.text, load_stdin.lines = text, iter(text.split("\n"))
    saved_in = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        with contextlib.redirect_stdout(captured), contextlib.suppress(SystemExit):
            yield
    finally:
        sys.stdin = saved_in
        load_stdin.text, load_stdin.lines = None, iter(())
