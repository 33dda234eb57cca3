"""Paired statistics for comparing two runs on the same problems.

Every function takes per-problem values in the same problem order for run A and run B (a
problem's pass fraction, 0/1 when there is one sample per problem) and is deterministic for a
given ``seed``. No scipy: the exact binomial tail is summed with integers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Values = Sequence[float] | np.ndarray  # per-problem values, one per problem

# Enumerate every sign assignment exactly up to this many non-zero differences (2**16 rows).
EXACT_SIGN_FLIP_MAX = 16
_CHUNK = 512  # bootstrap / permutation rows per numpy batch (bounded memory on 1000+ problems)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class TestResult:
    name: str  # "mcnemar-exact" / "sign-flip-exact" / "sign-flip"
    p_value: float
    lost: int  # problems where A did better than B
    gained: int  # problems where B did better than A


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips.

    The distribution is symmetric, so the two-sided p-value is twice the smaller tail,
    capped at 1. Integer sums: exact for any ``n`` (no float underflow at large ``n``).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1))
    return min(1.0, 2 * tail / (1 << n))


def mcnemar_exact(lost: int, gained: int) -> float:
    """Exact McNemar test: only discordant pairs count; under H0 each is a fair coin."""
    return binomial_two_sided(lost, lost + gained)


def _as_arrays(a: Values, b: Values) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if xa.shape != xb.shape or xa.ndim != 1:
        raise ValueError("paired statistics need two equally long 1-D sequences")
    if xa.size == 0:
        raise ValueError("no problems to compare")
    return xa, xb


def paired_bootstrap(a: Values, b: Values, *, resamples: int = 10_000,
                     seed: int = 0, level: float = 0.95) -> Interval:
    """Delta ``mean(b) - mean(a)`` with a percentile interval from resampling problems.

    Problems are resampled with their A and B values together (paired), so the interval
    reflects how much the *difference* moves, not each run's own spread.
    """
    xa, xb = _as_arrays(a, b)
    diff = xb - xa
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        idx = rng.integers(0, diff.size, size=(rows, diff.size))
        means[start:start + rows] = diff[idx].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(diff.mean()), float(low), float(high))


def sign_flip_p(a: Values, b: Values, *, resamples: int = 20_000,
                seed: int = 0) -> tuple[float, bool]:
    """Paired permutation (sign-flip) test of ``mean(b - a) == 0``; returns (p, exact).

    Under H0 each problem's difference is as likely to be +d as -d. With at most
    :data:`EXACT_SIGN_FLIP_MAX` non-zero differences every assignment is enumerated;
    otherwise a seeded Monte Carlo estimate ``(1 + hits) / (1 + resamples)`` is used.
    """
    xa, xb = _as_arrays(a, b)
    d = (xb - xa)[xb != xa]
    if d.size == 0:
        return 1.0, True
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= EXACT_SIGN_FLIP_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        hits = int((np.abs(signs @ d) >= observed - tol).sum())
        return hits / signs.shape[0], True
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        signs = rng.choice((-1.0, 1.0), size=(rows, d.size))
        hits += int((np.abs(signs @ d) >= observed - tol).sum())
    return (1 + hits) / (1 + resamples), False


def paired_test(a: Values, b: Values, *, binary: bool,
                resamples: int = 20_000, seed: int = 0) -> TestResult:
    """Exact McNemar when every problem has one sample (``binary``), else a sign-flip test."""
    xa, xb = _as_arrays(a, b)
    lost = int((xa > xb).sum())
    gained = int((xb > xa).sum())
    if binary:
        return TestResult("mcnemar-exact", mcnemar_exact(lost, gained), lost, gained)
    p, exact = sign_flip_p(xa, xb, resamples=resamples, seed=seed)
    return TestResult("sign-flip-exact" if exact else "sign-flip", p, lost, gained)
