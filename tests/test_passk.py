from math import comb

import pytest

from apr_eval.harness.passk import ks_for, pass_at_k, per_problem


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


def test_interval_degenerate_when_all_pass():
    p = pass_at_k([1] * 30, [1] * 30, 1)
    assert (p.value, p.ci_low, p.ci_high) == (1.0, 1.0, 1.0)


def test_k_larger_than_n_refused():
    with pytest.raises(ValueError):
        pass_at_k([3, 3], [1, 1], 5)
    assert ks_for(3) == [1] and ks_for(10) == [1, 5, 10] and ks_for(200) == [1, 5, 10, 100]
