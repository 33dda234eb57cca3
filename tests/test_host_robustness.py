"""The host against hostile record streams and values (no engine): the protocol check voids a
stream that leaves it, and no value a sample can report crashes settle or the exporters."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from apr_eval.benchmarks.evalplus_common import EvalplusJudge, Expected
from apr_eval.benchmarks.evalplus_outputs import evalplus_results
from apr_eval.benchmarks.lcb_compare import stdout_mismatch, truncate
from apr_eval.core import Check, ExecMode, Job, SampleKey, TestGroup, Verdict
from apr_eval.harness.interop.lcb_out import sample_metadata
from apr_eval.harness.run.rundir import _json_line, execution_from_json, execution_to_json
from apr_eval.sandbox import codec
from apr_eval.sandbox.container import Deadlines, Stream, StreamBroken
from apr_eval.sandbox.docker_executor import settle

INPUTS = ((1, 2), (3, 4))
GROUP = TestGroup("base", INPUTS, (1.0, 1.0), deadline_s=4.0)
EXPECTED = {"base": Expected(INPUTS, (3, 7))}


def check(index: int = 0) -> Check:
    job = Job(SampleKey("p", index), "x", ExecMode.FUNCTION, "f", (GROUP,), guard="evalplus")
    return Check(job, EvalplusJudge("humaneval", "p", index, "f", 0.0, EXPECTED))


def group_record(job: str, outcomes: list[Any], end: str = "completed") -> dict[str, Any]:
    return {"outcomes": outcomes, "end": end, "detail": "", "floats": False, "heaviest": 0,
            "job": job, "group": "base", "t": "group"}


PASSING = [["returned", 3, "", 0.0], ["returned", 7, "", 0.0]]


def stream_of(*records: dict[str, Any]) -> list[dict[str, Any]]:
    """Feed records through the host's protocol check, as the reader does."""
    deadlines = Deadlines({("j0", "base"): 4.0, ("j1", "base"): 4.0})
    for r in records:
        deadlines.on_record(r)
    return list(records)


def begin(job: str) -> dict[str, Any]:
    return {"t": "begin", "job": job, "group": "base"}


def test_the_protocol_accepts_exactly_the_expected_sequence():
    stream_of({"t": "ready"}, begin("j0"), group_record("j0", PASSING), begin("j1"),
              group_record("j1", PASSING), {"t": "done"})


@pytest.mark.parametrize("records", [
    [begin("j0")],  # no ready first
    [{"t": "ready"}, {"t": "ready"}],  # a second ready (the old deadline reset)
    [{"t": "ready"}, begin("j1")],  # out of order
    [{"t": "ready"}, begin("j0"), group_record("j1", PASSING)],  # another job's record
    [{"t": "ready"}, begin("j0"), group_record("j0", PASSING), group_record("j0", PASSING)],
    [{"t": "ready"}, begin("j0"), begin("j0")],
    [{"t": "ready"}, {"t": "done"}],  # missing groups
    [{"t": "ready"}, begin("j0"), group_record("j0", PASSING), begin("j1"),
     group_record("j1", PASSING), {"t": "done"}, {"t": "done"}],  # anything after done
    [{"t": "ready"}, {"t": "garbage"}],
], ids=["no-ready", "second-ready", "order", "other-job", "extra", "double-begin", "missing",
        "after-done", "unknown"])
def test_the_protocol_rejects_anything_else(records):
    with pytest.raises(StreamBroken):
        stream_of(*records)


def test_a_broken_stream_voids_every_verdict_and_a_lone_sample_is_an_error():
    forged = [{"t": "ready"}, begin("j0"), group_record("j0", PASSING)]
    finished, retry, why = settle([check(0), check(1)], Stream(records=forged, broken="x"))
    assert finished == [] and len(retry) == 2 and "broken" in why
    (alone,), retry, _ = settle([check(0)], Stream(records=forged, broken="x"))
    assert alone.verdict is Verdict.ERROR and retry == []


# ------------------------------------------------------------------ values a sample can report

DEEP: Any = 1
for _ in range(150):
    DEEP = [DEEP]
ADVERSARIAL = [
    ["returned", 3, "", float(10 ** 300) * 10 ** 10],  # duration an OverflowError away
    ["returned", 3, "", 10 ** 400],
    ["returned", 3, "", float("nan")],
    ["returned", 3, "", -1],
    ["returned", {"$c": [1]}, "", 0],
    ["returned", {"$c": "xy"}, "", 0],
    ["returned", {"$f": ["nan"]}, "", 0],
    ["returned", {"$d": [[1]]}, "", 0],
    ["returned", {"$s": [[1]]}, "", 0],
    ["returned", {"$s": [i * (2 ** 61 - 1) for i in range(2000)]}, "", 0],
    ["returned", {"$d": [[i * (2 ** 61 - 1), 0] for i in range(2000)]}, "", 0],
    ["returned", {"$i": ["0x1"]}, "", 0],
    ["returned", {"$x": "9" * 5000}, "", 0],
    ["returned", {"$h": [1]}, "", 0],
    ["returned", {"$o": [[[]]]}, "", 0],
    ["returned", {"a": 1, "b": 2}, "", 0],
    ["returned", DEEP, "", 0],
    ["returned", {"$i": hex(10 ** 5000)}, "", 0],
    ["returned", "\ud800 lone surrogate", "\udfff", 0],
    ["bogus", 3, "", 0],
    ["raised", None, 7, 0],
    "not a list",
    [1, 2, 3],
    None,
]


@pytest.mark.parametrize("item", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_outcomes_never_pass_and_never_crash_the_host(item):
    record = group_record("j0", [item, ["returned", 7, "", 0.0]])
    (e,), _, _ = settle([check()], Stream(records=[record]))
    assert e.verdict is not Verdict.PASSED
    export(e)


def export(e: Any) -> None:
    """Every path a verdict takes out of the host: run dir line, evalplus and lcb exports."""
    line = _json_line(execution_to_json(e))
    line.encode("utf-8")
    execution_from_json(json.loads(line))
    json.dumps(evalplus_results("h", {SampleKey(e.problem_id, e.sample_index): e}, {}),
               default=repr)
    json.dumps(sample_metadata(e))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 6 else 6)
    leaves = [None, rng.choice([True, False]), rng.randrange(-10 ** 6, 10 ** 6),
              rng.choice([0.5, math.inf, -1e308, 10 ** 5000]), "".join(
                  chr(rng.randrange(0x10FFFF)) for _ in range(rng.randrange(5))),
              rng.choice(["$t", "$s", "$d", "$c", "$i", "$f", "$b", "$o", "$h", "$x", "$q"])]
    if pick < 6:
        return leaves[pick]
    children = [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick < 9:
        return children
    return {rng.choice(leaves[5:]): children if pick == 9 else children[:1] or None}


def test_fuzzed_records_never_crash_settle_or_the_exporters():
    rng = random.Random(1414)
    passes = 0
    for _ in range(1500):
        outcomes = [[rng.choice(["returned", "raised", "timed_out", "x"]),
                     _random_value(rng), rng.choice(["", "E", 3]),
                     rng.choice([0, 0.1, -1, 10 ** 30, float("inf")])]
                    for _ in range(rng.randrange(4))]
        record = group_record("j0", outcomes, rng.choice(["completed", "stopped", "zzz"]))
        if rng.random() < 0.2:
            record[rng.choice(list(record))] = _random_value(rng)
        finished, retry, _ = settle([check()], Stream(records=[record]))
        assert len(finished) + len(retry) == 1  # a record not naming the job: re-run
        for e in finished:
            passes += e.verdict is Verdict.PASSED
            export(e)
    assert passes == 0  # random values never equal (3, 7)


def test_evalplus_export_writes_ints_past_the_str_limit(tmp_path):
    from apr_eval.benchmarks.evalplus_outputs import write_json
    from apr_eval.core import Execution, FailingTest

    big = 10 ** 5000
    e = Execution("p", 0, Verdict.FAILED, {"base": Verdict.FAILED},
                  FailingTest("base", 0, (big,), 1, big, "wrong output"))
    write_json(tmp_path / "r.json", evalplus_results("h", {SampleKey("p", 0): e}, {}))
    assert "1" + "0" * 5000 in (tmp_path / "r.json").read_text()


def test_decoded_nans_are_fresh_objects_as_in_evalplus():
    nan_list = codec.decode([{"$f": "nan"}])
    assert nan_list != codec.decode([{"$f": "nan"}]) and nan_list[0] is not math.nan


def test_lcb_comparison_and_truncation_take_hostile_text_and_values():
    assert stdout_mismatch("sNaN", "1").startswith("Wrong answer")
    assert stdout_mismatch("1 sNaN", "1 2").startswith("Wrong answer")
    assert "too large" in truncate(10 ** 5000)
    assert "too large" in truncate(_deep(5000))


def _deep(n: int) -> Any:
    x: Any = []
    for _ in range(n):
        x = [x]
    return x
