"""What HumanEval+ and MBPP+ share: pinned data files, expected outputs, evalplus's judge.

The semantics are evalplus 0.3.1's (``evalplus/evaluate.py`` and ``evalplus/eval/__init__.py``):
expected outputs come from running the canonical solution on ``base_input``/``plus_input``;
per-input time limit ``max(min_time_limit, factor * ground-truth time)``; a group stops at its
first failure; float tolerance and the special oracles are evalplus's own (imported from it).
The only thing that moved is *where* the comparison happens: evalplus compares inside the
process that ran the untrusted code; we compare here, on the host, outputs the sandbox reported.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apr_eval.core import (
    Execution,
    FailingTest,
    GroupEnd,
    GroupResult,
    OutcomeKind,
    TestGroup,
    Verdict,
)
from apr_eval.errors import DataError
from apr_eval.sandbox import codec

DATA_DIR = Path(__file__).parent / "data" / "evalplus"
TASK_TIMEOUT_S = 60.0  # evalplus's EVALPLUS_TIMEOUT_PER_TASK default
TASK_SLACK_S = 2.0  # evalplus: timeout = min(60, sum) + 1, then join(timeout + 1)
WEIGHT_MARGIN = 1 << 20  # see group_max_weight


@dataclass(frozen=True)
class DataFile:
    filename: str
    sha256: str  # of the file as shipped (gzip bytes)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_tasks(path: Path, sha256: str | None) -> tuple[list[dict[str, Any]], str]:
    """Tasks of a (gzipped) JSONL file and evalplus's dataset hash (md5 of the JSONL text)."""
    if not path.exists():
        raise DataError(f"dataset file not found: {path}")
    if sha256 is not None and sha256_file(path) != sha256:
        raise DataError(f"{path.name}: sha256 does not match the pinned value {sha256[:12]}…")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    tasks = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            tasks.append(json.loads(line))
        except ValueError:
            raise DataError(f"{path}:{lineno}: not valid JSON") from None
    for field in ("task_id", "prompt", "entry_point", "canonical_solution", "base_input"):
        missing = [t.get("task_id", "?") for t in tasks if field not in t]
        if missing:
            raise DataError(f"{path}: task {missing[0]} has no '{field}' field")
    return tasks, hashlib.md5(raw).hexdigest()


# ----------------------------------------------------------------------- the judge


def outputs_match(dataset: str, entry_point: str, atol: float, inp: Sequence[Any],
                  out: Any, exp: Any) -> tuple[bool, float]:
    """evalplus's per-input check. Returns (passed, atol to use from now on).

    evalplus rebinds ``atol = 1e-6`` the first time it sees float outputs and keeps it for the
    rest of the inputs; the second return value carries that state forward.
    """
    from evalplus.eval import is_floats
    from evalplus.eval._special_oracle import (
        MBPP_OUTPUT_NOT_NONE_TASKS,
        MBPP_OUTPUT_SET_EQ_TASKS,
        _digit_distance_nums,
        _poly,
        _surface_Area,
    )

    if isinstance(exp, codec.Digest):  # a large exact-only output (groundtruth.DIGEST_OVER)
        return codec.digest(out) == exp, atol
    try:
        exact_match = out == exp
        if dataset == "mbpp":
            if entry_point == "are_equivalent":  # Mbpp/164
                exact_match = True
            elif entry_point == "sum_div":  # Mbpp/295
                exact_match = exact_match or out == 0
            elif entry_point == "surface_Area":  # Mbpp/581
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
            elif entry_point == "digit_distance_nums":  # Mbpp/558
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
                exact_match = not codec.flooded(list(out)) and set(out) == set(exp)
            elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
                exact_match = out == exp if isinstance(out, bool) else exp == (out is not None)
        if dataset == "humaneval" and entry_point == "find_zero":
            # evalplus 0.3.1 `continue`s here without counting the input as passed, so it
            # fails every HumanEval/32 sample, its own canonical solution included. We apply
            # the oracle it intends: |poly(x)| <= atol.
            return bool(abs(_poly(*inp, out)) <= atol), atol
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if not exact_match and atol != 0:
            return _close(out, exp, atol), atol
        return bool(exact_match), atol
    except Exception:  # noqa: BLE001 - evalplus counts any exception in the check as a failure
        return False, atol


def _close(out: Any, exp: Any, atol: float) -> bool:
    import numpy as np

    if type(out) is not type(exp):
        return False
    if isinstance(exp, (list, tuple)) and len(out) != len(exp):
        return False
    return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))


_END_VERDICT = {
    GroupEnd.LOAD_ERROR: Verdict.ERROR,
    GroupEnd.STOPPED: Verdict.ERROR,
    GroupEnd.TIMEOUT: Verdict.TIMEOUT,
    GroupEnd.OUTPUT_LIMIT: Verdict.OUTPUT_LIMIT,
    GroupEnd.KILLED: Verdict.ERROR,
    GroupEnd.CRASHED: Verdict.ERROR,
    GroupEnd.OOM: Verdict.OOM,
    GroupEnd.LOST: Verdict.INFRA_ERROR,
    GroupEnd.COMPLETED: Verdict.ERROR,  # completed with fewer outcomes than inputs
}


@dataclass(frozen=True)
class Expected:
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    # The whole group's allowance (task_allowance): evalplus runs a group in one process that
    # it kills after min(60, sum(limits)) + 2 s, however quick each input was.
    total_s: float = math.inf


def task_allowance(limits: Sequence[float]) -> float:
    """evalplus 0.3.1 ``untrusted_check`` (fast_check, as ``evaluate`` calls it): the group's
    process is joined for ``timeout + 1`` s with ``timeout = min(60, sum(limits)) + 1``, then
    killed, and a killed group is a timeout. Measured here in CPU-seconds of the calls, like
    every per-input limit (a sleeping sample burns none)."""
    return min(TASK_TIMEOUT_S, sum(limits)) + TASK_SLACK_S


Verdicts = tuple[Verdict, FailingTest | None]


def judge_group(dataset: str, entry_point: str, atol: float, expected: Expected,
                result: GroupResult) -> Verdicts:
    spent = 0.0
    for i, outcome in enumerate(result.outcomes[: len(expected.inputs)]):
        inp = expected.inputs[i]
        spent += outcome.duration_s
        if outcome.kind is OutcomeKind.TIMED_OUT:
            return Verdict.TIMEOUT, FailingTest(result.name, i, inp, reason="time limit")
        if spent > expected.total_s:
            return Verdict.TIMEOUT, FailingTest(
                result.name, i, inp, reason=f"group time cap ({expected.total_s:g} s in all)")
        if outcome.kind is OutcomeKind.RAISED:
            verdict = Verdict.OOM if outcome.error == "MemoryError" else Verdict.ERROR
            return verdict, FailingTest(result.name, i, inp, reason=outcome.error)
        ok, atol = outputs_match(dataset, entry_point, atol, inp, outcome.value,
                                 expected.outputs[i])
        if not ok:
            return Verdict.FAILED, FailingTest(result.name, i, inp, expected.outputs[i],
                                               outcome.value, "wrong output")
    if len(result.outcomes) >= len(expected.inputs) and result.end is GroupEnd.COMPLETED:
        return Verdict.PASSED, None
    index = len(result.outcomes)
    inp = expected.inputs[index] if index < len(expected.inputs) else None
    return _END_VERDICT[result.end], FailingTest(result.name, index, inp,
                                                 reason=result.end.value)


@dataclass(frozen=True)
class EvalplusJudge:
    """Host-side verdict for one sample: base, then plus (evalplus runs both, always)."""

    dataset: str
    problem_id: str
    sample_index: int
    entry_point: str
    atol: float
    expected: Mapping[str, Expected]

    def __call__(self, results: Sequence[GroupResult]) -> Execution:
        verdicts: dict[str, Verdict] = {}
        failing: FailingTest | None = None
        for result in results:
            verdict, fail = judge_group(self.dataset, self.entry_point, self.atol,
                                        self.expected[result.name], result)
            verdicts[result.name] = verdict
            failing = failing or fail
        headline = next((v for v in verdicts.values() if not v.passed), Verdict.PASSED)
        duration = sum(o.duration_s for r in results for o in r.outcomes)
        detail = next((r.detail for r in results if r.detail), "")
        return Execution(self.problem_id, self.sample_index, headline, verdicts, failing,
                         duration, detail)


def time_limits(gt_times: Sequence[float], floor: float, factor: float) -> tuple[float, ...]:
    return tuple(max(floor, factor * t) for t in gt_times)


def make_group(name: str, inputs: Sequence[Any], gt_times: Sequence[float], floor: float,
               factor: float, digest_over: int = 0, max_weight: int = 0,
               iterate_outputs: bool = False) -> TestGroup:
    limits = time_limits(gt_times, floor, factor)
    # evalplus: process timeout = min(60, sum(limits)) + 1, joined with one more second. Our
    # group also spends wall time reporting every output (encoding, digesting large ones) that
    # evalplus, comparing in-process, does not: that time is ours, not the sample's, so the
    # backstop gets an allowance: digesting Mbpp/255's 1.66M tuples of 77 strings takes far
    # longer than the canonical solution's own 1.7 s (itertools, in C).
    deadline = task_allowance(limits) + 30.0 + 30.0 * sum(gt_times)
    return TestGroup(name, tuple(inputs), limits, deadline, digest_over, max_weight,
                     tuple(gt_times), iterate_outputs)


SPECIAL_ENTRY_POINTS = frozenset({"are_equivalent", "sum_div", "surface_Area",
                                  "digit_distance_nums", "find_zero"})


def has_oracle(entry_point: str) -> bool:
    """Whether evalplus judges the task's outputs with a special oracle instead of ``==``."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS, MBPP_OUTPUT_SET_EQ_TASKS

    return entry_point in SPECIAL_ENTRY_POINTS or entry_point in MBPP_OUTPUT_SET_EQ_TASKS or (
        entry_point in MBPP_OUTPUT_NOT_NONE_TASKS)


def set_compared(dataset: str, entry_point: str) -> bool:
    """Whether evalplus compares the task's outputs as ``set(out) == set(exp)``: it consumes
    any iterable a sample returns there (a generator passes), so the runner must too."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_SET_EQ_TASKS

    return dataset == "mbpp" and entry_point in MBPP_OUTPUT_SET_EQ_TASKS and (
        entry_point not in SPECIAL_ENTRY_POINTS)


def exact_only(dataset: str, entry_point: str, atol: float) -> bool:
    """Whether every output of the task is compared with plain ``==`` (before float checks)."""
    return atol == 0 and not has_oracle(entry_point)


def group_digest_over(dataset: str, entry_point: str, atol: float,
                      outputs: Sequence[Any]) -> int:
    """Digests are allowed for a sandbox group only where evalplus would compare with ``==``
    for every input: no tolerance, no oracle, no float expected output (is_floats)."""
    from evalplus.eval import is_floats

    if not exact_only(dataset, entry_point, atol):
        return 0
    if any(is_floats(v) for v in outputs if not isinstance(v, codec.Digest)):
        return 0
    from apr_eval.benchmarks.groundtruth import DIGEST_OVER

    return DIGEST_OVER


def group_max_weight(entry_point: str, heaviest: int) -> int:
    """The oversize cap of a group (see codec.weight): equal values weigh the same, so with
    ``==`` the heaviest expected output would do; the margin covers evalplus's tolerance
    (np.allclose broadcasts). No cap where an oracle may accept any size: set equality
    (duplicates), 'is not None', Mbpp/164's 'always equal'."""
    return 0 if has_oracle(entry_point) else 2 * heaviest + WEIGHT_MARGIN


Deserializer = Callable[[str, list[Any]], list[Any]]
