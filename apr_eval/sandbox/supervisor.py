"""The runner's parent side: watching one group's child. Stdlib only; baked into the image.

Everything the child sends is untrusted: the result pipe is parsed with a bounded nesting depth,
bounded bytes and strict UTF-8, outcome lines beyond the group's inputs make the group crashed,
and the child's CPU is counted from outside (lockdown.CpuWatch). The child's exit is watched
through a pidfd, so a child that closes its pipes and lingers is stopped at the deadline, not
waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from apr_eval.sandbox.lockdown import CpuWatch

KINDS = ("returned", "raised", "timed_out")
CHUNK = 1 << 16
POLL_S = 0.05  # how often CPU is checked while the child is quiet
PARSE_DEPTH = 400  # nesting a child's line may have (codec values need < 2 x MAX_DEPTH + 10)


@contextlib.contextmanager
def shallow() -> Iterator[None]:
    """Parse untrusted JSON with a low recursion limit: a 100 000-deep line is an error."""
    saved = sys.getrecursionlimit()
    depth = len(_frames())
    sys.setrecursionlimit(depth + PARSE_DEPTH)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def _frames() -> list[Any]:
    frame, out = sys._getframe(), []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return out


def parse(raw: bytes) -> Any:
    """A line from the child, or None: strict UTF-8 (no lone surrogates), bounded depth."""
    try:
        text = raw.decode("utf-8")
        with shallow():
            return json.loads(text)
    except (ValueError, RecursionError, MemoryError):
        return None


class Group:
    def __init__(self, pid: int, res_r: int, out_r: int, limits: dict[str, int],
                 n_inputs: int, watch: CpuWatch) -> None:
        self.pid, self.res_r, self.out_r = pid, res_r, out_r
        self.limits, self.n_inputs, self.watch = limits, n_inputs, watch
        self.lines: list[bytes] = []
        self.end, self.detail = "", ""
        self.floats = False
        self.heaviest = 0
        self.printed = 0
        self.result_bytes = 0
        self.stderr_tail = b""
        self._pending: list[bytes] = []  # an unfinished line, in pieces (no quadratic joins)
        self.extra = ""  # a line the runner itself adds (a timeout counted from outside)

    def feed_results(self, data: bytes) -> bool:
        self.result_bytes += len(data)
        if self.result_bytes > self.limits["result_bytes"]:
            self.end = "output_limit"
            return False
        if b"\n" not in data:
            self._pending.append(data)
            return True
        *complete, rest = b"".join([*self._pending, data]).split(b"\n")
        self._pending = [rest] if rest else []
        before = len(self.lines)
        for raw in complete:
            self._line(raw)
        self.watch.lines(len(self.lines) - before)
        return True

    def _line(self, raw: bytes) -> None:
        """Outcome lines are kept raw (checked all at once by ``outcomes``); the end line is
        the only one read here."""
        if self.end:
            return
        if not raw.startswith(b'["end"'):
            self.lines.append(raw)
            return
        item = parse(raw)
        if isinstance(item, list) and len(item) == 5:
            self.end, self.detail, self.floats = str(item[1]), str(item[2]), item[3] is True
            self.heaviest = item[4] if type(item[4]) is int and 0 <= item[4] < 1 << 62 else 0

    def outcomes(self) -> str:
        """The outcome lines as one JSON array body, or "" with the group marked crashed if
        any line is not an outcome or there are more than inputs (only a tampering program
        writes such lines)."""
        lines = [*self.lines, self.extra.encode()] if self.extra else self.lines
        body = b",".join(lines)
        items = parse(b"[" + body + b"]")
        if not isinstance(items, list) or len(items) > self.n_inputs or not all(
                isinstance(i, list) and len(i) == 4 and i[0] in KINDS for i in items):
            self.end, self.detail = "crashed", "malformed outcome line"
            return ""
        return body.decode()

    def feed_output(self, data: bytes) -> bool:
        self.printed += len(data)
        self.stderr_tail = (self.stderr_tail[-2000:] + data[-2000:])[-2000:]
        return self.printed <= self.limits["output_bytes"]

    def cpu_exceeded(self) -> bool:
        """Stop the group if its CPU since the last outcome passed the allowance: a
        ``timed_out`` outcome for the running input (or a timeout after the last one)."""
        used = self.watch.over()
        if not used:
            return False
        index = self.watch.done
        why = f"CPU limit of input {index} exceeded ({used:.2f} s, counted outside the sample)"
        if index < self.n_inputs and len(self.lines) == index:
            self.extra = json.dumps(["timed_out", None, "", round(used, 6)])
            self.end, self.detail = "stopped", why
        else:
            self.end, self.detail = "timeout", why
        return True


def kill_all(pid: int) -> None:
    """As PID 1 of the container: kill every other process (fork bombs included); on a host
    (tests): the child's session."""
    try:
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def reap_all() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (kernels without pidfd)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def supervise(g: Group, deadline: float) -> str:
    """Read the child's pipes until it exits (or the deadline, a limit): "" or why forced."""
    pidfd = _pidfd(g.pid)
    fds = {g.res_r, g.out_r} | ({pidfd} if pidfd is not None else set())
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if g.cpu_exceeded():
                return "cpu"
            if pidfd is None and _exited(g.pid):
                return "exited"
            ready, _, _ = select.select(list(fds), [], [], min(remaining, POLL_S))
            for fd in ready:
                if fd == pidfd:
                    return "exited"
                data = os.read(fd, CHUNK)
                if not data:
                    fds.discard(fd)
                    continue
                ok = g.feed_results(data) if fd == g.res_r else g.feed_output(data)
                if not ok:
                    return "output_limit"
    finally:
        if pidfd is not None:
            os.close(pidfd)


def drain(g: Group, forced: str) -> str:
    """After every writer is dead: the rest of both pipes (an exit can beat the last read).
    Returns ``forced``, or "output_limit" if what was left passed a cap."""
    for fd in (g.res_r, g.out_r):
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            data = os.read(fd, CHUNK) if ready else b""
            if not data:
                break
            ok = g.feed_results(data) if fd == g.res_r else g.feed_output(data)
            if not ok:
                return forced if forced in ("timeout", "cpu") else "output_limit"
    return forced


def ending(g: Group, forced: str, status: int) -> tuple[str, str]:
    """How the group ended: forced by the runner, as the child said, or as it died."""
    end, detail = g.end, g.detail
    if forced in ("timeout", "output_limit") and end != "output_limit":
        end, detail = forced, ""
    if not end:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        end = "killed" if sig == signal.SIGKILL else "crashed"
        if sig == signal.SIGXCPU:
            end = "timeout"
        detail = f"signal {sig}" if sig else f"exit {os.WEXITSTATUS(status)} before reporting"
    if not detail and end != "completed":
        detail = g.stderr_tail.decode(errors="replace")
    return end, detail
