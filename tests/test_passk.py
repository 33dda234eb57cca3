from math import comb

import numpy as np
import pytest

from apr_eval.harness.scoring.passk import ks_for, pass_at_k, per_problem


def exact(n, c, k):
    return 1 - comb(n - c, k) / comb(n, k) if n - c >= k else 1.0


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (20, 0, 10), (5, 5, 5), (200, 17, 100)])
def test_estimator_matches_closed_form(n, c, k):
    assert per_problem([n], [c], k)[0] == pytest.approx(exact(n, c, k))


def test_mean_and_interval():
    n = [10] * 50
    c = [i % 11 for i in range(50)]
    p = pass_at_k(n, c, 1)
    assert p.value == pytest.approx(sum(c) / 500)
    assert p.ci_low < p.value < p.ci_high
    assert p.ci_high - p.ci_low < 0.3
    assert pass_at_k(n, c, 1, seed=1).value == p.value


def test_interval_honest_when_all_pass():
    """30 of 30 is not [1, 1]: Wilson's interval reaches down to ~88.6%."""
    p = pass_at_k([1] * 30, [1] * 30, 1)
    assert (p.value, p.ci_method) == (1.0, "wilson") and p.ci_high == pytest.approx(1.0)
    assert p.ci_low == pytest.approx(0.8865, abs=1e-3)


def test_one_of_twenty_is_not_zero_to_fifteen_percent():
    """The issue's case: a percentile bootstrap gave [0, 0.148] for 1 of 20 problems."""
    from statsmodels.stats.proportion import proportion_confint

    p = pass_at_k([1] * 20, [1] + [0] * 19, 1)
    assert p.ci_method == "wilson"
    assert (p.ci_low, p.ci_high) == pytest.approx(proportion_confint(1, 20, method="wilson"))
    assert p.ci_low > 0 and p.ci_high > 0.2


def test_clustered_interval_at_many_samples_covers():
    """n = 10 samples on 30 problems: the t-interval over problems covers the true mean
    ~95% of the time (a per-sample interval would claim 300 independent draws)."""
    rng = np.random.default_rng(4)
    truth = rng.beta(0.6, 0.4, size=30)
    covered = 0
    for _ in range(300):
        c = rng.binomial(10, truth)
        p = pass_at_k([10] * 30, list(c), 1)
        assert p.ci_method == "t-clustered"
        covered += p.ci_low <= truth.mean() <= p.ci_high
    assert covered / 300 >= 0.9


def test_no_spread_between_problems_falls_back_to_a_bound():
    p = pass_at_k([5] * 10, [0] * 10, 1)
    assert p.ci_method == "wilson-bound" and p.ci_low == 0.0 and p.ci_high > 0.2


def test_k_larger_than_n_refused():
    with pytest.raises(ValueError):
        pass_at_k([3, 3], [1, 1], 5)
    assert ks_for(3) == [1] and ks_for(10) == [1, 5, 10] and ks_for(200) == [1, 5, 10, 100]
