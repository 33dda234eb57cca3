"""Keeping the runner (PID 1) out of the sample's reach, and its CPU counted from outside.

Stdlib only; baked into the sandbox image beside ``runner.py``. Why this design and not a uid
split (children under another uid, PID 1 keeping CAP_SETUID/SETGID): a uid split needs the
container to start with capabilities and PID 1 to hold them for its whole life, so one bug in
PID 1 is a privileged one; everything here works with *no* capability at all:

- PID 1 is non-dumpable (``PR_SET_DUMPABLE 0``): the kernel then refuses ptrace access to it
  from any process without CAP_SYS_PTRACE, which closes ``/proc/1/fd``, ``/proc/1/mem``,
  ``ptrace`` and ``process_vm_readv/writev`` on it, even for a process of the same uid.
- Every child gets a seccomp filter (stacked on Docker's default profile, irreversible, inherited
  by everything it forks or spawns) that denies ``ptrace``, ``process_vm_readv/writev`` and
  ``pidfd_getfd`` and every syscall of a foreign ABI (x32, i386): the same doors, closed a
  second time, and closed between the sample's own processes too.
- A child keeps exactly three descriptors of the runner's making (``/dev/null`` on 0, its output
  pipe on 1 and 2, its result pipe on 3); everything else is closed before the sample runs.
- PID 1 ignores every signal it can (a PID namespace's init never receives SIGKILL/SIGSTOP from
  inside), so ``kill(1, SIGINT)`` by any route (ctypes included) does nothing.
- Per-sample scratch (``/tmp``, ``/dev/shm``) is wiped after every group, once every other
  process is dead.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import struct
import time
from typing import Any

# ------------------------------------------------------------------ prctl and seccomp

_PR_SET_DUMPABLE, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS = 4, 22, 38
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
# (audit arch, ptrace, process_vm_readv, process_vm_writev, pidfd_getfd)
_ARCHES = {"x86_64": (0xC000003E, 101, 310, 311, 438),
           "aarch64": (0xC00000B7, 117, 270, 271, 438)}
_X32_BIT = 0x40000000


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded once by PID 1; children inherit it


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option: int, arg2: int, arg3: Any = None) -> bool:
    """prctl(2) with unsigned long arguments (arg3: a pointer, or 0)."""
    third = arg3 if arg3 is not None else ctypes.c_ulong(0)
    return int(_LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), third,
                           ctypes.c_ulong(0), ctypes.c_ulong(0))) == 0


def set_dumpable(on: bool) -> bool:
    return _prctl(_PR_SET_DUMPABLE, 1 if on else 0)


def _filter_program() -> bytes | None:
    arch = _ARCHES.get(os.uname().machine)
    if arch is None:
        return None
    audit, *denied = arch

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    prog = [op(_LD_ABS, 4), op(_JEQ, audit, 1, 0), op(_RET, _RET_EPERM), op(_LD_ABS, 0)]
    if audit == _ARCHES["x86_64"][0]:
        prog.append(op(_JGE, _X32_BIT, len(denied) + 1, 0))
    prog += [op(_JEQ, nr, len(denied) - i, 0) for i, nr in enumerate(denied)]
    prog += [op(_RET, _RET_ALLOW), op(_RET, _RET_EPERM)]
    return b"".join(prog)


_PROGRAM = _filter_program()  # built once, in PID 1


def deny_tracing() -> bool:
    """Install the child's seccomp filter (see the module doc); False where it could not be."""
    if _PROGRAM is None:
        return False
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    buf = ctypes.create_string_buffer(_PROGRAM, len(_PROGRAM))
    fprog = _Fprog(len(_PROGRAM) // 8, ctypes.cast(buf, ctypes.c_void_p))
    return _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog))


# ------------------------------------------------------------------ PID 1 and its children

_PYTHON_IGNORES = (signal.SIGPIPE, signal.SIGXFSZ)
_UNTOUCHABLE = (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)


def guard_runner() -> None:
    """PID 1 (or the runner on a host): non-dumpable, deaf to every signal it may ignore."""
    set_dumpable(False)
    for sig in signal.valid_signals():
        if sig not in _UNTOUCHABLE:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError):
                pass


def restore_signals() -> None:
    """A child starts with Python's own signal dispositions, not the runner's."""
    for sig in signal.valid_signals():
        if sig in _UNTOUCHABLE:
            continue
        handler: Any = signal.SIG_IGN if sig in _PYTHON_IGNORES else signal.SIG_DFL
        if sig == signal.SIGINT:
            handler = signal.default_int_handler
        try:
            signal.signal(sig, handler)
        except (OSError, ValueError):
            pass


RESULT_FD = 3


def isolate_fds(res_w: int, out_w: int) -> int:
    """0 = /dev/null, 1 and 2 = the output pipe, 3 = the result pipe, nothing else open.
    Returns the result pipe's descriptor."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    if res_w != RESULT_FD:
        os.dup2(res_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, max(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    return RESULT_FD


def limit_cpu(seconds: float) -> None:
    """RLIMIT_CPU backstop for the child and everything it forks (each process counts its own
    CPU): SIGXCPU at ``seconds``, SIGKILL a second later. A process may lower it, never raise
    it (no CAP_SYS_RESOURCE)."""
    soft = max(1, int(seconds) + 1)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    except (ValueError, OSError):
        pass


SCRATCH = ("/tmp", "/dev/shm")


def wipe(path: str, keep_top: bool = True) -> None:
    """Remove everything under ``path`` (its own files: a directory made unreadable or
    unwritable by the sample is chmod-ed back first). Symlinks are removed, never followed."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                wipe(entry.path, keep_top=False)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    if not keep_top:
        try:
            os.rmdir(path)
        except OSError:
            pass


def wipe_scratch() -> None:
    """Only as PID 1 of a container: on a host these are everybody's directories."""
    if os.getpid() == 1:
        for path in SCRATCH:
            wipe(path)


# ------------------------------------------------------------------ CPU counted from outside

_CGROUP_FILES = (("/sys/fs/cgroup/cpuacct/cpuacct.usage", 1e-9),
                 ("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", 1e-9),
                 ("/sys/fs/cgroup/cpu.stat", 1e-6))


def _cgroup_file() -> tuple[str, float] | None:
    if os.getpid() != 1:  # on a host the cgroup is the whole machine's
        return None
    for path, scale in _CGROUP_FILES:
        if _read_cgroup(path, scale) is not None:
            return path, scale
    return None


def _read_cgroup(path: str, scale: float) -> float | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if path.endswith("cpu.stat"):
        for line in data.splitlines():
            if line.startswith(b"usage_usec "):
                return int(line.split()[1]) * scale
        return None
    try:
        return int(data) * scale
    except ValueError:
        return None


class CpuMeter:
    """CPU seconds used by every process of the container but PID 1 (the container's cgroup,
    minus PID 1's own time); outside a container, the child's own and its reaped children's
    (``/proc/<pid>/stat``). Nothing the sample does inside its processes changes either."""

    _TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.cgroup = _cgroup_file()

    def read(self, pid: int) -> float:
        if self.cgroup is not None:
            total = _read_cgroup(*self.cgroup)
            if total is not None:
                return total - time.process_time()
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return sum(int(x) for x in fields[11:15]) / self._TICK
        except (OSError, IndexError, ValueError):
            return 0.0


TAIL_S = 0.5  # CPU allowed after the last input's report (reporting the end, exiting)


SAMPLE_S = 0.05  # how often the meter is read while a group runs


class CpuWatch:
    """Per-input CPU from outside the sample. Allowance until the first outcome arrives: the
    load cap plus input 0's cap; after each outcome line, the next input's cap, counted from
    that line's arrival. Lines beyond the group's inputs earn only ``TAIL_S``, so a sample that
    writes outcome lines early can move budget between inputs, never exceed the group's sum.

    The meter is read every ``SAMPLE_S`` (not per line): a mark is taken at the first reading
    after a line arrived, so an input may get up to ``SAMPLE_S`` of CPU more, never less."""

    def __init__(self, meter: CpuMeter, pid: int, caps: list[float] | None,
                 load_cap: float) -> None:
        self.meter, self.pid, self.caps = meter, pid, caps or []
        self.on = caps is not None
        self.done = self.marked = 0
        self.mark = meter.read(pid) if self.on else 0.0
        self.allow = load_cap + self._cap(0)
        self.next = time.monotonic() + SAMPLE_S

    def _cap(self, i: int) -> float:
        return self.caps[i] if i < len(self.caps) else TAIL_S

    def lines(self, n: int) -> None:
        self.done += n

    def over(self) -> float:
        """CPU used since the last outcome when that exceeds the allowance, else 0."""
        now = time.monotonic()
        if not self.on or now < self.next:
            return 0.0
        self.next = now + SAMPLE_S
        usage = self.meter.read(self.pid)
        if self.marked != self.done:
            self.marked, self.mark, self.allow = self.done, usage, self._cap(self.done)
            return 0.0
        used = usage - self.mark
        return used if used > self.allow else 0.0
