"""Stationary Fokker–Planck densities against closed forms (no simulation, no MCMC)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from spinefit.errors import ConfigError
from spinefit.simulate import (
    linear_family_curves,
    stationary_density,
    stationary_elimination_rate,
)

pytestmark = pytest.mark.fast

# Max absolute error relative to the peak of the closed-form density, on fine grids.
PEAK_RELATIVE_TOLERANCE = 1e-3


def peak_relative_error(density: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(density - reference)) / np.max(reference))


def test_multiplicative_noise_gives_inverse_gamma():
    # mu = alpha - beta w, sigma = s w  ->  inverse gamma, shape 1 + 2 beta/s^2, scale 2 alpha/s^2
    alpha, beta, s = 0.1, 0.1, 0.2
    grid = np.linspace(1e-3, 20.0, 20_001)  # density at 1e-3 is exp(-5000): log space needed
    drift, diffusion = linear_family_curves(alpha, -beta, 0.0, s**2, grid)
    density = stationary_density(drift, diffusion, grid)
    reference = stats.invgamma(1 + 2 * beta / s**2, scale=2 * alpha / s**2).pdf(grid)
    assert peak_relative_error(density, reference) < PEAK_RELATIVE_TOLERANCE
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-12)


def test_ornstein_uhlenbeck_gives_normal():
    theta, mean, sigma = 0.5, 1.0, 0.3
    grid = np.linspace(-2.0, 4.0, 4001)
    drift = theta * (mean - grid)
    density = stationary_density(drift, np.full_like(grid, sigma), grid)
    reference = stats.norm(mean, sigma / np.sqrt(2 * theta)).pdf(grid)
    assert peak_relative_error(density, reference) < PEAK_RELATIVE_TOLERANCE


def test_absorbing_brownian_motion_with_uniform_reinsertion():
    # mu = 0, constant sigma on [0, L], absorbing at 0, new sizes uniform on [0, L]:
    # p(w) = 3 (L w - w^2 / 2) / L^3 and r = 3 sigma^2 / (2 L^2).
    length, sigma = 2.0, 0.3
    grid = np.linspace(0.0, length, 2001)
    options = {"threshold": 0.0, "reinsertion": np.ones_like(grid)}
    zero, flat = np.zeros_like(grid), np.full_like(grid, sigma)
    density = stationary_density(zero, flat, grid, boundary="absorbing", **options)
    reference = 3 * (length * grid - grid**2 / 2) / length**3
    assert peak_relative_error(density, reference) < PEAK_RELATIVE_TOLERANCE
    assert density[0] == 0.0
    rate = stationary_elimination_rate(zero, flat, grid, **options)
    assert rate == pytest.approx(3 * sigma**2 / (2 * length**2), rel=1e-4)


def test_absorbing_density_has_the_derived_flux():
    # Independent check of the derivation: J = mu p - (sigma^2 p)'/2 must equal r (G - 1).
    grid = np.linspace(0.1, 15.0, 30_001)
    drift, diffusion = linear_family_curves(0.1, -0.1, 0.04, 0.04, grid)
    new_sizes = stats.lognorm(0.5, scale=0.3).pdf(grid)
    options = {"threshold": 0.1, "reinsertion": new_sizes}
    density = stationary_density(drift, diffusion, grid, boundary="absorbing", **options)
    rate = float(stationary_elimination_rate(drift, diffusion, grid, **options))
    flux = drift * density - 0.5 * np.gradient(diffusion**2 * density, grid)
    new_cdf = stats.lognorm(0.5, scale=0.3).cdf(grid)
    new_cdf = (new_cdf - new_cdf[0]) / (new_cdf[-1] - new_cdf[0])
    interior = slice(5, -5)
    assert np.max(np.abs(flux[interior] - rate * (new_cdf[interior] - 1))) < 1e-3 * rate


def test_threshold_sets_density_to_zero_below_it():
    grid = np.linspace(0.0, 5.0, 501)
    drift, diffusion = linear_family_curves(0.1, -0.1, 0.01, 0.04, grid)
    density = stationary_density(drift, diffusion, grid, threshold=0.5)
    assert np.all(density[grid < 0.5] == 0)
    assert np.all(density[grid >= 0.5] > 0)
    domain = grid >= 0.5
    assert np.trapezoid(density[domain], grid[domain]) == pytest.approx(1.0, abs=1e-12)


def test_vectorised_over_draws_matches_one_at_a_time(rng):
    n_draws, n_grid = 1000, 1000
    a = rng.uniform(0.05, 0.15, n_draws)
    b = -rng.uniform(0.05, 0.15, n_draws)
    c = rng.uniform(0.005, 0.05, n_draws)
    d = rng.uniform(0.01, 0.05, n_draws)
    grid = np.linspace(0.1, 10.0, n_grid)
    new_sizes = stats.lognorm(0.5, scale=0.3).pdf(grid)
    drift, diffusion = linear_family_curves(a, b, c, d, grid)
    assert drift.shape == diffusion.shape == (n_draws, n_grid)
    for boundary in ("reflecting", "absorbing"):
        start = time.perf_counter()
        density = stationary_density(
            drift, diffusion, grid, boundary=boundary, threshold=0.1, reinsertion=new_sizes
        )
        elapsed = time.perf_counter() - start
        assert density.shape == (n_draws, n_grid)
        np.testing.assert_allclose(np.trapezoid(density, grid, axis=-1), 1.0, atol=1e-12)
        for i in (0, 517, 999):
            single = stationary_density(
                drift[i],
                diffusion[i],
                grid,
                boundary=boundary,
                threshold=0.1,
                reinsertion=new_sizes,
            )
            np.testing.assert_allclose(density[i], single, rtol=1e-12, atol=0)
        assert elapsed < 2.0  # typically ~0.1 s; generous for loaded CI machines
    rates = stationary_elimination_rate(
        drift, diffusion, grid, threshold=0.1, reinsertion=new_sizes
    )
    assert rates.shape == (n_draws,)
    assert np.all(rates > 0)


def test_draws_with_different_grids_of_parameters_broadcast():
    grid = np.linspace(0.1, 5.0, 200)
    drift, diffusion = linear_family_curves(np.full((4, 3), 0.1), -0.1, 0.01, 0.04, grid)
    assert stationary_density(drift, diffusion, grid).shape == (4, 3, 200)


def test_bad_options_raise_config_error():
    grid = np.linspace(0.0, 1.0, 11)
    flat = np.ones_like(grid)
    with pytest.raises(ConfigError, match="reinsertion"):
        stationary_density(flat, flat, grid, boundary="absorbing")
    with pytest.raises(ConfigError, match="diffusion must be > 0"):
        stationary_density(flat, np.zeros_like(grid), grid)
    with pytest.raises(ConfigError, match="grid's length"):
        stationary_density(flat[:-1], flat[:-1], grid)
    with pytest.raises(ConfigError, match="boundary"):
        stationary_density(flat, flat, grid, boundary="sticky")
    with pytest.raises(ConfigError, match="strictly increasing"):
        stationary_density(flat, flat, grid[::-1])
    with pytest.raises(ConfigError, match="c and d"):
        linear_family_curves(0.1, -0.1, -0.01, 0.04, grid)
