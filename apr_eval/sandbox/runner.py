"""The in-container runner. Stdlib only; baked into the sandbox image beside ``codec.py``.

It reads one JSON batch on stdin and, for every (job, test group), forks a fresh process that
runs the untrusted program on the group's inputs and reports raw outcomes (returned value,
raised exception, per-input timeout). It never sees expected outputs and never decides whether a
sample passed: the host does. Each group record it prints is one JSON line whose identifying keys
come *after* the child's data, so a child cannot forge another job's record.

Input: ``{"groups": {gid: {"inputs": [...], "limits": [...],
"deadline": s}},
"jobs": [{"id", "code", "mode", "entry", "guard", "groups": [[name, gid], ...]}],
"output_bytes": N, "result_bytes": N}``.
Output lines: ``{"t": "ready"}``, ``{"t": "begin", ...}``, ``{... "t": "group"}``,
``{"t": "done"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

from apr_eval.sandbox import codec, guard

KINDS = ("returned", "raised", "timed_out")
CHUNK = 1 << 16


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


# ---------------------------------------------------------------- child side


def _report(fd: int, kind: str, value: Any, error: str, duration: float,
            digest_over: int = 0) -> None:
    """One outcome line. In exact-compare groups a value over ``digest_over`` bytes is sent as
    its canonical digest (see codec.digest), which the host compares with the expected one's."""
    try:
        line = json.dumps([kind, codec.encode(value), error, duration])
    except (ValueError, TypeError, RecursionError, codec.EncodeError):
        line = json.dumps([kind, {"$o": type(value).__name__}, error, duration])
    if 0 < digest_over < len(line):
        d = codec.digest(value)
        if d is not None:
            line = json.dumps([kind, {"$h": [d.hexdigest, len(line)]}, error, duration])
    _write_all(fd, line.encode() + b"\n")


def _end(fd: int, end: str, detail: str = "", floats: bool = False) -> None:
    _write_all(fd, json.dumps(["end", end, detail[-2000:], floats]).encode() + b"\n")


def _is_floats(x: Any) -> bool:
    """evalplus's ``is_floats`` (numpy arrays cannot occur here): reported for ground truth."""
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, float) for i in x)


def _run_function(fd: int, job: dict[str, Any], group: dict[str, Any], sink: guard.Sink) -> None:
    env: dict[str, Any] = {"__name__": "__sandbox__"}
    try:
        with guard.swallowed(sink):
            exec(compile(job["code"], "<solution>", "exec"), env)
            fn = guard.resolve(env, job["entry"])
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the program's
        _end(fd, "load_error", f"{type(exc).__name__}: {exc}"[:2000])
        return
    floats = False
    for args, limit in zip(group["inputs"], group["limits"], strict=False):
        start = time.process_time()
        try:
            with guard.time_limit(limit), guard.swallowed(sink):
                out = fn(*args)
        except guard.TimeoutException:
            _report(fd, "timed_out", None, "", time.process_time() - start)
            _end(fd, "stopped")
            return
        except BaseException as exc:  # noqa: BLE001
            _report(fd, "raised", None, type(exc).__name__, time.process_time() - start)
            _end(fd, "stopped")
            return
        floats = floats or _is_floats(out)
        _report(fd, "returned", out, "", time.process_time() - start,
                int(group.get("digest_over", 0)))
    _end(fd, "completed", floats=floats)


def _run_stdio(fd: int, job: dict[str, Any], group: dict[str, Any], sink: guard.Sink) -> None:
    try:
        code = compile(job["code"], "<solution>", "exec")
    except BaseException as exc:  # noqa: BLE001
        _end(fd, "load_error", f"{type(exc).__name__}: {exc}"[:2000])
        return
    for text, limit in zip(group["inputs"], group["limits"], strict=False):
        start = time.process_time()
        captured = guard.Capture(sink)
        try:
            with guard.time_limit(limit), guard.stdio(str(text), captured):
                try:
                    exec(code, {"__name__": "__main__"})
                except SystemExit:
                    pass
        except guard.TimeoutException:
            _report(fd, "timed_out", None, "", time.process_time() - start)
            _end(fd, "stopped")
            return
        except BaseException as exc:  # noqa: BLE001
            _report(fd, "raised", None, type(exc).__name__, time.process_time() - start)
            _end(fd, "stopped")
            return
        _report(fd, "returned", captured.getvalue(), "", time.process_time() - start)
    _end(fd, "completed")


def _run_lcb_stdio(fd: int, job: dict[str, Any], group: dict[str, Any], sink: guard.Sink) -> None:
    """lcb_runner's stdin convention: load the program once as a module (the host has wrapped
    its statements into ``entry``), then call ``entry()`` once per input; see guard.LcbStdin."""
    env: dict[str, Any] = {"__name__": "__sandbox__"}
    load_stdin = guard.LcbStdin()
    saved = sys.stdin
    try:
        sys.stdin = load_stdin
        with guard.time_limit(float(max(group["limits"], default=1))), \
                contextlib.redirect_stdout(guard.Capture(sink)):
            exec(compile(job["code"], "<solution>", "exec"), env)
        fn = guard.resolve(env, job["entry"])
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the program's
        _end(fd, "load_error", f"{type(exc).__name__}: {exc}"[:2000])
        return
    finally:
        sys.stdin = saved
    for text, limit in zip(group["inputs"], group["limits"], strict=False):
        start = time.process_time()
        captured = guard.Capture(sink)
        try:
            with guard.time_limit(limit), guard.lcb_stdio(str(text), captured, load_stdin):
                fn()
        except guard.TimeoutException:
            _report(fd, "timed_out", None, "", time.process_time() - start)
            _end(fd, "stopped")
            return
        except BaseException as exc:  # noqa: BLE001
            _report(fd, "raised", None, type(exc).__name__, time.process_time() - start)
            _end(fd, "stopped")
            return
        _report(fd, "returned", captured.getvalue(), "", time.process_time() - start)
    _end(fd, "completed")


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
    def on_limit() -> None:
        _end(res_w, "output_limit")
        os._exit(0)

    sink = guard.Sink(output_bytes, on_limit)
    if job.get("guard") == "evalplus":
        guard.reliability_guard()
    elif job.get("guard") == "lcb":
        guard.lcb_guard()
    runner = _run_function
    if job["mode"] == "stdio":
        runner = _run_lcb_stdio if job.get("guard") == "lcb" else _run_stdio
    runner(res_w, job, group, sink)


# --------------------------------------------------------------- parent side


class _Group:
    def __init__(self, pid: int, res_r: int, out_r: int, limits: dict[str, int]) -> None:
        self.pid, self.res_r, self.out_r = pid, res_r, out_r
        self.limits = limits
        self.lines: list[str] = []
        self.end, self.detail = "", ""
        self.floats = False
        self.printed = 0
        self.result_bytes = 0
        self.stderr_tail = b""
        self._buf = b""

    def feed_results(self, data: bytes) -> bool:
        self.result_bytes += len(data)
        if self.result_bytes > self.limits["result_bytes"]:
            self.end = "output_limit"
            return False
        self._buf += data
        *complete, self._buf = self._buf.split(b"\n")
        for raw in complete:
            self._line(raw)
        return True

    def _line(self, raw: bytes) -> None:
        try:
            item = json.loads(raw)
        except ValueError:
            return
        if not isinstance(item, list) or not item:
            return
        if item[0] == "end" and len(item) == 4 and not self.end:
            self.end, self.detail, self.floats = str(item[1]), str(item[2]), item[3] is True
        elif item[0] in KINDS and len(item) == 4 and not self.end:
            self.lines.append(raw.decode())

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
    end, detail = forced or g.end, g.detail
    if not end:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        end = "killed" if sig == signal.SIGKILL else "crashed"
        detail = f"signal {sig}" if sig else f"exit {os.WEXITSTATUS(status)} before reporting"
    if not detail and end != "completed":
        detail = g.stderr_tail.decode(errors="replace")
    body = ",".join(g.lines)
    tail = json.dumps({"end": end, "detail": detail[-2000:], "floats": g.floats,
                       "job": job["id"], "group": name, "t": "group"})
    sys.stdout.write('{"outcomes":[' + body + "]," + tail[1:] + "\n")
    sys.stdout.flush()


def main() -> None:
    batch = json.loads(sys.stdin.buffer.read())
    groups = {gid: {"inputs": [codec.decode(x) for x in g["inputs"]], "limits": g["limits"],
                    "deadline": g["deadline"], "digest_over": int(g.get("digest_over", 0))}
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
