"""The interval helper (scipy.stats): Welch against closed forms on hand-computed data, the seeded bootstrap."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from rnnbench.report import stats

P = 0.975  # the upper quantile of a 95 % interval


def t_closed(p: float, df: int) -> float:
    """Student's t quantile in closed form: df = 1 (Cauchy) and df = 2."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    raise ValueError(df)


def test_welch_equal_variances_two_each_has_two_degrees_of_freedom():
    # a = [0, 2]: mean 1, s^2 = 2; b = [3, 5]: mean 4, s^2 = 2
    # se^2 = 2/2 + 2/2 = 2; df = 2^2 / ((1)^2/1 + (1)^2/1) = 2; half = t_{.975,2} * sqrt(2)
    iv = stats.welch([0, 2], [3, 5])
    half = t_closed(P, 2) * math.sqrt(2)
    assert iv.diff == -3
    assert iv.low == pytest.approx(-3 - half, rel=1e-9)
    assert iv.high == pytest.approx(-3 + half, rel=1e-9)
    assert not iv.excludes_zero and iv.sign() == 0      # [-9.08, 3.08]


def test_welch_one_constant_side_has_n_minus_one_degrees_of_freedom():
    # b constant: se^2 = s_a^2/n_a and df = n_a - 1 = 1; a = [10, 12]: mean 11, s^2 = 2, se = 1
    iv = stats.welch([10, 12], [1, 1, 1])
    assert iv.diff == 10
    assert iv.low == pytest.approx(10 - t_closed(P, 1), rel=1e-9)   # 10 - 12.706 < 0
    assert not iv.excludes_zero
    iv = stats.welch([10, 10.2], [1, 1, 1])                         # se = 0.1: 9.1 +- 1.27
    assert iv.diff == pytest.approx(9.1)
    assert iv.low == pytest.approx(9.1 - 0.1 * t_closed(P, 1), rel=1e-9)
    assert iv.excludes_zero and iv.sign() == 1


def test_welch_unequal_sizes_by_hand():
    # a = 1..5: mean 3, s^2 = 2.5; b = 2,4,6: mean 4, s^2 = 4
    # se^2 = 0.5 + 4/3 = 11/6; df = (11/6)^2 / (0.5^2/4 + (4/3)^2/2) = 3.532847
    iv = stats.welch([1, 2, 3, 4, 5], [2, 4, 6])
    se2 = 0.5 + 4 / 3
    df = se2 ** 2 / (0.25 / 4 + (16 / 9) / 2)
    assert df == pytest.approx(3.532847, abs=1e-6)
    half = scipy.stats.t.ppf(P, df) * math.sqrt(se2)
    assert (iv.low, iv.high) == pytest.approx((-1 - half, -1 + half), rel=1e-12)


def test_welch_needs_two_per_side_and_ignores_nan():
    iv = stats.welch([1.0], [2.0, 3.0])
    assert not iv.defined and not iv.excludes_zero and iv.sign() == 0 and iv.text() == "n/a"
    iv = stats.welch([1.0, np.nan, 3.0], [2.0, 2.0, None])
    assert iv.n_a == 2 and iv.n_b == 2 and iv.diff == 0.0


def test_welch_zero_variance_is_a_point():
    iv = stats.welch([1, 1], [0, 0])
    assert (iv.low, iv.high) == (1, 1) and iv.excludes_zero


def test_bootstrap_is_deterministic_with_a_seed():
    g = np.random.default_rng(1)
    a, b = g.normal(1.0, 1.0, 40), g.normal(0.0, 1.0, 40)
    one, two = stats.bootstrap(a, b, seed=3), stats.bootstrap(a, b, seed=3)
    assert one == two
    other = stats.bootstrap(a, b, seed=4)
    assert other != one
    assert other.low == pytest.approx(one.low, abs=0.1)
    # close to Welch on a large, normal sample, and both see the difference
    w = stats.welch(a, b)
    assert one.low == pytest.approx(w.low, abs=0.15) and one.high == pytest.approx(w.high, abs=0.15)
    assert one.excludes_zero and w.excludes_zero


def test_bootstrap_on_hand_data_is_within_the_sample_range():
    iv = stats.bootstrap([1, 2, 3, 4, 5], [2, 4, 6], seed=0)
    assert iv.diff == -1
    assert -5 <= iv.low <= -1 <= iv.high <= 3     # means of resamples: a* in [1, 5], b* in [2, 6]


def test_interval_dispatches_and_rejects_unknown_methods():
    assert stats.interval([0, 2], [3, 5], "welch") == stats.welch([0, 2], [3, 5])
    assert stats.interval([0, 2], [3, 5], "bootstrap") == stats.bootstrap([0, 2], [3, 5])
    with pytest.raises(ValueError, match="unknown interval method 'x'"):
        stats.interval([1], [2], "x")


def test_better_follows_the_metric_direction():
    iv = stats.welch([1, 1.1, 0.9], [5, 5.1, 4.9])       # a lower with confidence
    assert stats.better(iv, "min") == 1 and stats.better(iv, "max") == -1


def test_loglinear_fit_recovers_an_exponential():
    lag = np.arange(50)
    slope, r2, n = stats.loglinear_fit(lag, 3 * 0.9 ** lag)
    assert math.exp(slope) == pytest.approx(0.9) and r2 == pytest.approx(1.0) and n == 50
    assert math.isnan(stats.loglinear_fit([0, 1], [1, 0.5])[0])       # < 3 points
