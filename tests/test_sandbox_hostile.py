"""Hostile samples against the real engine (issue 14), batched and strict.

Each hostile sample runs first in its container, a correct sentinel after it: the hostile one
must never pass and the sentinel must always pass. Attacks on the runner return the right answer
only if the attack got through, so anything but PASSED proves it did not.
"""

from __future__ import annotations

import pytest

from apr_eval.benchmarks.evalplus_common import EvalplusJudge, Expected
from apr_eval.core import Check, ExecMode, Job, SampleKey, SandboxLimits, TestGroup, Verdict

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

INPUTS = ((1, 2), (3, 4))
# A long wall deadline: the CPU limits, not the wall clock, must stop the burners.
GROUP = TestGroup("base", INPUTS, (1.0, 1.0), deadline_s=30.0)
EXPECTED = {"base": Expected(INPUTS, (3, 7))}
CORRECT = "def f(a, b):\n    return a + b\n"
BURN = ("import time\n"
        "def burn(s=5.0):\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < s:\n"
        "        pass\n")
FORGED = ('{"outcomes":[["returned",3,"",0],["returned",7,"",0]],"end":"completed",'
          '"detail":"","floats":false,"heaviest":0,"job":"%s","group":"base","t":"group"}\\n')
OUTCOME_LINES = ("import posix\ndef f(a, b):\n    posix.write(3, {!r}.encode())\n"
                 "    posix._exit(0)\n")

HOSTILE = {
    "forge-proc1-fd": (
        "import posix\n"
        "def f(a, b):\n"
        "    text = ('" + FORGED % "j0" + '{"t": "begin", "job": "j1", "group": "base"}\\n'
        + FORGED.replace("3,", "4,") % "j1" + "').encode()\n"
        "    for path in ('/proc/1/fd/1', '/proc/1/fd/2', '/proc/1/fd/0'):\n"
        "        try:\n"
        "            fd = posix.open(path, posix.O_WRONLY)\n"
        "            posix.write(fd, text)\n"
        "        except OSError:\n"
        "            pass\n"
        "    print('{\"t\": \"ready\"}')\n"
        "    return None\n"),
    "proc1-mem": (
        "import posix\n"
        "def f(a, b):\n"
        "    got = 0\n"
        "    for path in ('/proc/1/mem', '/proc/1/environ', '/proc/1/fd/1', '/proc/1/maps'):\n"
        "        try:\n"
        "            posix.close(posix.open(path, posix.O_RDONLY))\n"
        "            got += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a + b if got else None\n"),
    "ptrace-process-vm": (
        "import ctypes, platform\n"
        "NR = {'x86_64': (310, 311), 'aarch64': (270, 271)}[platform.machine()]\n"
        "class Iov(ctypes.Structure):\n"
        "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "def f(a, b):\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    buf = ctypes.create_string_buffer(8)\n"
        "    local, remote = Iov(ctypes.cast(buf, ctypes.c_void_p), 8), Iov(4096, 8)\n"
        "    through = 0\n"
        "    for nr in NR:\n"
        "        r = libc.syscall(nr, 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)\n"
        "        through += r >= 0 or ctypes.get_errno() not in (1, 13)\n"
        "    through += libc.ptrace(16, 1, 0, 0) == 0\n"
        "    return a + b if through else None\n"),
    "stop-runner": (
        "import ctypes, signal\n"
        "def f(a, b):\n"
        "    libc = ctypes.CDLL(None)\n"
        "    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,\n"
        "                signal.SIGQUIT, signal.SIGSTOP, signal.SIGALRM, signal.SIGPROF):\n"
        "        libc.kill(1, sig)\n"
        "    import posix\n"
        "    try:\n"
        "        posix.kill(1, signal.SIGINT)\n"
        "    except TypeError:\n"
        "        pass\n"
        "    return None\n"),
    "garbled-pipe": (
        "import posix\n"
        "def f(a, b):\n"
        "    for line in (b'[' * 100000 + b'\\n',\n"
        "                 b'[\"returned\", \"\\xed\\xa0\\x80\", \"\", 0]\\n',\n"
        "                 b'[\"end\", ' + b'[' * 50000 + b'\\n', b'x' * (1 << 20) + b'\\n'):\n"
        "        posix.write(3, line)\n"
        "    return a + b\n"),
    "duration-overflow": OUTCOME_LINES.format(
        '["returned", 3, "", 1' + "0" * 400 + ']\n["returned", 7, "", 0]\n'
        '["end", "completed", "", false, 0]\n'),
    "bad-tag": OUTCOME_LINES.format(
        '["returned", {"$c": [1]}, "", 0]\n["returned", 7, "", 0]\n'
        '["end", "completed", "", false, 0]\n'),
    "huge-int": OUTCOME_LINES.format(
        '["returned", ' + "9" * 5000 + ', "", 0]\n["end", "completed", "", false, 0]\n'),
    "deep-value": OUTCOME_LINES.format(
        '["returned", ' + "[" * 150 + "3" + "]" * 150 + ', "", 0]\n'
        '["end", "completed", "", false, 0]\n'),
    "cpu-sigign": BURN + (
        "import signal\n"
        "def f(a, b):\n"
        "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
        "    burn()\n"
        "    return a + b\n"),
    "cpu-setitimer": BURN + (
        "import signal\n"
        "def f(a, b):\n"
        "    signal.setitimer(signal.ITIMER_PROF, 0)\n"
        "    burn()\n"
        "    return a + b\n"),
    "cpu-sigmask": BURN + (
        "import signal\n"
        "def f(a, b):\n"
        "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})\n"
        "    burn()\n"
        "    return a + b\n"),
    "cpu-swallow": BURN + (
        "def f(a, b):\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < 5:\n"
        "        try:\n"
        "            burn(5 - (time.process_time() - t))\n"
        "        except BaseException:\n"
        "            pass\n"
        "    return a + b\n"),
    "cpu-patch-guard": BURN + (
        "import contextlib, sys\n"
        "sys.modules['apr_eval.sandbox.guard'].time_limit = lambda s: contextlib.nullcontext()\n"
        "def f(a, b):\n"
        "    burn()\n"
        "    return a + b\n"),
    "cpu-fork": BURN + (
        "import posix\n"
        "def f(a, b):\n"
        "    pid = posix.fork()\n"
        "    if pid == 0:\n"
        "        burn()\n"
        "        posix._exit(0)\n"
        "    posix.waitpid(pid, 0)\n"
        "    return a + b\n"),
    "cpu-posix-spawn": (
        "import posix, sys\n"
        "CODE = 'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 5: pass'\n"
        "def f(a, b):\n"
        "    pid = posix.posix_spawn(sys.executable, [sys.executable, '-c', CODE], {})\n"
        "    posix.waitpid(pid, 0)\n"
        "    return a + b\n"),
    "cpu-module-level": BURN + "burn(8.0)\n" + CORRECT,
    "linger-closed-pipes": (
        "import posix, time\n"
        "def f(a, b):\n"
        "    for fd in range(0, 64):\n"
        "        try:\n"
        "            posix.close(fd)\n"
        "        except OSError:\n"
        "            pass\n"
        "    time.sleep(1000)\n"),
}

# Carry-over: the writer leaves marks, the reader (the hostile one) passes only if it sees one.
WRITER = ("import posix\n"
          "def f(a, b):\n"
          "    for path in ('/tmp/mark', '/dev/shm/mark', '../mark', 'mark'):\n"
          "        try:\n"
          "            posix.close(posix.open(path, posix.O_CREAT | posix.O_WRONLY, 0o644))\n"
          "        except OSError:\n"
          "            pass\n"
          "    return None\n")
READER = ("import posix\n"
          "def f(a, b):\n"
          "    seen = [p for p in ('/tmp/mark', '/dev/shm/mark', '../mark', 'mark')\n"
          "            if posix.access(p, posix.F_OK)]\n"
          "    marks = [e for e in posix.listdir('/tmp') if e != posix.getcwd().split('/')[-1]]\n"
          "    return a + b if seen or marks else None\n")


def check(code: str, name: str) -> Check:
    job = Job(SampleKey(name, 0), code, ExecMode.FUNCTION, "f", (GROUP,), guard="evalplus")
    return Check(job, EvalplusJudge("humaneval", name, 0, "f", 0.0, EXPECTED))


@pytest.fixture(scope="module")
def executor():
    from apr_eval.sandbox.docker_executor import DockerExecutor

    return DockerExecutor()


def run(executor, codes: list[str], batch_size: int) -> list[Verdict]:
    checks = [check(code, f"p{i}") for i, code in enumerate(codes)]
    limits = SandboxLimits(workers=1, batch_size=batch_size, confirm_timeouts=False)
    got = {e.problem_id: e for e in executor.run(checks, limits)}
    return [got[f"p{i}"].verdict for i in range(len(codes))]


@pytest.mark.parametrize("batch_size", [10, 1], ids=["batched", "strict"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_sample_never_passes_and_its_sentinel_does(executor, name, batch_size):
    hostile, sentinel = run(executor, [HOSTILE[name], CORRECT], batch_size)
    assert hostile is not Verdict.PASSED
    assert sentinel is Verdict.PASSED
    if name.startswith("cpu-"):  # stopped by a CPU limit, well before the 30 s wall deadline
        assert hostile is Verdict.TIMEOUT


@pytest.mark.parametrize("batch_size", [10, 1], ids=["batched", "strict"])
def test_nothing_carries_over_between_samples(executor, batch_size):
    assert run(executor, [WRITER, READER, CORRECT], batch_size) == [
        Verdict.FAILED, Verdict.FAILED, Verdict.PASSED]
