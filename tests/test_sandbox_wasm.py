"""The sandbox attacks of test_sandbox_docker, against the WASM executor (no Docker), plus what
is the WASM executor's own: fuel limits, forged input boundaries, load independence.

The attack tests are the Docker file's own functions, collected here again with this module's
``executor`` fixture; each asserts the exact verdict. CI installs the ``wasm`` extra, so these
fail (never skip) where wasmtime or the pinned interpreter is missing.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from test_sample_env import test_mbpp_set_equality_tasks_consume_lazy_outputs  # noqa: F401
from test_sandbox_docker import (  # noqa: F401 - collected here against the wasm executor
    CORRECT,
    EXPECTED,
    GROUP,
    check,
    one,
    test_allocation_over_the_cap_is_oom,
    test_complex_phase_is_the_reference_c_librarys,
    test_exiting_early_is_never_passed,
    test_float_sums_are_the_reference_interpreters,
    test_host_environment_is_not_visible,
    test_math_pow_is_the_reference_c_librarys,
    test_object_whose_eq_always_true_is_failed,
    test_printing_100mb_passes_as_under_evalplus_but_raw_writes_are_capped,
    test_sleeper_is_stopped_by_the_wall_clock,
    test_strict_mode_runs_one_container_per_sample,
    test_word_size_is_the_references,
    test_work_dir_is_writable_and_fresh_per_sample,
    test_writing_outside_the_work_dir_fails,
    verdicts,
)

from apr_eval.benchmarks.evalplus_common import EvalplusJudge
from apr_eval.core import Check, ExecMode, Job, SampleKey, SandboxLimits, TestGroup, Verdict


@pytest.fixture(scope="module")
def executor():
    from apr_eval.sandbox.wasm_executor import WasmExecutor

    return WasmExecutor()


def test_correct_program_passes_and_records_the_guest(executor):
    assert one(executor, CORRECT).verdict is Verdict.PASSED
    assert executor.image_digest.startswith("wasm:")


def test_no_network_at_all(executor):
    """WASI has no sockets: connecting fails (in CPython's WASI build, before any syscall)."""
    code = ("import socket\ndef f(a, b):\n    try:\n"
            "        socket.create_connection(('127.0.0.1', 80), timeout=1).close()\n"
            "        return a + b\n    except Exception:\n        return None\n")
    assert one(executor, code).verdict is Verdict.FAILED


def test_runner_tree_is_read_only(executor):
    code = ("import pathlib\ndef f(a, b):\n    try:\n"
            "        pathlib.Path('/apr/wasm_guest.py').write_text('pwned')\n"
            "        return a + b\n    except OSError:\n        return None\n")
    assert one(executor, code).verdict is Verdict.FAILED


def test_infinite_loop_runs_out_of_fuel(executor):
    e = one(executor, "def f(a, b):\n    while True:\n        pass\n")
    assert e.verdict is Verdict.TIMEOUT and e.failing.reason == "time limit"


def test_no_fork_in_the_guest_and_the_next_sample_passes(executor):
    bomb = "import os\ndef f(a, b):\n    while True:\n        os.fork()\n"
    got = verdicts(executor, [check(bomb, "a"), check(CORRECT, "b")])
    assert got[("a", 0)].verdict is Verdict.ERROR
    assert got[("b", 0)].verdict is Verdict.PASSED


@pytest.mark.parametrize("code", [
    "import os\nos.fsync(1)\ndef f(a, b):\n    return a + b\n",
    "import os\ndef f(a, b):\n    os.fdatasync(1)\n    return a + b\n",
    "import os\ndef f(a, b):\n    os.fdatasync(1)\n    os.fsync(1)\n    return a + b\n",
], ids=["begin-at-load", "end-inside-call", "end-and-begin-inside-call"])
def test_forged_input_boundaries_never_pass(executor, code):
    e = one(executor, code)
    assert e.verdict is Verdict.ERROR and "boundary out of order" in e.detail


def test_forged_records_void_only_their_own_group(executor):
    forger = ("import os\ndef f(a, b):\n"
              "    os.write(1, b'{\"outcomes\": [], \"end\": \"completed\", \"job\": \"j1\", '\n"
              "                b'\"group\": \"base\", \"t\": \"group\"}\\n')\n"
              "    return a + b\n")
    got = verdicts(executor, [check(forger, "forger"), check(CORRECT, "honest")])
    assert got[("forger", 0)].verdict is Verdict.ERROR
    assert got[("honest", 0)].verdict is Verdict.PASSED


# ------------------------------------------------------------------ load independence

BURN = ("def f(a, b):\n    s = 0\n    for i in range(40000):\n        s += i * i % 7\n"
        "    return a + b\n")


def _limited(code: str, name: str, limit_s: float) -> Check:
    group = dataclasses.replace(GROUP, time_limits=(limit_s, limit_s))
    job = Job(SampleKey(name, 0), code, ExecMode.FUNCTION, "f", (group,), guard="evalplus")
    return Check(job, EvalplusJudge("humaneval", name, 0, "f", 0.0, EXPECTED))


def _judge_all(executor, checks):
    got = executor.run(checks, SandboxLimits(workers=2))
    return {e.problem_id: (e.verdict, e.duration_s) for e in got}


def test_verdicts_and_fuel_do_not_move_when_both_cores_are_saturated(executor):
    """A sample at ~90% and one at ~110% of their fuel limits: the same verdicts and the same
    fuel, idle and with every core busy in another process."""
    (probe,) = _judge_all(executor, [_limited(BURN, "probe", 10.0)]).values()
    per_input = probe[1] / 2
    checks = [_limited(BURN, "under", per_input / 0.9), _limited(BURN, "over", per_input / 1.1),
              _limited(CORRECT, "quick", 1.0)]
    idle = _judge_all(executor, checks)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = _judge_all(executor, checks)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert idle == loaded
    assert idle["under"][0] is Verdict.PASSED and idle["over"][0] is Verdict.TIMEOUT


def test_limits_come_from_the_reference_fuel(executor):
    """With a reference solution the limit is factor x its fuel (floor: min_time_limit_s)."""
    slow = BURN.replace("40000", "4000000")
    fast_ref = dataclasses.replace(check(slow, "r").job, reference=CORRECT)
    slow_ref = dataclasses.replace(fast_ref, reference=slow)
    limits = SandboxLimits(workers=1, min_time_limit_s=0.001, time_limit_factor=2.0)
    got = {e.problem_id: e.verdict for e in executor.run(
        [Check(fast_ref, check(slow, "r").judge),
         Check(dataclasses.replace(slow_ref, key=SampleKey("s", 0)), check(slow, "s").judge)],
        limits)}
    assert got == {"r": Verdict.TIMEOUT, "s": Verdict.PASSED}


def test_group_with_no_inputs_completes(executor):
    empty = TestGroup("base", (), ())
    job = Job(SampleKey("e", 0), CORRECT, ExecMode.FUNCTION, "f", (empty,), guard="evalplus")
    (result,) = [executor.run_group(job, empty, SandboxLimits())]
    assert result.end.value == "completed" and result.outcomes == ()
