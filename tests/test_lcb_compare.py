"""lcb_runner's comparison rules and the verdict mapping, on hand-made sandbox reports."""

from __future__ import annotations

import pytest

from apr_eval.benchmarks.lcb_compare import (
    error_code,
    functional_args,
    functional_equal,
    judge_tests,
    stdout_mismatch,
    truncate,
)
from apr_eval.core import GroupEnd, GroupResult, Outcome, OutcomeKind, Verdict


@pytest.mark.parametrize(("got", "expected"), [
    ("3\n", "3"), ("  1 2 3  \n\n", "1 2 3"), ("1.50\n", "1.5"), ("2 1e1", "2 10"),
    ("Yes\r\nNo\r\n", "Yes\nNo\n"), ("0.1000000000", "0.1"),
])
def test_stdout_accepted(got: str, expected: str) -> None:
    assert stdout_mismatch(got, expected) == ""


@pytest.mark.parametrize(("got", "expected", "why"), [
    ("3\n4\n", "3", "mismatched output length"),
    ("1  2", "12", "output_line_idx=0"),  # same characters, different tokens
    ("yes", "Yes", "output_line_idx=0"),  # no case folding upstream
    ("50000000000000000", "50000000000000001", "output_line_idx=0"),  # Decimal, not float
    ("1.0000001", "1", "output_line_idx=0"),  # no tolerance upstream
    ("", "3", "output_line_idx=0"),
])
def test_stdout_rejected(got: str, expected: str, why: str) -> None:
    assert why in stdout_mismatch(got, expected)


def test_functional_rules() -> None:
    assert functional_args('[1, 2]\n"ab"\n{"k": 1}') == [[1, 2], "ab", {"k": 1}]
    assert functional_equal((1, 2), [1, 2])  # top-level tuple counts as list
    assert not functional_equal([(1, 2)], [[1, 2]])  # nested tuples do not (as upstream)
    assert functional_equal(1.0, 1) and functional_equal(True, 1)  # Python ==, as upstream
    assert not functional_equal({1, 2}, [1, 2])


def _group(*outcomes: Outcome, end: GroupEnd = GroupEnd.COMPLETED) -> list[GroupResult]:
    return [GroupResult("tests", outcomes, end, "boom" if end is not GroupEnd.COMPLETED else "")]


R = OutcomeKind.RETURNED


def test_first_failing_test_decides() -> None:
    results = _group(Outcome(R, "1\n"), Outcome(R, "5\n"),
                     Outcome(OutcomeKind.TIMED_OUT), end=GroupEnd.STOPPED)
    e = judge_tests(results, problem_id="p", sample_index=0, functional=False,
                    inputs=("a", "b", "c"), expected=("1", "2", "3"))
    assert e.verdict is Verdict.FAILED and error_code(e.verdict) == -2
    assert e.failing is not None and e.failing.index == 1 and e.failing.got == "5\n"
    assert e.failing.input == "b" and e.failing.expected == "2"


@pytest.mark.parametrize(("outcome", "end", "verdict", "code"), [
    (Outcome(OutcomeKind.TIMED_OUT), GroupEnd.STOPPED, Verdict.TIMEOUT, -3),
    (Outcome(OutcomeKind.RAISED, error="ValueError"), GroupEnd.STOPPED, Verdict.ERROR, -4),
    (None, GroupEnd.LOAD_ERROR, Verdict.ERROR, -4),
    (None, GroupEnd.TIMEOUT, Verdict.TIMEOUT, -3),
    (None, GroupEnd.KILLED, Verdict.OOM, -5),
    (None, GroupEnd.LOST, Verdict.INFRA_ERROR, -5),
])
def test_outcome_mapping(outcome: Outcome | None, end: GroupEnd, verdict: Verdict,
                         code: int) -> None:
    outs = (Outcome(R, [1]),) + ((outcome,) if outcome else ())
    e = judge_tests(_group(*outs, end=end), problem_id="p", sample_index=3, functional=True,
                    inputs=([1], [2]), expected=([1], [2]))
    assert e.verdict is verdict and error_code(e.verdict) == code
    assert e.failing is not None and e.failing.index == 1 and e.sample_index == 3


def test_all_passed_and_missing_group() -> None:
    e = judge_tests(_group(Outcome(R, (1, 2))), problem_id="p", sample_index=0, functional=True,
                    inputs=([1],), expected=([1, 2],))
    assert e.verdict is Verdict.PASSED and e.failing is None and error_code(e.verdict) is None
    assert judge_tests([], problem_id="p", sample_index=0, functional=True, inputs=([1],),
                       expected=(1,)).verdict is Verdict.INFRA_ERROR


def test_truncate_like_upstream() -> None:
    assert truncate([1, 2]) == "[1, 2]"
    long = "x" * 150 + "y" * 200
    assert truncate(long) == "x" * 150 + "...(truncated) ..." + "y" * 150
