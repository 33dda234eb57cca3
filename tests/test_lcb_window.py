"""Date windows on the embedded problems: counts, pass@1 and the contamination mark."""

from __future__ import annotations

from datetime import date

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.core import Check, GroupEnd, GroupResult, Outcome, OutcomeKind, SandboxLimits
from apr_eval.harness.scoring.score import score_run
from apr_eval.harness.scoring.window import (
    DateWindow,
    possibly_contaminated,
    score_in_window,
    window_report,
)
from apr_eval.sandbox.executor import FakeExecutor


def _answers_atcoder_only(check: Check) -> list[GroupResult]:
    """A fake sandbox in which the 'model' prints the right answer on AtCoder problems only."""
    group = check.job.groups[0]
    if check.job.mode.value == "stdio":
        pid = check.job.key.problem_id
        outs = tuple(Outcome(OutcomeKind.RETURNED, EXPECTED[pid][i]) for i in
                     range(len(group.inputs)))
    else:
        outs = (Outcome(OutcomeKind.RETURNED, None),)
    return [GroupResult(group.name, outs, GroupEnd.COMPLETED)]


EXPECTED: dict[str, list[str]] = {}


def _score(start: str | None, end: str | None) -> tuple[float, int]:
    bench = open_benchmark("livecodebench", start_date=start, end_date=end)
    problems = bench.load()
    for p in problems:
        EXPECTED[p.problem_id] = [t.output for t in p.metadata["tests"]]
    checks = [bench.build_check(p, "print()", 0, SandboxLimits()) for p in problems]
    execs = {e.key: e for e in FakeExecutor(_answers_atcoder_only).run(checks, SandboxLimits())}
    (score,) = score_run("r", execs, bench)
    assert score.k == 1 and score.problems == len(problems)
    return score.pass_at_k, score.problems


def test_window_changes_counts_and_pass_at_1() -> None:
    everything = _score(None, None)
    assert everything[1] == 342
    before = _score(None, "2024-12-31")
    after = _score("2025-01-01", None)
    assert before[1] + after[1] == 342 and before[1] > 0 and after[1] > 0
    assert before[0] != after[0]  # the AtCoder share differs across the two windows
    day = _score("2025-01-04", "2025-01-04")  # inclusive whole days, any time of day
    on_day = [p for p in open_benchmark("livecodebench").load()
              if p.metadata["contest_date"].startswith("2025-01-04")]
    assert day[1] == len(on_day) and len({p.metadata["contest_date"] for p in on_day}) > 1


def test_contamination_mark() -> None:
    window = DateWindow(date(2025, 1, 1), date(2025, 4, 30))
    assert window_report(window, 182, date(2025, 3, 1)).contaminated
    assert window_report(window, 182, date(2025, 1, 1)).contaminated  # on the start day
    assert not window_report(window, 182, date(2024, 12, 31)).contaminated
    assert not possibly_contaminated(None, date(2025, 1, 1))
    assert possibly_contaminated(date(2020, 1, 1), None)
    assert window.as_strings() == ("2025-01-01", "2025-04-30")


def test_rescoring_a_run_in_windows() -> None:
    bench = open_benchmark("livecodebench")
    problems = bench.load()
    for p in problems:
        EXPECTED[p.problem_id] = [t.output for t in p.metadata["tests"]]
    checks = [bench.build_check(p, "print()", 0, SandboxLimits()) for p in problems]
    execs = {e.key: e for e in FakeExecutor(_answers_atcoder_only).run(checks, SandboxLimits())}
    cutoff = date(2024, 12, 1)
    early, early_report = score_in_window("r", execs, bench, problems,
                                          window=DateWindow(None, date(2024, 12, 31)),
                                          cutoff=cutoff)
    late, late_report = score_in_window("r", execs, bench, problems,
                                        window=DateWindow(date(2025, 1, 1), None), cutoff=cutoff)
    assert early_report.contaminated and not late_report.contaminated
    assert early_report.problems + late_report.problems == 342
    assert early[0].problems == early_report.problems and late[0].problems == late_report.problems
    atcoder_late = [p for p in problems if p.release_date and p.release_date >= date(2025, 1, 1)
                    and p.metadata["platform"] == "atcoder"]
    assert late[0].pass_at_k == len(atcoder_late) / late_report.problems
