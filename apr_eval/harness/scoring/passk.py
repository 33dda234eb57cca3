"""pass@k: the unbiased estimator (Chen et al. 2021, via evalplus) with a 95% interval.

The interval is labelled by how it was made (``PassAtK.ci_method``):

- ``wilson``: one sample per problem, pass@1 is a plain proportion of problems: the Wilson
  score interval (statsmodels), honest at small counts (1 of 20 is [0.9%, 23.6%], not the
  [0, 14.8%] a percentile bootstrap gives).
- ``t-clustered``: several samples per problem: a t-interval over per-problem pass@k values,
  so samples of one problem count as one cluster, not as independent evidence.
- ``wilson-bound``: several samples but no spread between problems (all equal): Wilson on the
  problem count, the widest interval a mean of values in [0, 1] can need.

Both answer "a new draw of problems like these"; clipped to [0, 1].
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from apr_eval.core import PassAtK

KS = (1, 5, 10, 100)
LEVEL = 0.95


def per_problem(n: Sequence[int], c: Sequence[int], k: int) -> np.ndarray:
    """pass@k of each problem; evalplus's own ``estimate_pass_at_k``."""
    from evalplus.eval import estimate_pass_at_k  # imports numpy/psutil: keep it lazy

    return np.asarray(estimate_pass_at_k(np.asarray(n), np.asarray(c), k), dtype=float)


def wilson(successes: float, trials: int, level: float = LEVEL) -> tuple[float, float]:
    low, high = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
    return float(low), float(high)


def interval(values: np.ndarray, *, binary: bool,
             level: float = LEVEL) -> tuple[float, float, str]:
    """(low, high, method) of the mean of per-problem values in [0, 1]."""
    m = values.size
    if binary:
        return (*wilson(float(values.sum()), m, level), "wilson")
    if m < 2 or float(values.std()) == 0.0:
        return (*wilson(float(values.sum()), m, level), "wilson-bound")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = DescrStatsW(values).tconfint_mean(alpha=1 - level)
    return max(0.0, float(low)), min(1.0, float(high)), "t-clustered"


def pass_at_k(n: Sequence[int], c: Sequence[int], k: int, *, resamples: int = 0,
              seed: int = 0) -> PassAtK:
    """Mean pass@k over problems with a labelled 95% interval (``resamples``/``seed`` are
    accepted for compatibility; nothing here is random)."""
    if not n:
        raise ValueError("no problems to score")
    if min(n) < k:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem")
    values = per_problem(n, c, k)
    low, high, method = interval(values, binary=max(n) == 1)
    return PassAtK(k=k, value=float(values.mean()), ci_low=low, ci_high=high,
                   ci_method=method)


def ks_for(n_min: int) -> list[int]:
    """Every k in {1, 5, 10, 100} that the smallest per-problem sample count allows."""
    return [k for k in KS if k <= n_min]
