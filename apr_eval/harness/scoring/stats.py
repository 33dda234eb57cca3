"""Paired statistics for comparing two runs on the same problems (scipy / statsmodels).

Two regimes, each with a test and an interval that always agree (the interval excludes 0
exactly when p < alpha):

- **one sample per problem** (``binary``): the exact McNemar test on the discordant problems,
  with the exact conditional interval: Clopper-Pearson on the share of discordant problems
  that B won, mapped onto the delta. It answers "on *these* problems, is one run better?"
  (each problem re-sampled once; the problem set is held fixed).
- **several samples per problem**: a paired t-test and t-interval over the per-problem
  differences of pass fractions (problems are the clusters; samples of one problem are not
  independent evidence). It answers "would a new draw of problems like these, each sampled
  as often, show a difference?".

``mde`` is the smallest drop the same design detects with 80% power; ``problem_flips`` is
Fisher's exact test per problem with a family-wise (Holm) or FDR (Benjamini-Hochberg)
correction across problems; ``family_adjust`` corrects a night's many comparisons.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW

POWER = 0.8
MCNEMAR = "mcnemar-exact"
PAIRED_T = "paired-t"
SIGN = "sign-test"
QUESTION = {
    MCNEMAR: "these problems, each re-sampled once (exact conditional interval)",
    PAIRED_T: "a new draw of problems like these (t-interval clustered by problem)",
    SIGN: "a new draw of problems like these (every problem moved the same way)",
}
FLIP_METHODS = ("holm", "fdr_bh")


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class TestResult:
    name: str  # MCNEMAR / PAIRED_T / SIGN
    p_value: float
    lost: int  # problems where A did better than B
    gained: int  # problems where B did better than A


def _arrays(a: Sequence[float] | np.ndarray,
            b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape or xa.ndim != 1:
        raise ValueError("paired statistics need two equally long 1-D sequences")
    if xa.size == 0:
        raise ValueError("no problems to compare")
    return xa, xb


def mcnemar_exact(lost: int, gained: int) -> float:
    """Exact McNemar p-value: under H0 each discordant problem is a fair coin."""
    if lost + gained == 0:
        return 1.0
    return float(mcnemar([[0, lost], [gained, 0]], exact=True).pvalue)


def binary_delta(lost: int, gained: int, problems: int, alpha: float) -> Interval:
    """Delta B - A with the exact conditional interval that matches the exact McNemar test.

    Given D discordant problems, B won ``gained`` of them; Clopper-Pearson bounds on that
    share (q) map to ``D / problems * (2q - 1)``.
    """
    d = lost + gained
    estimate = (gained - lost) / problems
    if d == 0:
        return Interval(estimate, 0.0, 0.0)
    ci = sps.binomtest(gained, d).proportion_ci(1 - alpha, method="exact")
    scale = d / problems
    return Interval(estimate, scale * (2 * ci.low - 1), scale * (2 * ci.high - 1))


def clustered_delta(diff: np.ndarray, alpha: float) -> tuple[Interval, float, str]:
    """(delta interval, p-value, test name) from per-problem differences, clustered."""
    mean = float(diff.mean())
    if diff.size < 2 or float(diff.std()) == 0.0:
        # No spread to build a t statistic from: a sign test on how many problems moved.
        down, up = int((diff < 0).sum()), int((diff > 0).sum())
        p = 1.0 if down + up == 0 else float(sps.binomtest(up, down + up).pvalue)
        return Interval(mean, mean if p < alpha else min(mean, 0.0),
                        mean if p < alpha else max(mean, 0.0)), p, SIGN
    d = DescrStatsW(diff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, p, _ = d.ttest_mean(0.0)
        low, high = d.tconfint_mean(alpha=alpha)
    return Interval(mean, float(low), float(high)), float(p), PAIRED_T


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
           binary: bool, alpha: float = 0.05) -> tuple[Interval, TestResult]:
    """Delta interval and test for per-problem pass fractions of A and B (same order)."""
    xa, xb = _arrays(a, b)
    lost, gained = int((xa > xb).sum()), int((xb > xa).sum())
    if binary:
        interval = binary_delta(lost, gained, xa.size, alpha)
        return interval, TestResult(MCNEMAR, mcnemar_exact(lost, gained), lost, gained)
    interval, p, name = clustered_delta(xb - xa, alpha)
    return interval, TestResult(name, p, lost, gained)


# ------------------------------------------------------------------ what a design can detect


def standardized_effect(problems: int, alpha: float, power: float = POWER) -> float:
    """Cohen's d a paired t-test over ``problems`` clusters detects with ``power``."""
    if problems < 2:
        return math.inf
    effect = TTestPower().solve_power(effect_size=None, nobs=problems, alpha=alpha,
                                      power=power, alternative="two-sided")
    return float(np.asarray(effect).item())


def null_variance(ca: np.ndarray, na: np.ndarray, cb: np.ndarray, nb: np.ndarray) -> float:
    """Mean per-problem variance of the difference of pass fractions under "no change":
    each problem's pooled pass rate (unbiased Bernoulli variance) sampled na and nb times."""
    total, passed = na + nb, ca + cb
    rate = passed / total
    within = rate * (1 - rate) * total / np.maximum(total - 1, 1)
    return float(np.mean(within * (1 / na + 1 / nb)))


def mde(problems: int, variance: float, samples: float, alpha: float,
        power: float = POWER) -> float:
    """Smallest drop (a fraction) detected with ``power`` by this design.

    The per-problem sd of the difference is the larger of the observed null variance and the
    least a drop of that size itself causes (a drop delta makes a share ~delta of samples
    change: delta(1 - delta) / samples), so an all-agreeing pair of runs is not credited
    with detecting anything.
    """
    e = standardized_effect(problems, alpha, power)
    if not math.isfinite(e):
        return 1.0
    from_noise = e * math.sqrt(max(variance, 0.0))
    g = e * e / max(samples, 1.0)
    from_drop = g / (1 + g)
    return float(min(1.0, max(from_noise, from_drop)))


# ------------------------------------------------------------------ multiplicity


Counts = Sequence[int] | np.ndarray


def problem_flips(ca: Counts, na: Counts, cb: Counts, nb: Counts, *, alpha: float,
                  method: str = "holm") -> tuple[np.ndarray, np.ndarray]:
    """(corrected p-values, significant) of Fisher's exact test per problem (counts of
    passes ``c`` of ``n`` samples in A and B)."""
    if method not in FLIP_METHODS:
        raise ValueError(f"unknown correction '{method}' (known: {', '.join(FLIP_METHODS)})")
    raw = np.array([sps.fisher_exact([[int(x), int(n - x)], [int(y), int(m - y)]]).pvalue
                    for x, n, y, m in zip(ca, na, cb, nb, strict=True)], dtype=float)
    if raw.size == 0:
        return raw, raw.astype(bool)
    reject, corrected, _, _ = multipletests(raw, alpha=alpha, method=method)
    return np.asarray(corrected, dtype=float), np.asarray(reject, dtype=bool)


def adjust(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Multiplicity-adjusted p-values (statsmodels' ``multipletests``)."""
    if not p_values:
        return []
    _, corrected, _, _ = multipletests(np.asarray(p_values, dtype=float), method=method)
    return [float(p) for p in corrected]


def family_adjust(families: Sequence[Sequence[float]]) -> list[list[float]]:
    """Adjusted p-values for families of nested scores (a run's HumanEval and HumanEval+).

    Each family gets one p-value, Simes' (the smallest Benjamini-Hochberg-adjusted p, valid
    for positively dependent scores such as nested ones); Holm runs across families; a
    score's adjusted p is the larger of its family's Holm p and its own Hommel p within the
    family (closed testing with Simes). Family-wise error control across the whole set is
    what keeps a quiet night quiet.
    """
    simes = [min(adjust(list(f), "fdr_bh")) if f else 1.0 for f in families]
    across = adjust(simes, "holm")
    return [[max(across[i], w) for w in adjust(list(f), "hommel")]
            for i, f in enumerate(families)]
