"""The sandbox against the real Docker engine. Every test asserts the exact verdict.

Attack programs are written to return the *right* answer only if the attack worked, so
FAILED proves the attack failed (and ERROR/TIMEOUT/... are asserted where those are the point).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from apr_eval.benchmarks.evalplus_common import EvalplusJudge, Expected
from apr_eval.core import Check, ExecMode, Job, SampleKey, SandboxLimits, TestGroup, Verdict
from apr_eval.errors import SandboxUnavailable

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

INPUTS = ((1, 2), (3, 4))
GROUP = TestGroup("base", INPUTS, (1.0, 1.0), deadline_s=4.0)
EXPECTED = {"base": Expected(INPUTS, (3, 7))}
CORRECT = "def f(a, b):\n    return a + b\n"


def check(code: str, name: str = "t", index: int = 0, group: TestGroup = GROUP) -> Check:
    job = Job(SampleKey(name, index), code, ExecMode.FUNCTION, "f", (group,), guard="evalplus")
    return Check(job, EvalplusJudge("humaneval", name, index, "f", 0.0, EXPECTED))


@pytest.fixture(scope="module")
def executor():
    from apr_eval.sandbox.docker_executor import DockerExecutor

    return DockerExecutor()


def verdicts(executor, checks, **limits):
    out = executor.run(checks, SandboxLimits(workers=1, **limits))
    return {(e.problem_id, e.sample_index): e for e in out}


def one(executor, code, **limits):
    (e,) = verdicts(executor, [check(code)], **limits).values()
    return e


def test_correct_program_passes_and_records_image(executor):
    assert one(executor, CORRECT).verdict is Verdict.PASSED
    assert executor.image_digest.startswith("sha256:")


def test_float_sums_are_the_reference_interpreters(executor):
    """evalplus runs CPython 3.11, whose ``sum`` adds floats left to right (3.12 compensates:
    ``sum([0.1] * 10)`` is 1.0 there). The right answer comes back only under 3.11's rule."""
    code = ("def f(a, b):\n"
            "    ok = sum([0.1] * 10) == 0.9999999999999999 and sum([1e100, 1.0, -1e100]) == 0.0\n"
            "    try:\n        sum(['x'], '')\n    except TypeError as e:\n"
            "        ok = ok and 'join' in str(e)\n"
            "    return a + b if ok and sum((i for i in range(4)), 10) == 16 else None\n")
    assert one(executor, code).verdict is Verdict.PASSED


def test_math_pow_is_the_reference_c_librarys(executor):
    """glibc's ``pow`` is correctly rounded on HumanEval/32's plus#650 step, where wasi-libc's is
    one ulp off (the canonical Newton iteration then stops one ulp from the root); the value, the
    errors and the special cases are the reference's."""
    code = ("import math\n"
            "def f(a, b):\n"
            "    ok = math.pow(131456790.14347894, 4) == 2.986290788299761e+32\n"
            "    ok = ok and math.pow(2, 10) == 1024.0 and math.pow(-0.5, -3) == -8.0\n"
            "    ok = ok and math.pow(2.0, 0.5) == 2 ** 0.5\n"
            "    ok = ok and math.copysign(1, math.pow(-0.0, 3)) < 0\n"
            "    bad = ((1e300, 2), OverflowError), ((0., -1), ValueError), (('2', 2), TypeError)\n"
            "    for args, kind in bad:\n"
            "        try:\n            math.pow(*args)\n            ok = False\n"
            "        except kind:\n            pass\n"
            "    return a + b if ok else None\n")
    assert one(executor, code).verdict is Verdict.PASSED


def test_complex_phase_is_the_reference_c_librarys(executor):
    """``cmath.polar`` on Mbpp/590's plus#29 and #36: glibc's ``atan2`` and ``hypot`` round
    these correctly, wasi-libc's are one ulp off; errors and zeros are the C library's."""
    code = ("import cmath\n"
            "def f(a, b):\n"
            "    ok = cmath.polar(complex(-4, -6))[1] == -2.158798930342464\n"
            "    ok = ok and cmath.phase(-4 - 6j) == -2.158798930342464\n"
            "    z = complex(-30.014161875705714, -29.844058340125226)\n"
            "    ok = ok and cmath.polar(z)[0] == 42.32632433025415\n"
            "    ok = ok and cmath.phase(-1.0) == cmath.pi\n"
            "    ok = ok and cmath.phase(complex(-1.0, -0.0)) < 0\n"
            "    ok = ok and cmath.polar(3) == (3.0, 0.0)\n"
            "    try:\n        cmath.phase('x')\n        ok = False\n"
            "    except TypeError:\n        pass\n"
            "    return a + b if ok else None\n")
    assert one(executor, code).verdict is Verdict.PASSED


def test_word_size_is_the_references(executor):
    """The reference runs 64-bit CPython 3.11: ``sys.maxsize`` (a common sentinel) and the
    sizes ``sys.getsizeof`` reports (Mbpp/596) are its, under either executor."""
    code = ("import sys\n"
            "def f(a, b):\n"
            "    sizes = [sys.getsizeof(x) for x in ((1, 2, 3), [], 1, 2**100, 1.0, 'abc', b'')]\n"
            "    ok = sys.maxsize == 2**63 - 1 and sizes == [64, 56, 28, 40, 24, 52, 33]\n"
            "    return a + b if ok and sum(x for x in range(5000)) == 12497500 else None\n")
    assert one(executor, code).verdict is Verdict.PASSED


def test_no_connection_to_a_host_listener(executor):
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    targets = ["172.17.0.1", "127.0.0.1", socket.gethostbyname(socket.gethostname())]
    code = ("import socket\n"
            f"TARGETS = {targets!r}\n"
            "def f(a, b):\n"
            "    for host in TARGETS:\n"
            "        try:\n"
            f"            socket.create_connection((host, {port}), timeout=1).close()\n"
            "            return a + b\n"
            "        except OSError:\n"
            "            pass\n"
            "    return None\n")
    try:
        assert one(executor, code).verdict is Verdict.FAILED
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert accepted == []


def test_allocation_over_the_cap_is_oom(executor):
    code = "def f(a, b):\n    x = bytearray(512 * 1024 * 1024)\n    return a + b\n"
    assert one(executor, code, memory_mb=256).verdict is Verdict.OOM


def test_infinite_loop_is_timeout_within_deadline(executor):
    start = time.monotonic()
    e = one(executor, "def f(a, b):\n    while True:\n        pass\n", confirm_timeouts=False)
    assert e.verdict is Verdict.TIMEOUT
    assert time.monotonic() - start < GROUP.budget() + 5


def test_sleeper_is_stopped_by_the_wall_clock(executor):
    start = time.monotonic()
    e = one(executor, "import time\ndef f(a, b):\n    time.sleep(60)\n", confirm_timeouts=False)
    assert e.verdict is Verdict.TIMEOUT
    assert time.monotonic() - start < GROUP.budget() + 5


def test_fork_bomb_is_contained_and_next_sample_passes(executor):
    bomb = ("import posix\n"
            "def f(a, b):\n"
            "    while True:\n"
            "        try:\n"
            "            posix.fork()\n"
            "        except OSError:\n"
            "            pass\n")
    got = verdicts(executor, [check(bomb, "a"), check(CORRECT, "b")], batch_size=10)
    assert got[("a", 0)].verdict is Verdict.TIMEOUT
    assert got[("b", 0)].verdict is Verdict.PASSED


def test_printing_100mb_passes_as_under_evalplus_but_raw_writes_are_capped(executor):
    # evalplus swallows a call's prints into memory (4 GiB): 100 MB printed is no failure
    code = "def f(a, b):\n    for _ in range(100):\n        print('x' * (1 << 20))\n" \
           "    return a + b\n"
    assert one(executor, code).verdict is Verdict.PASSED
    raw = "import os\ndef f(a, b):\n    os.write(1, b'x' * (100 << 20))\n    return a + b\n"
    assert one(executor, raw).verdict is Verdict.OUTPUT_LIMIT


@pytest.mark.parametrize("code", [
    "import sys\nsys.exit(0)\n",
    "import os\nos._exit(0)\n",
    "import sys\ndef f(a, b):\n    sys.exit(0)\n",
    "import os\ndef f(a, b):\n    os._exit(0)\n",
], ids=["sys.exit-at-import", "os._exit-at-import", "sys.exit-in-call", "os._exit-in-call"])
def test_exiting_early_is_never_passed(executor, code):
    assert one(executor, code).verdict is Verdict.ERROR


def test_object_whose_eq_always_true_is_failed(executor):
    code = ("class Yes:\n    def __eq__(self, other):\n        return True\n"
            "def f(a, b):\n    return Yes()\n")
    assert one(executor, code).verdict is Verdict.FAILED


def test_host_environment_is_not_visible(executor, monkeypatch):
    monkeypatch.setenv("APR_EVAL_SECRET", "hunter2")
    code = ("import os\ndef f(a, b):\n"
            "    return a + b if os.environ.get('APR_EVAL_SECRET') == 'hunter2' else None\n")
    assert one(executor, code).verdict is Verdict.FAILED


@pytest.mark.parametrize("path", ["/opt/apr/x", "/etc/x", "/x", "/var/tmp/x"])
def test_writing_outside_the_work_dir_fails(executor, path):
    code = ("import pathlib\ndef f(a, b):\n    try:\n"
            f"        pathlib.Path({path!r}).write_text('pwned')\n"
            "        return a + b\n    except OSError:\n        return None\n")
    assert one(executor, code).verdict is Verdict.FAILED


def test_work_dir_is_writable_and_fresh_per_sample(executor):
    writer = ("import pathlib\ndef f(a, b):\n"
              "    p = pathlib.Path('mark')\n"
              "    seen = p.exists()\n    p.write_text('x')\n"
              "    return None if seen and a == 1 else a + b\n")
    got = verdicts(executor, [check(writer, "w", 0), check(writer, "w", 1)], batch_size=10)
    # within one sample the second input sees the file of the first; a new sample never does
    assert {e.verdict for e in got.values()} == {Verdict.PASSED}


def test_strict_mode_runs_one_container_per_sample(executor):
    got = verdicts(executor, [check(CORRECT, "s", i) for i in range(3)], batch_size=1)
    assert [got[("s", i)].verdict for i in range(3)] == [Verdict.PASSED] * 3


def test_missing_image_and_unreachable_daemon_are_one_line_errors(monkeypatch):
    from apr_eval.sandbox import engine
    from apr_eval.sandbox.docker_executor import DockerExecutor

    with pytest.raises(SandboxUnavailable, match="apr-eval sandbox build"):
        DockerExecutor(image="apr-eval-sandbox:does-not-exist")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    with pytest.raises(SandboxUnavailable, match="cannot reach the Docker daemon"):
        engine.connect(timeout=3)
