"""The in-container runner. Stdlib only; baked into the sandbox image beside ``codec.py``.

It reads one JSON batch on stdin and, for every (job, test group), forks a fresh process that
runs the untrusted program on the group's inputs and reports raw outcomes (returned value,
raised exception, per-input timeout). It never sees expected outputs and never decides whether a
sample passed: the host does. Each group record it prints is one JSON line whose identifying keys
come *after* the child's data, so a child cannot forge another job's record.

Input: ``{"groups": {gid: {"inputs": [...], "limits": [...], "deadline": s,
"digest_over": bytes, "max_weight": w, "measure": bool}},
"jobs": [{"id", "code", "mode", "entry", "guard", "groups": [[name, gid], ...]}],
"output_bytes": N, "result_bytes": N}``.
Output lines: ``{"t": "ready"}``, ``{"t": "begin", ...}``, ``{... "t": "group"}``,
``{"t": "done"}``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import types
from collections.abc import Callable
from typing import Any

from apr_eval.sandbox import codec, guard

KINDS = ("returned", "raised", "timed_out")
# Imported before the guard when the program names them, as evalplus and lcb_runner have them
# imported before theirs: importing them after the guard would fail (numpy sets os.environ,
# which calls the disabled os.putenv). Only then: numpy in every runner slows a loaded
# machine's container start by seconds, and its pages turn a memory cap's quick OOM kill into
# thrashing. Missing ones are skipped.
PRELOADED = ("multiprocessing", "numpy")
CHUNK = 1 << 16
FLUSH_S = 0.02


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


class _Results:
    """The child's result pipe, buffered: a write (and a wake-up of the parent) per 64 KiB or
    per ``FLUSH_S``, not per input. Outcomes still buffered when the process dies hard (killed
    at the wall deadline, out of memory, ``os._exit``) are lost: the group then ends as that
    death says, a few milliseconds' outcomes earlier than it would otherwise."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.parts: list[bytes] = []
        self.size = 0
        self.last = time.monotonic()

    def line(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= CHUNK or time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        _write_all(self.fd, b"".join(self.parts))
        self.parts.clear()
        self.size = 0
        self.last = time.monotonic()


# ---------------------------------------------------------------- child side


def _report(res: _Results, kind: str, value: Any, error: str, duration: float,
            digest_over: int = 0) -> None:
    """One outcome line. In exact-compare groups a value over ``digest_over`` bytes is sent as
    its canonical digest (see codec.digest), which the host compares with the expected one's."""
    if 0 < digest_over < _min_size(value):  # certainly large: skip encoding it whole
        d = codec.digest(value)
        if d is not None:
            line = json.dumps([kind, {"$h": [d.hexdigest, -1]}, error, duration])
            res.line(line.encode() + b"\n")
            return
    try:
        line = json.dumps([kind, codec.encode(value), error, duration])
    except (ValueError, TypeError, RecursionError, codec.EncodeError):
        line = json.dumps([kind, {"$o": type(value).__name__}, error, duration])
    if 0 < digest_over < len(line):
        d = codec.digest(value)
        if d is not None:
            line = json.dumps([kind, {"$h": [d.hexdigest, len(line)]}, error, duration])
    res.line(line.encode() + b"\n")


def _oversized(res: _Results, value: Any, cap: int, duration: float) -> bool:
    """Report ``value`` as oversized (and return True) when it weighs more than ``cap``: it
    cannot equal any expected output of the group (see codec.weight), and encoding it could
    take forever (``[x] * 10`` nested forty deep is small in memory, huge to walk)."""
    if cap <= 0 or type(value) in codec.SCALARS or codec.weight(value, cap) <= cap:
        return False
    res.line(json.dumps(["returned", {"$x": cap}, "", duration]).encode() + b"\n")
    return True


def _min_size(value: Any) -> int:
    """A lower bound on the encoded size of ``value`` (each element takes a byte at least)."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def _end(res: _Results, end: str, detail: str = "", floats: bool = False,
         heaviest: int = 0) -> None:
    res.line(json.dumps(["end", end, detail[-2000:], floats, heaviest]).encode() + b"\n")
    res.flush()


def _is_floats(x: Any) -> bool:
    """evalplus's ``is_floats`` (numpy arrays cannot occur here): reported for ground truth."""
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, float) for i in x)


def _each_input(res: _Results, group: dict[str, Any], call: Callable[[Any], Any]) -> None:
    """Run ``call`` on every input under its CPU-time limit, reporting each outcome; stop at
    the first raise or timeout (evalplus's fast check; lcb_runner stops there too), or at an
    output too heavy to be right. With ``measure`` (ground truth), report the heaviest output."""
    floats = False
    heaviest = 0
    cap, measure = int(group.get("max_weight", 0)), bool(group.get("measure"))
    for item, limit in zip(group["inputs"], group["limits"], strict=False):
        start = time.process_time()
        try:
            with guard.time_limit(limit):
                out = call(item)
        except guard.TimeoutException:
            _report(res, "timed_out", None, "", time.process_time() - start)
            _end(res, "stopped")
            return
        except BaseException as exc:  # noqa: BLE001 - whatever the program raises is reported
            _report(res, "raised", None, type(exc).__name__, time.process_time() - start)
            _end(res, "stopped")
            return
        duration = time.process_time() - start
        if _oversized(res, out, cap, duration):
            _end(res, "stopped")
            return
        floats = floats or _is_floats(out)
        if measure:
            heaviest = max(heaviest, codec.weight(out))
        _report(res, "returned", out, "", duration, int(group.get("digest_over", 0)))
    _end(res, "completed", floats=floats, heaviest=heaviest)


def _load_error(res: _Results, exc: BaseException) -> None:
    _end(res, "load_error", f"{type(exc).__name__}: {exc}"[:2000])


def _compile(code: str) -> Any:
    """The sample's code object. ``dont_inherit``: none of this module's ``__future__`` flags
    (``annotations`` would leave a sample's annotations unevaluated, so ``List[int]`` without
    its import would load here and raise ``NameError`` under the reference harnesses, which
    ``exec`` a string from modules without future imports)."""
    return compile(code, "<solution>", "exec", dont_inherit=True)


def _namespace(job: dict[str, Any]) -> dict[str, Any]:
    """The globals the reference harness gives the program: evalplus's ``unsafe_execute``
    execs into ``{}`` (so ``__name__`` is the builtins module's); lcb_runner's
    ``compile_code`` into a fresh ``ModuleType("tmp_sol", "")``."""
    if job.get("guard") == "lcb":
        return types.ModuleType("tmp_sol", "").__dict__
    return {}


def _run_function(res: _Results, job: dict[str, Any], group: dict[str, Any],
                  sink: guard.Sink) -> None:
    env = _namespace(job)
    try:
        with guard.swallowed(sink):
            exec(_compile(job["code"]), env)
            fn = guard.resolve(env, job["entry"])
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the program's
        _load_error(res, exc)
        return
    if job.get("guard") == "evalplus":
        fn = guard.at_headroom(fn, guard.EVALPLUS_HEADROOM)

    def call(args: Any) -> Any:
        sink.count = 0  # the reference swallows each call's output into a fresh buffer
        with guard.swallowed(sink):
            return fn(*args)

    _each_input(res, group, call)


def _run_stdio(res: _Results, job: dict[str, Any], group: dict[str, Any],
               sink: guard.Sink) -> None:
    try:
        code = _compile(job["code"])
    except BaseException as exc:  # noqa: BLE001
        _load_error(res, exc)
        return

    def call(text: Any) -> str:
        captured = guard.Capture(sink)
        with guard.stdio(str(text), captured):
            try:
                exec(code, {"__name__": "__main__"})
            except SystemExit:
                pass
        return captured.getvalue()

    _each_input(res, group, call)


def _run_lcb_stdio(res: _Results, job: dict[str, Any], group: dict[str, Any],
                   sink: guard.Sink) -> None:
    """lcb_runner's stdin convention: load the program once as a module (the host has wrapped
    its statements into ``entry``), then call ``entry()`` once per input; see guard.LcbStdin."""
    env = _namespace(job)
    load_stdin = guard.LcbStdin()
    saved = sys.stdin
    try:
        sys.stdin = load_stdin
        with guard.time_limit(float(max(group["limits"], default=1))), \
                contextlib.redirect_stdout(guard.Capture(sink)):
            exec(_compile(job["code"]), env)
        fn = guard.resolve(env, job["entry"])
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the program's
        _load_error(res, exc)
        return
    finally:
        sys.stdin = saved

    def call(text: Any) -> str:
        captured = guard.Capture(sink)
        with guard.lcb_stdio(str(text), captured, load_stdin):
            fn()
        return captured.getvalue()

    _each_input(res, group, call)


def _child(res_w: int, out_w: int, workdir: str, job: dict[str, Any], group: dict[str, Any],
           output_bytes: int) -> None:
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.chdir(workdir)
    os.environ["TMPDIR"] = workdir
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")  # if the container runs out of memory, the program dies first
    except OSError:
        pass
    res = _Results(res_w)

    def on_limit() -> None:
        _end(res, "output_limit")
        os._exit(0)

    for name in PRELOADED:
        if name in job["code"]:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    sink = guard.Sink(output_bytes, on_limit)
    if job["mode"] != "stdio":  # swallowed, discarded: only the reference's memory bounds it
        sink = guard.Sink(guard.SWALLOWED_BYTES, guard.out_of_memory)
    if job.get("guard") == "evalplus":
        guard.reliability_guard()
    elif job.get("guard") == "lcb":
        guard.lcb_guard()
    runner = _run_function
    if job["mode"] == "stdio":
        runner = _run_lcb_stdio if job.get("guard") == "lcb" else _run_stdio
    runner(res, job, group, sink)


# --------------------------------------------------------------- parent side


class _Group:
    def __init__(self, pid: int, res_r: int, out_r: int, limits: dict[str, int]) -> None:
        self.pid, self.res_r, self.out_r = pid, res_r, out_r
        self.limits = limits
        self.lines: list[bytes] = []
        self.end, self.detail = "", ""
        self.floats = False
        self.heaviest = 0
        self.printed = 0
        self.result_bytes = 0
        self.stderr_tail = b""
        self._pending: list[bytes] = []  # an unfinished line, in pieces (no quadratic joins)

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
        for raw in complete:
            self._line(raw)
        return True

    def _line(self, raw: bytes) -> None:
        """Outcome lines are kept raw (checked all at once by ``outcomes``); the end line is
        the only one read here."""
        if self.end:
            return
        if not raw.startswith(b'["end"'):
            self.lines.append(raw)
            return
        try:
            item = json.loads(raw)
        except ValueError:
            return
        if isinstance(item, list) and len(item) == 5:
            self.end, self.detail, self.floats = str(item[1]), str(item[2]), item[3] is True
            self.heaviest = item[4] if type(item[4]) is int else 0

    def outcomes(self) -> str:
        """The outcome lines as one JSON array body, or "" with the group marked crashed if
        any line is not an outcome (only a tampering program writes such lines)."""
        body = b",".join(self.lines)
        try:
            items = json.loads(b"[" + body + b"]")
        except (ValueError, RecursionError):
            items = None
        if items is None or not all(isinstance(i, list) and len(i) == 4 and i[0] in KINDS
                                    for i in items):
            self.end, self.detail = "crashed", "malformed outcome line"
            return ""
        return body.decode()

    def feed_output(self, data: bytes) -> bool:
        self.printed += len(data)
        self.stderr_tail = (self.stderr_tail + data)[-2000:]
        return self.printed <= self.limits["output_bytes"]


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap_all() -> None:
    """As PID 1 of the container: kill every other process (fork bombs included) and reap."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _supervise(g: _Group, deadline: float) -> str:
    open_fds = {g.res_r, g.out_r}
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        ready, _, _ = select.select(list(open_fds), [], [], remaining)
        for fd in ready:
            data = os.read(fd, CHUNK)
            if not data:
                open_fds.discard(fd)
                os.close(fd)
                continue
            ok = g.feed_results(data) if fd == g.res_r else g.feed_output(data)
            if not ok:
                return "output_limit"
    return ""


def _run_group(job: dict[str, Any], name: str, group: dict[str, Any], limits: dict[str, int],
               seq: int) -> None:
    workdir = tempfile.mkdtemp(prefix=f"g{seq}-")
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(res_r)
            os.close(out_r)
            _child(res_w, out_w, workdir, job, group, limits["output_bytes"])
        finally:
            os._exit(0)
    os.close(res_w)
    os.close(out_w)
    g = _Group(pid, res_r, out_r, limits)
    forced = _supervise(g, time.monotonic() + float(group["deadline"]))
    if forced:
        _kill(pid)
    _, status = os.waitpid(pid, 0)
    for fd in (res_r, out_r):
        try:
            os.close(fd)
        except OSError:
            pass
    _reap_all()
    shutil.rmtree(workdir, ignore_errors=True)
    body = g.outcomes()
    end, detail = _ending(g, forced, status)
    tail = json.dumps({"end": end, "detail": detail[-2000:], "floats": g.floats,
                       "heaviest": g.heaviest, "job": job["id"], "group": name, "t": "group"})
    sys.stdout.write('{"outcomes":[' + body + "]," + tail[1:] + "\n")
    sys.stdout.flush()


def _ending(g: _Group, forced: str, status: int) -> tuple[str, str]:
    """How the group ended: forced by the runner, as the child said, or as it died."""
    end, detail = forced or g.end, g.detail
    if not end:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        end = "killed" if sig == signal.SIGKILL else "crashed"
        detail = f"signal {sig}" if sig else f"exit {os.WEXITSTATUS(status)} before reporting"
    if not detail and end != "completed":
        detail = g.stderr_tail.decode(errors="replace")
    return end, detail


def main() -> None:
    batch = json.loads(sys.stdin.buffer.read())
    groups = {gid: {"inputs": [codec.decode(x) for x in g["inputs"]], "limits": g["limits"],
                    "deadline": g["deadline"], "digest_over": int(g.get("digest_over", 0)),
                    "max_weight": int(g.get("max_weight", 0)), "measure": bool(g.get("measure"))}
              for gid, g in batch["groups"].items()}
    limits = {"output_bytes": int(batch["output_bytes"]),
              "result_bytes": int(batch.get("result_bytes", 64 << 20))}
    _emit({"t": "ready"})
    seq = 0
    for job in batch["jobs"]:
        for name, gid in job["groups"]:
            _emit({"t": "begin", "job": job["id"], "group": name})
            _run_group(job, name, groups[gid], limits, seq)
            seq += 1
    _emit({"t": "done"})


if __name__ == "__main__":
    main()
