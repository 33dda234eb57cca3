"""pass@k: the unbiased estimator (Chen et al. 2021, via evalplus) with a 95% interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from apr_eval.core import PassAtK

KS = (1, 5, 10, 100)


def per_problem(n: Sequence[int], c: Sequence[int], k: int) -> np.ndarray:
    """pass@k of each problem; evalplus's own ``estimate_pass_at_k``."""
    from evalplus.eval import estimate_pass_at_k  # imports numpy/psutil: keep it lazy

    return np.asarray(estimate_pass_at_k(np.asarray(n), np.asarray(c), k), dtype=float)


def pass_at_k(n: Sequence[int], c: Sequence[int], k: int, *, resamples: int = 2000,
              seed: int = 0) -> PassAtK:
    """Mean pass@k over problems, 95% percentile bootstrap over problems (seeded)."""
    if not n:
        raise ValueError("no problems to score")
    if min(n) < k:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem")
    values = per_problem(n, c, k)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PassAtK(k=k, value=float(values.mean()), ci_low=float(low), ci_high=float(high))


def ks_for(n_min: int) -> list[int]:
    """Every k in {1, 5, 10, 100} that the smallest per-problem sample count allows."""
    return [k for k in KS if k <= n_min]
