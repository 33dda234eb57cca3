"""`apr-eval plan`: the power planner answers the 0.6 pp question and says when it cannot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from nightly_support import F, P, problems, run_cli, write_run

from apr_eval.harness.regression import power
from apr_eval.harness.scoring import stats


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = run_cli(capsys, *args)
    return code, out + err


def test_the_issue_question(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "plan", "--bench", "humaneval", "--delta", "0.6",
                        "--problems", "164")
    assert code == 0
    needed = int(re.search(r"Needs ([\d,]+) samples per problem", out)[1].replace(",", ""))
    assert 100 <= needed <= 120  # "on the order of 100+ samples per problem"
    assert "smallest detectable gap is 6.2" in out
    assert "not reachable on this benchmark" in out  # 17k problems at one sample


def test_unreachable_with_a_per_problem_effect_spread(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "plan", "--bench", "humaneval", "--delta", "0.6",
                        "--problems", "164", "--problem-sd", "3")
    assert code == 0 and "UNREACHABLE on humaneval" in out


def test_plan_agrees_with_a_simulation() -> None:
    """The planned sample count detects the gap about 80% of the time."""
    rng = np.random.default_rng(3)
    p = rng.beta(0.6, 0.4, size=164)
    within = float(np.mean(p * (1 - p)))
    plan = power.plan(164, 4.0, within=within, source="simulated")
    n = plan.samples_needed
    assert n is not None and 1 < n < 50
    worse = np.clip(p * (1 - 0.04 / p.mean()), 0, 1)
    hits = sum(stats.paired(rng.binomial(n, p) / n, rng.binomial(n, worse) / n,
                            binary=False)[1].p_value < 0.05 for _ in range(300))
    assert 0.7 <= hits / 300 <= 0.92


def test_plan_from_an_earlier_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    samples = {pid: [(P, P) if rng.random() < 0.5 else (F, F) for _ in range(10)]
               for pid in problems(40)}
    write_run(tmp_path, "earlier", samples)
    code, out = cli(capsys, "plan", "--from", "earlier", "--delta", "5",
                        "--results-dir", str(tmp_path))
    assert code == 0
    assert "humaneval: 40 problems" in out and "run earlier, humaneval+" in out
    code, out = cli(capsys, "plan", "--delta", "5")
    assert code == 2 and "--bench" in out
