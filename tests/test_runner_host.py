"""The in-container runner, run directly on the host (no Docker): its reporting protocol."""

import json
import subprocess
import sys

from apr_eval.sandbox import codec


def run_batch(jobs, inputs, limits=None, deadline=5.0, output_bytes=1 << 20):
    batch = {
        "groups": {"g0": {"inputs": [codec.encode(x) for x in inputs],
                          "limits": limits or [1.0] * len(inputs), "deadline": deadline}},
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


def test_printing_over_cap_is_output_limit():
    a, b = run_batch(["def f(a):\n    print('x' * 5000)\n    return a\n",
                      "import os\ndef f(a):\n    os.write(1, b'y' * 5000)\n    return a\n"],
                     [(1,)], output_bytes=1000)
    assert a["end"] == b["end"] == "output_limit"


def test_group_wall_deadline_stops_a_sleeper():
    (g,) = run_batch(["import time\ndef f(a):\n    time.sleep(30)\n"], [(1,)], deadline=1.5)
    assert g["end"] == "timeout" and g["outcomes"] == []


def test_forged_record_lines_cannot_claim_other_jobs():
    forger = ("import os\ndef f(a):\n"
              "    os.write(3, b'[\"returned\", 1, \"\", 0]], \"job\": \"j1\", \"x\": [[\\n')\n"
              "    return a\n")
    g0, g1 = run_batch([forger, "def f(a):\n    return -a\n"], [(5,)])
    assert g0["job"] == "j0" and g1["job"] == "j1"
    assert [codec.decode(o[1]) for o in g1["outcomes"]] == [-5]
