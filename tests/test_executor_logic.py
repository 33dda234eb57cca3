"""Executor logic that needs no engine: batching, record settling, timeout confirmation."""

import dataclasses

import pytest

from apr_eval.core import (
    Check,
    ExecMode,
    Execution,
    FailingTest,
    GroupEnd,
    GroupResult,
    Job,
    SampleKey,
    TestGroup,
    Verdict,
)
from apr_eval.sandbox.container import Stream
from apr_eval.sandbox.docker_executor import (
    REPORT_S_PER_WEIGHT,
    confirm_timeouts,
    cpu_caps,
    doubtful_timeout,
    plan_batches,
    settle,
)

GROUP = TestGroup("base", ((1,),), (1.0,), 3.0)


def judge_for(pid: str, index: int):
    def judge(results):
        (r,) = results
        v = Verdict.PASSED if r.end is GroupEnd.COMPLETED else Verdict.TIMEOUT \
            if r.end is GroupEnd.TIMEOUT else Verdict.ERROR
        return Execution(pid, index, v, {"base": v})
    return judge


def check(pid: str, index: int = 0) -> Check:
    return Check(Job(SampleKey(pid, index), "x", ExecMode.FUNCTION, "f", (GROUP,)),
                 judge_for(pid, index))


def ex(pid: str, verdict: Verdict) -> Execution:
    return Execution(pid, 0, verdict)


def test_timeout_overturned_only_by_a_fresh_non_timeout():
    batch = [check("a"), check("b"), check("c"), check("d")]
    first = [ex("a", Verdict.TIMEOUT), ex("b", Verdict.TIMEOUT), ex("c", Verdict.TIMEOUT),
             ex("d", Verdict.FAILED)]
    reran: list[str] = []

    def rerun(checks):
        reran.extend(c.job.key.problem_id for c in checks)
        return [ex("a", Verdict.PASSED), ex("b", Verdict.TIMEOUT), ex("c", Verdict.INFRA_ERROR)]

    out = {e.problem_id: e.verdict for e in confirm_timeouts(batch, first, rerun)}
    assert reran == ["a", "b", "c"]
    assert out == {"a": Verdict.PASSED, "b": Verdict.TIMEOUT, "c": Verdict.TIMEOUT,
                   "d": Verdict.FAILED}


def test_batches_keep_problems_together():
    checks = [check(p, i) for p in ("b", "a") for i in range(3)]
    batches = plan_batches(checks, 4)
    assert [[c.job.key.problem_id for c in b] for b in batches] == [["a", "a", "a", "b"],
                                                                   ["b", "b"]]


def test_settle_maps_records_and_marks_the_interrupted_group():
    batch = [check("a"), check("b"), check("c")]
    stream = Stream(records=[
        {"t": "ready"},
        {"t": "begin", "job": "j0", "group": "base"},
        {"outcomes": [["returned", 1, "", 0.0]], "end": "completed", "detail": "",
         "job": "j0", "group": "base", "t": "group"},
        {"t": "begin", "job": "j1", "group": "base"},
    ], killed_for="deadline")
    finished, retry, _ = settle(batch, stream)
    assert {e.problem_id: e.verdict for e in finished} == {"a": Verdict.PASSED,
                                                           "b": Verdict.TIMEOUT}
    assert [c.job.key.problem_id for c in retry] == ["c"]


def test_settle_retries_a_group_lost_without_explanation():
    batch = [check("a")]
    stream = Stream(records=[{"t": "begin", "job": "j0", "group": "base"}], exit_code=1)
    finished, retry, why = settle(batch, stream)
    assert finished == [] and len(retry) == 1 and "exit 1" in why


def test_oom_flag_turns_a_killed_group_into_oom():
    seen: list[GroupResult] = []

    def judge(results):
        seen.extend(results)
        return Execution("a", 0, Verdict.OOM)

    c = Check(Job(SampleKey("a", 0), "x", ExecMode.FUNCTION, "f", (GROUP,)), judge)
    stream = Stream(records=[{"outcomes": [], "end": "killed", "detail": "signal 9",
                              "job": "j0", "group": "base", "t": "group"}], oom_killed=True)
    settle([c], stream)
    assert seen[0].end is GroupEnd.OOM


def test_ray_driver_confirms_timeouts_like_the_local_executor():
    from collections import deque

    from apr_eval.sandbox.ray_executor import RayExecutor, _Attempt

    def record(end, outcomes):
        return Stream(records=[{"outcomes": outcomes, "end": end, "detail": "", "job": "j0",
                                "group": "base", "t": "group"}])

    queue: deque = deque()
    first = list(RayExecutor._settle(_Attempt([check("a")], 0), record("timeout", []), queue))
    assert first == [] and len(queue) == 1 and queue[0].first is not None
    ok = record("completed", [["returned", 1, "", 0.0]])
    second = list(RayExecutor._settle(queue.popleft(), ok, queue))
    assert [e.verdict for e in second] == [Verdict.PASSED] and not queue


def test_only_timeouts_near_the_reference_time_are_doubted():
    group = TestGroup("base", ((1,), (2,)), (1.0, 8.0), 20.0, reference_times=(1e-5, 2.0))
    c = Check(Job(SampleKey("p", 0), "x", ExecMode.FUNCTION, "f", (group,)), judge_for("p", 0))

    def timeout(index: int, reason: str = "time limit") -> Execution:
        return Execution("p", 0, Verdict.TIMEOUT, failing=FailingTest("base", index, reason=reason))

    assert not doubtful_timeout(c, timeout(0))  # 1 s floor vs 10 us canonical: the sample's
    assert doubtful_timeout(c, timeout(1))  # 4x a 2 s canonical: load could do that
    assert doubtful_timeout(c, timeout(0, reason="timeout"))  # the group's wall deadline
    assert not doubtful_timeout(c, Execution("p", 0, Verdict.FAILED))


def test_group_inputs_are_encoded_once_and_forgotten_with_the_group():
    import gc

    from apr_eval.sandbox import docker_executor as de

    group = TestGroup("base", ((1, {2}),), (1.0,), 3.0)
    first = de._encoded_inputs(group)
    assert de._encoded_inputs(group) is first and first == [{"$t": [1, {"$s": [2]}]}]
    key = id(group)
    del group
    gc.collect()
    assert key not in de._ENCODED


def test_outside_cpu_caps_allow_reporting_heavy_outputs_and_only_those() -> None:
    """Encoding or digesting an output is the harness's work: a group whose expected outputs
    are heavy (HumanEval/130, Mbpp/255) gets CPU for it in proportion to its weight cap; a
    group of light outputs gets none beyond the fixed slack (a CPU hider gains nothing)."""
    light = TestGroup("plus", ((1,), (2,)), (1.0, 1.0), 5.0, max_weight=1 << 20)
    heavy = dataclasses.replace(light, max_weight=(1 << 20) + 4_000_000)
    light_caps, heavy_caps = cpu_caps(light)["cpu_caps"], cpu_caps(heavy)["cpu_caps"]
    assert light_caps == cpu_caps(dataclasses.replace(light, max_weight=0))["cpu_caps"]
    assert [h - c for h, c in zip(heavy_caps, light_caps, strict=True)] == \
        pytest.approx([4_000_000 * REPORT_S_PER_WEIGHT] * 2)
    assert cpu_caps(light)["load_cap"] == cpu_caps(heavy)["load_cap"] == 1.0


def test_outside_cpu_cap_of_a_quick_input_covers_a_heavier_later_one() -> None:
    """Quick inputs' outcome lines may leave the child in one 20 ms batch with a later heavy
    input's, so their interval can hold that input's CPU: Mbpp/599's canonical solution (quick
    inputs before one summing 10^8 integers) timed out without this."""
    group = TestGroup("plus", ((1,), (2,), (3,), (4,)), (1.0, 1.0, 5.0, 1.0), 20.0)
    caps = cpu_caps(group)["cpu_caps"]
    flat = cpu_caps(dataclasses.replace(group, time_limits=(1.0,) * 4))["cpu_caps"]
    assert caps[:3] == pytest.approx([flat[0] + 4.0] * 3)  # the heavy input's cap, from before
    assert caps[3] == pytest.approx(flat[3])  # nothing heavier after it
