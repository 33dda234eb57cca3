"""One headline score of two runs, paired: outcomes per problem, infra exclusion, the delta
with its interval and test, what the design can detect (``mde_pp``), and the real flips.

Infrastructure errors are never evidence: a sample whose verdict is ``infra_error`` in either
run is left out of *both* runs (pairwise, by problem and sample index) and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from apr_eval.core import Execution, SampleKey, Verdict
from apr_eval.errors import UsageError
from apr_eval.harness.scoring import stats

PassedFn = Callable[[str, Mapping[str, Verdict]], bool]


@dataclass(frozen=True)
class Flip:
    """One problem whose outcome changed between A and B."""

    problem_id: str
    a_passed: int
    a_samples: int
    b_passed: int
    b_samples: int
    # Verdict kinds of the failing samples on the side that did worse, e.g. {"timeout": 1}.
    kinds: Mapping[str, int] = field(default_factory=dict)
    p_value: float = 1.0  # Fisher's exact test for this problem, corrected across problems

    @property
    def kind_text(self) -> str:
        return ", ".join(f"{k}×{n}" if n > 1 else k for k, n in sorted(self.kinds.items()))

    @property
    def change(self) -> float:
        return self.b_passed / self.b_samples - self.a_passed / self.a_samples


@dataclass(frozen=True)
class ScoreComparison:
    score: str
    problems: int
    samples: float  # mean samples per problem and run, after exclusions
    pass_a: float
    pass_b: float
    delta: stats.Interval  # pass@1(B) - pass@1(A), as fractions, at 1 - alpha
    test: stats.TestResult
    interval_question: str  # which question the interval answers, in words
    discordance: float  # share of problems whose pass fraction differs
    correlation: float | None  # of per-problem pass fractions (None: no spread)
    mde_pp: float  # smallest drop detected with 80% power at alpha, percentage points
    lost: tuple[Flip, ...]  # real flips against B (n = 1: every discordant problem)
    gained: tuple[Flip, ...]
    changed: tuple[Flip, ...]  # every problem whose fraction moved, most significant first
    p_adjusted: float  # the test's p after multiplicity correction (the decision uses this)
    significant: bool
    regressed: bool  # significant after correction and the drop exceeds max_drop_pp

    @property
    def delta_pp(self) -> float:
        return self.delta.estimate * 100


@dataclass
class Outcome:
    samples: int = 0
    passed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class InfraExclusion:
    infra_a: int  # samples of A with an infra_error verdict
    infra_b: int
    excluded: int  # samples left out of each run (a pair with an infra error on either side)
    total: int  # samples of the shared problems before exclusion (the larger run)
    unpaired: int = 0  # samples in one run only (not infra): also left out

    @property
    def share(self) -> float:
        return self.excluded / self.total if self.total else 0.0


def pair_executions(ea: Mapping[SampleKey, Execution], eb: Mapping[SampleKey, Execution],
                    ) -> tuple[list[Execution], list[Execution], InfraExclusion]:
    """Executions of the problems both runs have, minus every sample index that is an
    infra error on either side or missing on one side."""
    shared = {k.problem_id for k in ea} & {k.problem_id for k in eb}
    ka = {k for k in ea if k.problem_id in shared}
    kb = {k for k in eb if k.problem_id in shared}
    infra = {k for k in ka if ea[k].verdict is Verdict.INFRA_ERROR}
    infra |= {k for k in kb if eb[k].verdict is Verdict.INFRA_ERROR}
    keep = (ka & kb) - infra
    report = InfraExclusion(
        infra_a=sum(ea[k].verdict is Verdict.INFRA_ERROR for k in ka),
        infra_b=sum(eb[k].verdict is Verdict.INFRA_ERROR for k in kb),
        excluded=len(infra),
        total=max(len(ka), len(kb)), unpaired=len((ka ^ kb) - infra))
    order = sorted(keep, key=lambda k: (k.problem_id, k.sample_index))
    return [ea[k] for k in order], [eb[k] for k in order], report


def _failure_kind(e: Execution) -> str:
    for verdict in e.group_verdicts.values():
        if not verdict.passed:
            return verdict.value
    return e.verdict.value


def outcomes(executions: Iterable[Execution], score: str,
             passed: PassedFn) -> dict[str, Outcome]:
    """problem id -> samples, passed samples, and the verdict kinds of the failed ones."""
    table: dict[str, Outcome] = {}
    for e in executions:
        verdicts = e.rule_verdicts()
        row = table.setdefault(e.problem_id, Outcome())
        row.samples += 1
        if passed(score, verdicts):
            row.passed += 1
        else:
            row.kinds[_failure_kind(e)] += 1
    return table


def _flip(pid: str, a: Outcome, b: Outcome, p: float) -> Flip:
    worse = b if b.passed * a.samples < a.passed * b.samples else a
    return Flip(pid, a.passed, a.samples, b.passed, b.samples, dict(worse.kinds), p)


def _correlation(fa: np.ndarray, fb: np.ndarray) -> float | None:
    if fa.size < 2 or fa.std() == 0 or fb.std() == 0:
        return None
    return float(np.corrcoef(fa, fb)[0, 1])


def decide(s: ScoreComparison, p_adjusted: float, *, alpha: float,
           max_drop_pp: float) -> ScoreComparison:
    """The verdict from a (multiplicity-adjusted) p-value: significant, and a regression when
    the drop is also larger than ``max_drop_pp``."""
    significant = p_adjusted < alpha
    return replace(s, p_adjusted=p_adjusted, significant=significant,
                   regressed=significant and -s.delta_pp > max_drop_pp)


def compare_score(score: str, a: Mapping[str, Outcome], b: Mapping[str, Outcome], *,
                  order: Callable[[str], Any], alpha: float,
                  flip_method: str = "holm") -> ScoreComparison:
    """The paired comparison of one score (undecided: ``p_adjusted`` is the raw p)."""
    pids = sorted(set(a) & set(b), key=order)
    if not pids:
        raise UsageError(f"{score}: the runs share no executed problem")
    na = np.array([a[p].samples for p in pids], dtype=float)
    nb = np.array([b[p].samples for p in pids], dtype=float)
    ca = np.array([a[p].passed for p in pids], dtype=float)
    cb = np.array([b[p].passed for p in pids], dtype=float)
    fa, fb = ca / na, cb / nb
    binary = bool((na == 1).all() and (nb == 1).all())
    delta, test = stats.paired(fa, fb, binary=binary, alpha=alpha)
    samples = float((na.mean() + nb.mean()) / 2)
    variance = stats.null_variance(ca, na, cb, nb)
    mde = stats.mde(len(pids), variance, samples, alpha)
    if binary:
        p_flip, real = np.ones(len(pids)), fa != fb
    else:
        p_flip, real = stats.problem_flips(ca, na, cb, nb, alpha=alpha, method=flip_method)
    moved = [i for i in range(len(pids)) if fa[i] != fb[i]]
    changed = tuple(sorted((_flip(pids[i], a[pids[i]], b[pids[i]], float(p_flip[i]))
                            for i in moved), key=lambda f: (f.p_value, f.change)))
    lost = tuple(_flip(pids[i], a[pids[i]], b[pids[i]], float(p_flip[i]))
                 for i in moved if real[i] and fa[i] > fb[i])
    gained = tuple(_flip(pids[i], a[pids[i]], b[pids[i]], float(p_flip[i]))
                   for i in moved if real[i] and fb[i] > fa[i])
    return ScoreComparison(
        score=score, problems=len(pids), samples=samples, pass_a=float(fa.mean()),
        pass_b=float(fb.mean()), delta=delta, test=test,
        interval_question=stats.QUESTION[test.name], discordance=len(moved) / len(pids),
        correlation=_correlation(fa, fb), mde_pp=mde * 100, lost=lost, gained=gained,
        changed=changed, p_adjusted=test.p_value, significant=False, regressed=False)
