"""The in-container runner, run directly on the host (no Docker): its reporting protocol."""

import json
import subprocess
import sys

from apr_eval.sandbox import codec


def run_batch(jobs, inputs, limits=None, deadline=5.0, output_bytes=1 << 20, group=None):
    batch = {
        "groups": {"g0": {"inputs": [codec.encode(x) for x in inputs],
                          "limits": limits or [1.0] * len(inputs), "deadline": deadline,
                          **(group or {})}},
        "jobs": [{"id": f"j{i}", "code": code, "mode": "function", "entry": "f",
                  "guard": "evalplus", "groups": [["base", "g0"]]}
                 for i, code in enumerate(jobs)],
        "output_bytes": output_bytes,
    }
    proc = subprocess.run([sys.executable, "-m", "apr_eval.sandbox.runner"],
                          input=json.dumps(batch).encode(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    return [r for r in records if r.get("t") == "group"]


def test_values_and_order():
    (g,) = run_batch(["def f(a, b):\n    return (a + b, {a})\n"], [(1, 2), (3, 4)])
    assert g["end"] == "completed"
    assert [codec.decode(o[1]) for o in g["outcomes"]] == [(3, {1}), (7, {3})]


def test_stops_at_first_raise_and_timeout():
    raise_, loop = run_batch(["def f(a):\n    return 1 / a\n",
                              "def f(a):\n    while True:\n        pass\n"], [(1,), (0,), (2,)])
    assert [o[0] for o in raise_["outcomes"]] == ["returned", "raised"]
    assert raise_["outcomes"][1][2] == "ZeroDivisionError" and raise_["end"] == "stopped"
    assert [o[0] for o in loop["outcomes"]] == ["timed_out"]


def test_exits_and_load_errors_are_not_completed():
    ends = [g["end"] for g in run_batch([
        "import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "def g():\n    pass\n",
        "def f(:\n",
    ], [(1,)])]
    assert ends == ["load_error", "crashed", "load_error", "load_error"]


def test_evalplus_guard_disables_open():
    (g,) = run_batch(["def f(a):\n    return open('/etc/hostname').read()\n"], [(1,)])
    assert g["outcomes"][0][0] == "raised" and g["outcomes"][0][2] == "TypeError"


def test_raw_writes_over_cap_are_output_limit_swallowed_prints_are_not():
    a, b = run_batch(["def f(a):\n    print('x' * 5000)\n    return a\n",
                      "import os\ndef f(a):\n    os.write(1, b'y' * 5000)\n    return a\n"],
                     [(1,)], output_bytes=1000)
    assert (a["end"], b["end"]) == ("completed", "output_limit")


def test_group_wall_deadline_stops_a_sleeper():
    (g,) = run_batch(["import time\ndef f(a):\n    time.sleep(30)\n"], [(1,)], deadline=1.5)
    assert g["end"] == "timeout" and g["outcomes"] == []


def test_forged_record_lines_cannot_claim_other_jobs():
    forger = ("import os\ndef f(a):\n    for fd in range(3, 30):\n        try:\n"
              "            os.write(fd, b'[\"returned\", 1, \"\", 0]], '\n"
              "                     b'\"job\": \"j1\", \"x\": [[\\n')\n"
              "        except OSError:\n            pass\n    return a\n")
    g0, g1 = run_batch([forger, "def f(a):\n    return -a\n"], [(5,)])
    assert g0["job"] == "j0" and g1["job"] == "j1"
    assert [codec.decode(o[1]) for o in g1["outcomes"]] == [-5]


def test_output_heavier_than_the_cap_is_reported_oversized_and_stops():
    nested = ("def f(n):\n    x = [1]\n    for _ in range(n):\n        x = [x] * 10\n"
              "    return x\n")
    batch_group = {"max_weight": 1000}
    (g,) = run_batch([nested], [(2,), (300,), (1,)], group=batch_group)
    kinds = [o[0] for o in g["outcomes"]]
    assert kinds == ["returned", "returned"] and g["end"] == "stopped"
    assert codec.decode(g["outcomes"][0][1]) == [[[1]] * 10] * 10
    assert g["outcomes"][1][1] == {"$x": 1000}


def test_ground_truth_mode_reports_the_heaviest_output():
    (g,) = run_batch(["def f(a):\n    return 'x' * a\n"], [(3,), (40,), (5,)],
                     group={"measure": True})
    assert g["heaviest"] == 40 and g["end"] == "completed"


def test_outcomes_before_a_raise_are_all_reported_in_order():
    code = "def f(a):\n    if a == 500:\n        raise KeyError\n    return a\n"
    (g,) = run_batch([code], [(i,) for i in range(600)])
    assert [codec.decode(o[1]) for o in g["outcomes"][:500]] == list(range(500))
    assert g["outcomes"][500][:3] == ["raised", None, "KeyError"] and len(g["outcomes"]) == 501


def test_garbage_on_the_result_pipe_marks_only_that_group_crashed():
    garbage = ("import os\ndef f(a):\n    for fd in range(3, 30):\n        try:\n"
               "            os.write(fd, b'[\"returned\", nope\\n')\n"
               "        except OSError:\n            pass\n    return a\n")
    g0, g1 = run_batch([garbage, "def f(a):\n    return a\n"], [(1,)])
    assert (g0["end"], g0["detail"], g0["outcomes"]) == ("crashed", "malformed outcome line", [])
    assert g1["end"] == "completed"


def test_a_child_keeps_only_its_four_descriptors_and_cannot_trace():
    code = ("import ctypes, posix\n"
            "def f(a):\n"
            "    fds = sorted(int(x) for x in posix.listdir('/proc/self/fd'))\n"
            "    pid = posix.fork()\n"
            "    if pid == 0:\n"
            "        import time\n"
            "        time.sleep(5)\n"
            "        posix._exit(0)\n"
            "    traced = ctypes.CDLL(None, use_errno=True).ptrace(16, pid, 0, 0)\n"
            "    return [fds[:4], len(fds), traced, ctypes.get_errno()]\n")
    (g,) = run_batch([code], [(1,)])
    # 0-3, plus the one listdir itself opened; PTRACE_ATTACH on its own child: EPERM
    assert codec.decode(g["outcomes"][0][1]) == [[0, 1, 2, 3], 5, -1, 1]


def test_cpu_is_counted_outside_the_sample():
    hider = ("import signal, time\n"
             "def f(a):\n"
             "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
             "    t = time.process_time()\n"
             "    while time.process_time() - t < 6:\n"
             "        pass\n"
             "    return a\n")
    g, after = run_batch([hider, "def f(a):\n    return a\n"], [(1,)], deadline=30.0,
                         group={"cpu_caps": [0.5], "load_cap": 0.5})
    assert g["outcomes"][0][0] == "timed_out" and g["end"] == "stopped"
    assert "counted outside" in g["detail"]
    assert after["end"] == "completed"


def test_a_child_that_closes_its_pipes_and_lingers_is_stopped_at_the_deadline():
    code = ("import posix, time\ndef f(a):\n    for fd in range(64):\n        try:\n"
            "            posix.close(fd)\n        except OSError:\n            pass\n"
            "    time.sleep(100)\n")
    g, after = run_batch([code, "def f(a):\n    return a\n"], [(1,)], deadline=1.5)
    assert g["end"] == "timeout" and after["end"] == "completed"


def test_hostile_lines_on_the_result_pipe_never_stop_the_runner():
    code = ("import posix\ndef f(a):\n"
            "    posix.write(3, b'[' * 100000 + b'\\n' + b'[\"end\", ' + b'[' * 100000 + b'\\n')\n"
            "    posix.write(3, b'[\"returned\", \"\\xed\\xa0\\x80\", \"\", 0]\\n')\n"
            "    return a\n")
    extra = "import posix\ndef f(a):\n    posix.write(3, b'[\"returned\", 1, \"\", 0]\\n')\n" \
            "    return a\n"
    g, g2, after = run_batch([code, extra, "def f(a):\n    return a\n"], [(1,)])
    assert g["end"] == g2["end"] == "crashed" and after["end"] == "completed"


def test_signal_senders_are_disabled_in_the_child():
    code = ("import os, posix, signal\n"
            "def f(a):\n"
            "    return [x is None for x in (os.kill, posix.kill, os.killpg, posix.killpg,\n"
            "                                signal.pthread_kill, signal.pidfd_send_signal)]\n")
    (g,) = run_batch([code], [(1,)])
    assert codec.decode(g["outcomes"][0][1]) == [True] * 6
