"""lcb_runner's grading rules, reimplemented on the host (lcb_runner/evaluation/testing_util.py).

- stdin programs: the printed text and the expected text are each stripped, split on ``\\n``
  and every line stripped; the line counts must match; a line matches when equal, or when both
  split on whitespace into the same list of ``Decimal`` numbers.
- functional programs: each input line is a JSON literal (one per argument), the expected output
  is JSON; a returned ``tuple`` counts as a ``list`` (top level only, as upstream), then ``==``.
- the first failing test decides, in order; upstream stops there, our runner keeps going past a
  wrong answer (it never sees expected outputs) and the judge reads only up to that test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from apr_eval.core import (
    Execution,
    FailingTest,
    GroupEnd,
    GroupResult,
    OutcomeKind,
    Verdict,
)

DEFAULT_TIMEOUT_S = 6.0
TESTS_GROUP = "tests"

# The lcb_runner eval_all error codes (converted only at the edge: --lcb-out).
WRONG_ANSWER, TIME_LIMIT, RUNTIME_ERROR, RUNNER_ERROR = -2, -3, -4, -5

_END_VERDICTS = {
    GroupEnd.LOAD_ERROR: Verdict.ERROR,
    GroupEnd.CRASHED: Verdict.ERROR,
    GroupEnd.STOPPED: Verdict.ERROR,
    GroupEnd.TIMEOUT: Verdict.TIMEOUT,
    GroupEnd.OUTPUT_LIMIT: Verdict.OUTPUT_LIMIT,
    GroupEnd.KILLED: Verdict.OOM,
    GroupEnd.OOM: Verdict.OOM,
    GroupEnd.LOST: Verdict.INFRA_ERROR,
}


def _text(value: Any) -> str:
    """str() of a value; one str() refuses (an int past 4 300 digits, nesting past the
    recursion limit) is named by its type instead."""
    try:
        return str(value)
    except (ValueError, RecursionError, MemoryError):
        return f"<{type(value).__name__} too large to print>"


def truncate(value: Any, length: int = 300) -> str:
    """lcb_runner's ``truncatefn``: str() of the value, middle elided past ``length``."""
    s = value if isinstance(value, str) else _text(value)
    if len(s) <= length:
        return s
    return s[: length // 2] + "...(truncated) ..." + s[-length // 2:]


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError):
        return None


def _same_decimals(got: list[Decimal], expected: list[Decimal]) -> bool:
    """Equal lists of numbers; comparing a signalling NaN raises, and is a mismatch."""
    try:
        return got == expected
    except ArithmeticError:
        return False


def stdout_mismatch(got: str, expected: str) -> str:
    """"" when lcb_runner accepts ``got`` for ``expected``; else its wrong-answer message."""
    got_lines, exp_lines = stripped_lines(got), stripped_lines(expected)
    if len(got_lines) != len(exp_lines):
        return "Wrong answer: mismatched output length"
    for i, (g, e) in enumerate(zip(got_lines, exp_lines, strict=True)):
        if g == e:
            continue
        gd, ed = _decimals(g), _decimals(e)
        if gd is None or ed is None or not _same_decimals(gd, ed):
            return f"Wrong answer at output_line_idx={i}: {truncate(g)} != {truncate(e)}"
    return ""


def functional_args(text: str) -> list[Any]:
    """One functional test input: a JSON literal per line, one per argument."""
    return [json.loads(line) for line in text.split("\n")]


def functional_equal(got: Any, expected: Any) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    try:
        return bool(got == expected)
    except Exception:  # noqa: BLE001 - a comparison that raises is a mismatch
        return False


def judge_tests(results: Sequence[GroupResult], *, problem_id: str, sample_index: int,
                functional: bool, inputs: Sequence[Any], expected: Sequence[Any]) -> Execution:
    """The sandbox's raw outcomes -> one Execution, first failing test in order decides."""
    group = next((g for g in results if g.name == TESTS_GROUP), None)
    if group is None:
        return Execution(problem_id, sample_index, Verdict.INFRA_ERROR,
                         {TESTS_GROUP: Verdict.INFRA_ERROR}, detail="no result for test group")
    duration = sum(o.duration_s for o in group.outcomes)
    for i, (outcome, exp) in enumerate(zip(group.outcomes, expected, strict=False)):
        verdict, reason = _judge_one(functional, outcome.kind, outcome.value, outcome.error, exp)
        if verdict is Verdict.PASSED:
            continue
        got = list(outcome.value) if functional and isinstance(outcome.value, tuple) \
            else outcome.value  # upstream reports the prediction after tuple -> list
        failing = FailingTest(TESTS_GROUP, i, inputs[i], exp, got, reason)
        return Execution(problem_id, sample_index, verdict, {TESTS_GROUP: verdict}, failing,
                         duration, group.detail)
    if len(group.outcomes) >= len(expected):
        return Execution(problem_id, sample_index, Verdict.PASSED, {TESTS_GROUP: Verdict.PASSED},
                         None, duration)
    verdict = _END_VERDICTS.get(group.end, Verdict.ERROR)
    index = len(group.outcomes)
    reason = f"{group.end.value}: {group.detail}".strip(": ")
    failing = FailingTest(TESTS_GROUP, index, inputs[index], expected[index], None, reason)
    return Execution(problem_id, sample_index, verdict, {TESTS_GROUP: verdict}, failing,
                     duration, group.detail)


def _judge_one(functional: bool, kind: OutcomeKind, value: Any, error: str,
               expected: Any) -> tuple[Verdict, str]:
    if kind is OutcomeKind.TIMED_OUT:
        return Verdict.TIMEOUT, "Time Limit Exceeded"
    if kind is OutcomeKind.RAISED:
        return Verdict.ERROR, f"Runtime Error: {error}"
    if functional:
        ok = functional_equal(value, expected)
        return (Verdict.PASSED, "") if ok else (Verdict.FAILED, "Wrong Answer")
    if not isinstance(value, str):
        return Verdict.FAILED, "Wrong answer: no text output"
    reason = stdout_mismatch(value, str(expected))
    return (Verdict.FAILED, reason) if reason else (Verdict.PASSED, "")


def error_code(verdict: Verdict) -> int | None:
    """lcb_runner's metadata ``error_code`` for a verdict (None when passed)."""
    if verdict is Verdict.PASSED:
        return None
    return {Verdict.FAILED: WRONG_ANSWER, Verdict.TIMEOUT: TIME_LIMIT,
            Verdict.ERROR: RUNTIME_ERROR}.get(verdict, RUNNER_ERROR)
