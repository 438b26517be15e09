"""Tail exponents of the stationary density and Sarle's bimodality coefficient."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from spinefit.errors import ConfigError
from spinefit.families.tails import (
    BIMODALITY_THRESHOLD,
    bimodality_coefficient,
    has_stationary_density,
    linear_tail_exponent,
    tail_exponent,
)
from spinefit.simulate import linear_family_curves, stationary_density

pytestmark = pytest.mark.fast

LARGE = np.array([1e6, 1e8])


def test_linear_family_tends_to_one_minus_two_b_over_d():
    # Draws of (a, b, c, d) broadcast against the sizes: (n_draws, 1) against (n_w,).
    rng = np.random.default_rng(0)
    a, b, c, d = (
        rng.uniform(lo, hi, size=(50, 1))
        for lo, hi in ((0.0, 0.3), (-0.3, 0.05), (0.0, 0.1), (0.01, 0.2))
    )
    alpha = tail_exponent(lambda w: a + b * w, lambda w: c + d * w**2, LARGE)
    assert alpha.shape == (50, 2)
    # The approach is -2a/(d w) + O(w^-2): below 1e-4 at w = 1e6.
    np.testing.assert_allclose(alpha, linear_tail_exponent(b, d) + 0 * LARGE, atol=1e-4)
    np.testing.assert_allclose(linear_tail_exponent(-0.1, 0.04), 6.0)


def test_tail_exponent_matches_the_slope_of_the_stationary_density():
    # alpha(w) + 1 is minus the local log-log slope of the density p: compare it with the
    # numerical stationary density of the default truth at moderate sizes.
    grid = np.geomspace(0.1, 400.0, 200_001)
    drift, diffusion = linear_family_curves(0.1, -0.1, 0.04, 0.04, grid)
    density = stationary_density(drift, diffusion, grid)
    w = np.array([5.0, 20.0])
    local_slope = -np.interp(np.log(w), np.log(grid), np.gradient(np.log(density), np.log(grid)))
    alpha = tail_exponent(lambda x: 0.1 - 0.1 * x, lambda x: 0.04 + 0.04 * x**2, w)
    np.testing.assert_allclose(alpha, local_slope - 1.0, rtol=1e-4)


@pytest.mark.parametrize(
    ("beta", "gamma", "limit"),
    [
        (1.0, 2.0, 1.0 + 2 * 0.1 / 0.04),  # the linear family
        (0.5, 1.5, 0.5 + 2 * 0.1 / 0.04),  # beta + 1 = gamma: gamma - 1 - 2b/d
        (0.5, 2.0, 1.0),  # drift weaker than the noise at large w: gamma - 1
    ],
)
def test_power_family_limits(beta, gamma, limit):
    a, b, c, d = 0.1, -0.1, 0.04, 0.04
    alpha = tail_exponent(lambda w: a + b * w**beta, lambda w: c + d * w**gamma, 1e14)
    assert float(alpha) == pytest.approx(limit, rel=1e-4)


def test_power_drift_stronger_than_the_noise_gives_a_thin_tail():
    # beta + 1 > gamma with b < 0: alpha grows like w^(beta + 1 - gamma).
    alpha = tail_exponent(lambda w: 0.1 - 0.1 * w**1.5, lambda w: 0.04 + 0.04 * w**2, LARGE)
    assert np.all(alpha > 100)
    assert alpha[1] > 9 * alpha[0]


def test_linear_tail_exponent_without_multiplicative_noise():
    alpha = linear_tail_exponent(np.array([-0.1, 0.1, 0.0]), 0.0)
    assert alpha[0] == np.inf and alpha[1] == -np.inf and np.isnan(alpha[2])
    np.testing.assert_array_equal(has_stationary_density(alpha), [True, False, False])
    with pytest.raises(ConfigError, match="d must be"):
        linear_tail_exponent(0.1, -0.01)


def test_stationary_density_exists_when_b_is_below_half_d():
    b, d = np.meshgrid(np.linspace(-0.2, 0.2, 41), np.linspace(0.01, 0.3, 30))
    has_density = has_stationary_density(linear_tail_exponent(b, d))
    np.testing.assert_array_equal(has_density, b < d / 2)
    assert not has_stationary_density(np.nan)


def test_tail_exponent_rejects_non_positive_sizes_and_flags_non_positive_variance():
    with pytest.raises(ConfigError, match="sizes > 0"):
        tail_exponent(lambda w: -w, lambda w: w**2, np.array([0.0, 1.0]))
    alpha = tail_exponent(lambda w: -w, lambda w: 1.0 - w, np.array([0.5, 2.0]))
    assert np.isfinite(alpha[0]) and np.isnan(alpha[1])


def test_bimodality_coefficient_of_normal_and_two_mode_samples():
    rng = np.random.default_rng(1)
    normal = rng.standard_normal(2000)
    assert bimodality_coefficient(normal) < BIMODALITY_THRESHOLD
    assert bimodality_coefficient(normal) == pytest.approx(1 / 3, abs=0.03)
    mixture = np.concatenate([rng.normal(-3, 1, 1000), rng.normal(3, 1, 1000)])
    assert bimodality_coefficient(mixture) > BIMODALITY_THRESHOLD
    assert bimodality_coefficient(rng.uniform(size=20_000)) == pytest.approx(5 / 9, abs=0.01)


def test_bimodality_coefficient_matches_scipy_and_skips_nan_along_an_axis():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(3, 200))
    x[1, :50] = np.nan
    coefficient = bimodality_coefficient(x.T, axis=0)
    assert coefficient.shape == (3,)
    for row, value in zip(x, coefficient, strict=True):
        kept = row[~np.isnan(row)]
        n = kept.size
        g = stats.skew(kept, bias=False)
        k = stats.kurtosis(kept, bias=False)
        expected = (g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
        assert value == pytest.approx(expected, rel=1e-10)
    assert np.isnan(bimodality_coefficient([1.0, 2.0, 3.0]))
    assert np.isnan(bimodality_coefficient(np.ones(10)))
