"""Paired statistics checked against hand-computed values and seeded simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apr_eval.harness import stats


@pytest.mark.parametrize(
    ("lost", "gained", "expected"),
    [
        # n = 10 discordant pairs, 2 one way: P(X <= 2) = (1 + 10 + 45) / 1024, two-sided x2.
        (2, 8, 2 * 56 / 1024),
        (8, 2, 2 * 56 / 1024),
        # 6 flips all one way: 2 * 0.5**6 = 0.03125 (the smallest all-one-way n below 0.05).
        (6, 0, 0.03125),
        (5, 0, 0.0625),
        # 1 vs 9: 2 * (1 + 9 + ...) -> 2 * (1 + 10) / 1024 = 0.021484375
        (1, 9, 22 / 1024),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 4, 1.0),
    ],
)
def test_mcnemar_exact_hand_computed(lost: int, gained: int, expected: float) -> None:
    assert stats.mcnemar_exact(lost, gained) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_large_n_is_exact_and_finite() -> None:
    # 600 vs 400 discordant pairs: the tail is tiny but not zero; compare with a log-space sum.
    n, k = 1000, 400
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
                 for i in range(k + 1)]
    top = max(log_terms)
    expected = 2 * math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    got = stats.mcnemar_exact(k, n - k)
    assert 0 < got < 1e-9
    assert got == pytest.approx(expected, rel=1e-9)


def test_binomial_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        stats.binomial_two_sided(5, 3)


def test_sign_flip_on_binary_data_equals_exact_mcnemar() -> None:
    # On 0/1 outcomes the exact sign-flip test *is* the exact binomial test on discordant pairs.
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = rng.integers(0, 2, size=30)
        b = rng.integers(0, 2, size=30)
        lost, gained = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        if lost + gained > stats.EXACT_SIGN_FLIP_MAX:
            continue
        p, exact = stats.sign_flip_p(a, b)
        assert exact
        assert p == pytest.approx(stats.mcnemar_exact(lost, gained), rel=1e-12)


def test_sign_flip_hand_case_with_fractions() -> None:
    # differences +0.5, +0.5, +0.5, -0.25: |sum| = 1.25. Of 16 sign patterns, those with
    # |sum| >= 1.25: all three 0.5s same sign (either way) -> sums 1.5 +- 0.25 -> 1.75, 1.25
    # i.e. 4 patterns out of 16.
    a = [0.0, 0.0, 0.0, 0.5]
    b = [0.5, 0.5, 0.5, 0.25]
    p, exact = stats.sign_flip_p(a, b)
    assert exact
    assert p == pytest.approx(4 / 16)


def test_sign_flip_monte_carlo_is_seeded_and_sensible() -> None:
    rng = np.random.default_rng(7)
    a = rng.random(200)
    b = a - 0.05 + rng.normal(0, 0.1, size=200)  # a clear drop
    p1, exact = stats.sign_flip_p(a, b, seed=3)
    p2, _ = stats.sign_flip_p(a, b, seed=3)
    assert not exact
    assert p1 == p2
    assert p1 < 0.001
    same = a + np.random.default_rng(100).normal(0, 0.1, size=200)  # no drop
    p_null, _ = stats.sign_flip_p(a, same, seed=3)
    assert p_null > 0.01


def test_sign_flip_type_one_error_near_alpha() -> None:
    """Under H0 (exchangeable pairs) the test rejects at about the nominal 5%."""
    rng = np.random.default_rng(11)
    rejections = 0
    trials = 300
    for i in range(trials):
        base = rng.random(60)
        a = np.clip(base + rng.normal(0, 0.2, 60), 0, 1).round(1)
        b = np.clip(base + rng.normal(0, 0.2, 60), 0, 1).round(1)
        p, _ = stats.sign_flip_p(a, b, resamples=2000, seed=i)
        rejections += p < 0.05
    assert 0.02 <= rejections / trials <= 0.09


def test_bootstrap_interval_coverage_in_seeded_simulation() -> None:
    """95% paired bootstrap interval covers the true delta about 95% of the time."""
    # Joint outcome distribution per problem: (A, B) = (1,1) .6, (1,0) .1, (0,1) .05, (0,0) .25
    probs = [0.6, 0.1, 0.05, 0.25]
    outcomes = np.array([(1, 1), (1, 0), (0, 1), (0, 0)], dtype=float)
    true_delta = 0.05 - 0.1
    rng = np.random.default_rng(2024)
    trials, covered, widths = 300, 0, []
    for i in range(trials):
        draw = outcomes[rng.choice(4, size=164, p=probs)]
        interval = stats.paired_bootstrap(draw[:, 0], draw[:, 1], resamples=2000, seed=i)
        covered += interval.low <= true_delta <= interval.high
        widths.append(interval.high - interval.low)
    coverage = covered / trials
    # Binomial sd of the coverage estimate is ~1.3 pp at 300 trials.
    assert 0.91 <= coverage <= 0.985, coverage
    # Width: var(d) = 0.15 - 0.05**2 = 0.1475, sd of the mean sqrt(0.1475/164) = 0.030,
    # so a 95% interval is about 2 * 1.96 * 0.030 = 0.118 wide.
    assert 0.105 < float(np.mean(widths)) < 0.13


def test_bootstrap_is_paired() -> None:
    """Identical runs give a zero-width interval; the unpaired spread would not be zero."""
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 20
    interval = stats.paired_bootstrap(a, a, resamples=500)
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_bootstrap_seeded_and_ordered() -> None:
    a = [1.0] * 50 + [0.0] * 50
    b = [1.0] * 40 + [0.0] * 60
    one = stats.paired_bootstrap(a, b, seed=5)
    two = stats.paired_bootstrap(a, b, seed=5)
    assert one == two
    assert one.estimate == pytest.approx(-0.10)
    assert one.low < one.estimate < one.high < 0


def test_paired_test_picks_mcnemar_for_single_samples() -> None:
    a = [1.0] * 10 + [0.0] * 5
    b = [0.0] * 6 + [1.0] * 4 + [0.0] * 5
    result = stats.paired_test(a, b, binary=True)
    assert (result.name, result.lost, result.gained) == ("mcnemar-exact", 6, 0)
    assert result.p_value == pytest.approx(0.03125)
    result = stats.paired_test([0.5, 1.0], [0.5, 0.0], binary=False)
    assert result.name == "sign-flip-exact"
    assert result.p_value == pytest.approx(1.0)
