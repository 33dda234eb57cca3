"""The in-container runner. Stdlib only; baked into the sandbox image beside ``codec.py``.

It reads one JSON batch on stdin and, for every (job, test group), forks a fresh process that
runs the untrusted program on the group's inputs and reports raw outcomes (returned value,
raised exception, per-input timeout). It never sees expected outputs and never decides whether a
sample passed: the host does. Only this process (PID 1) writes records, each one JSON line, and
no child can reach its stdout, memory or signals (lockdown.py); a child's pipe is parsed as
untrusted data (supervisor.py) and its CPU counted from outside.

Input: ``{"groups": {gid: {"inputs": [...], "limits": [...], "deadline": s,
"digest_over": bytes, "max_weight": w, "measure": bool, "iterate": bool, "cpu_caps": [s, ...],
"load_cap": s}},
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
import secrets
import sys
import tempfile
import time
import types
from collections.abc import Callable
from typing import Any

from apr_eval.sandbox import codec, guard, lockdown, supervisor

KINDS = supervisor.KINDS
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
    except guard.TimeoutException:
        _load_timeout(res)
        return
    except BaseException as exc:  # noqa: BLE001 - any failure to load is the program's
        _load_error(res, exc)
        return
    if job.get("guard") == "evalplus":
        fn = guard.at_headroom(fn, guard.EVALPLUS_HEADROOM)

    iterate = bool(group.get("iterate"))  # see guard.consumed

    def call(args: Any) -> Any:
        sink.count = 0  # the reference swallows each call's output into a fresh buffer
        with guard.swallowed(sink):
            out = fn(*args)
            return guard.consumed(out) if iterate else out

    _each_input(res, group, call)


def _load_limit(job: dict[str, Any], group: dict[str, Any]
                ) -> contextlib.AbstractContextManager[None]:
    """Module-level code's CPU limit where the host set one, under evalplus's conventions
    (lcb_runner has its own, see ``_run_lcb_stdio``). The first input's own limit replaces
    it. Counted from outside too, together with input 0: nothing the sample says can split
    the two."""
    cap = group.get("load_cap")
    if cap and job.get("guard") == "evalplus":
        return guard.time_limit(cap)
    return contextlib.nullcontext()


def _load_timeout(res: _Results) -> None:
    _report(res, "timed_out", None, "", 0.0)
    _end(res, "stopped", "module-level code over its CPU limit")


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
           output_bytes: int, cpu_total: float = 0.0) -> None:
    """Before the sample runs: its own session, the runner's descriptors and signal handlers
    gone, tracing denied, a CPU rlimit, a fresh working directory (see lockdown)."""
    os.setsid()
    res_w = lockdown.isolate_fds(res_w, out_w)
    lockdown.restore_signals()
    os.chdir(workdir)
    os.environ["TMPDIR"] = workdir
    lockdown.set_dumpable(True)  # PID 1 stays non-dumpable; /proc/self is this process's own
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")  # if the container runs out of memory, the program dies first
    except OSError:
        pass
    lockdown.deny_tracing()
    if cpu_total:
        lockdown.limit_cpu(cpu_total)
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
    with _load_limit(job, group):
        runner(res, job, group, sink)


# --------------------------------------------------------------- parent side

def _spawn(job: dict[str, Any], group: dict[str, Any], limits: dict[str, int], workdir: str,
           cpu_total: float) -> tuple[int, int, int]:
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(res_r)
            os.close(out_r)
            _child(res_w, out_w, workdir, job, group, limits["output_bytes"], cpu_total)
        finally:
            os._exit(0)
    os.close(res_w)
    os.close(out_w)
    return pid, res_r, out_r


def _run_group(job: dict[str, Any], name: str, group: dict[str, Any], limits: dict[str, int],
               meter: lockdown.CpuMeter) -> None:
    workdir = tempfile.mkdtemp(prefix=secrets.token_hex(8))
    caps, load_cap = group["cpu_caps"], group["load_cap"] or 0.0
    total = load_cap + sum(caps) + lockdown.TAIL_S if caps is not None else 0.0
    pid, res_r, out_r = _spawn(job, group, limits, workdir, total)
    watch = lockdown.CpuWatch(meter, pid, caps, load_cap)
    g = supervisor.Group(pid, res_r, out_r, limits, len(group["inputs"]), watch)
    forced = supervisor.supervise(g, time.monotonic() + float(group["deadline"]))
    supervisor.kill_all(pid)
    _, status = os.waitpid(pid, 0)
    forced = supervisor.drain(g, forced)
    for fd in (res_r, out_r):
        os.close(fd)
    supervisor.reap_all()
    lockdown.wipe(workdir, keep_top=False)
    lockdown.wipe_scratch()
    body = g.outcomes()
    end, detail = supervisor.ending(g, forced, status)
    tail = json.dumps({"end": end, "detail": detail[-2000:], "floats": g.floats,
                       "heaviest": g.heaviest, "job": job["id"], "group": name, "t": "group"})
    sys.stdout.write('{"outcomes":[' + body + "]," + tail[1:] + "\n")
    sys.stdout.flush()


def _group_table(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The batch's groups, decoded once. ``cpu_caps`` (per input) and ``load_cap`` (module-level
    code), where the host sends them, are counted from outside the sample (lockdown.CpuWatch);
    without them (ground truth: trusted canonical solutions) only the child's own timer runs."""
    out = {}
    for gid, g in batch["groups"].items():
        limits = [float(x) for x in g["limits"]]
        caps = g.get("cpu_caps")
        out[gid] = {"inputs": [codec.decode(x) for x in g["inputs"]], "limits": limits,
                    "deadline": g["deadline"], "digest_over": int(g.get("digest_over", 0)),
                    "max_weight": int(g.get("max_weight", 0)), "measure": bool(g.get("measure")),
                    "iterate": bool(g.get("iterate")),
                    "cpu_caps": None if caps is None else [float(x) for x in caps],
                    "load_cap": float(g.get("load_cap") or 0.0)}
    return out


def main() -> None:
    batch = json.loads(sys.stdin.buffer.read())
    groups = _group_table(batch)
    lockdown.guard_runner()
    meter = lockdown.CpuMeter()
    limits = {"output_bytes": int(batch["output_bytes"]),
              "result_bytes": int(batch.get("result_bytes", 64 << 20))}
    _emit({"t": "ready"})
    for job in batch["jobs"]:
        for name, gid in job["groups"]:
            _emit({"t": "begin", "job": job["id"], "group": name})
            _run_group(job, name, groups[gid], limits, meter)
    _emit({"t": "done"})


if __name__ == "__main__":
    main()
