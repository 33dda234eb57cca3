"""evalplus's per-group time cap, judged on the host: a group whose calls together outlast
``min(60, sum(limits)) + 2`` s is a timeout even when every input met its own limit (evalplus
kills the group's process; the differential run's ``slow-total`` class checks it against
evalplus itself)."""

from __future__ import annotations

from apr_eval.benchmarks.evalplus_common import Expected, judge_group, task_allowance
from apr_eval.core import GroupEnd, GroupResult, Outcome, OutcomeKind, Verdict


def _group(n: int, each_s: float) -> tuple[Expected, GroupResult]:
    inputs = tuple((i,) for i in range(n))
    expected = Expected(inputs, tuple(range(n)), task_allowance([1.0] * n))
    outcomes = tuple(Outcome(OutcomeKind.RETURNED, i, duration_s=each_s) for i in range(n))
    return expected, GroupResult("plus", outcomes, GroupEnd.COMPLETED)


def test_allowance_is_evalplus_process_timeout():
    assert task_allowance([1.0] * 10) == 12.0
    assert task_allowance([1.0] * 500) == 62.0
    assert task_allowance([]) == 2.0


def test_quick_inputs_adding_up_past_the_cap_time_out_at_the_input_that_crosses_it():
    expected, result = _group(120, 0.6)
    verdict, failing = judge_group("humaneval", "f", 0.0, expected, result)
    assert verdict is Verdict.TIMEOUT
    assert failing is not None and failing.index == 103  # 104 * 0.6 = 62.4 > 62
    assert "cap" in failing.reason


def test_the_same_inputs_under_the_cap_pass():
    expected, result = _group(100, 0.6)  # 60 s in all, every input under its 1 s limit
    assert judge_group("humaneval", "f", 0.0, expected, result) == (Verdict.PASSED, None)


def test_small_groups_can_never_reach_the_cap():
    expected, result = _group(50, 0.99)  # each input just under its limit: 49.5 s < 52 s
    assert judge_group("humaneval", "f", 0.0, expected, result)[0] is Verdict.PASSED
