"""Fixed points of drift draws: zeros, stability, grouping across draws, probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinefit.errors import ConfigError
from spinefit.families.fixed_points import fixed_points

pytestmark = pytest.mark.fast

GRID = np.geomspace(0.1, 3.0, 150)
N_DRAWS = 1000


def cubic_draws(rng, w1, w2, w3, *, log_sd=0.05, n=N_DRAWS):
    """Cubic drifts -r (w - w1)(w - w2)(w - w3) with jittered zeros, and the zeros."""
    zeros = np.array([w1, w2, w3]) * np.exp(log_sd * rng.standard_normal((n, 3)))
    strength = np.exp(0.3 * rng.standard_normal((n, 1)))
    w = GRID
    drift = -strength * np.prod([w - zeros[:, [k]] for k in range(3)], axis=0)
    return drift, zeros


def test_linear_drift_has_one_stable_fixed_point_at_minus_a_over_b():
    rng = np.random.default_rng(0)
    a = rng.normal(0.1, 0.01, size=(N_DRAWS, 1))
    b = rng.normal(-0.1, 0.01, size=(N_DRAWS, 1))
    (point,) = fixed_points(a + b * GRID, GRID)
    roots = (-a / b).ravel()
    assert point["stable"] is True
    assert point["probability"] == 1.0
    # Linear interpolation is exact for a linear drift.
    assert point["w"] == pytest.approx(np.median(roots), rel=1e-12)
    assert point["hdi_low"] < 1.0 < point["hdi_high"]
    inside = np.mean((roots >= point["hdi_low"]) & (roots <= point["hdi_high"]))
    assert inside == pytest.approx(0.94, abs=0.002)
    assert all(type(value) in (float, bool) for value in point.values())
    json.dumps(point)


def test_cubic_drift_gives_stable_unstable_stable():
    rng = np.random.default_rng(1)
    drift, zeros = cubic_draws(rng, 0.4, 0.9, 1.6)
    points = fixed_points(drift, GRID, hdi_prob=0.9)
    assert [point["stable"] for point in points] == [True, False, True]
    for point, truth, draws in zip(points, (0.4, 0.9, 1.6), zeros.T, strict=True):
        assert point["probability"] == 1.0
        assert point["hdi_low"] < truth < point["hdi_high"]
        assert point["w"] == pytest.approx(np.median(draws), rel=0.01)
    assert [point["w"] for point in points] == sorted(point["w"] for point in points)


def test_probability_counts_the_draws_that_have_the_fixed_point():
    rng = np.random.default_rng(2)
    a = rng.normal(0.1, 0.01, size=(N_DRAWS, 1))
    b = np.full((N_DRAWS, 1), -0.1)
    b[N_DRAWS // 2 :] = -0.01  # zero near 10: beyond the grid
    (point,) = fixed_points(a + b * GRID, GRID)
    assert point["probability"] == pytest.approx(0.5)
    assert point["hdi_low"] < 1.0 < point["hdi_high"]


def test_bistable_in_some_draws_only():
    # 60% of the draws are bistable; the rest relax to one size near 1.6.
    rng = np.random.default_rng(5)
    drift, _ = cubic_draws(rng, 0.4, 0.9, 1.6)
    monostable = np.arange(N_DRAWS) >= 0.6 * N_DRAWS
    drift[monostable] = 0.2 * (1.6 * np.exp(0.05 * rng.standard_normal((400, 1))) - GRID)
    points = fixed_points(drift, GRID)
    summary = [(round(p["w"], 1), p["stable"], p["probability"]) for p in points]
    assert summary == [(0.4, True, 0.6), (0.9, False, 0.6), (1.6, True, 1.0)]


def test_no_zero_gives_an_empty_list():
    assert fixed_points(np.ones((5, GRID.size)) * 0.3, GRID) == []
    assert fixed_points(np.zeros((3, GRID.size)), GRID) == []  # zero everywhere: no crossing


def test_exact_zeros_on_the_grid():
    grid = np.arange(1.0, 10.0)
    crossing_at_a_point = np.array([1.0, 2.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0])
    (point,) = fixed_points(crossing_at_a_point, grid)
    assert (point["w"], point["stable"]) == (3.0, True)
    run_of_zeros = np.array([-2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    (point,) = fixed_points(run_of_zeros, grid)
    assert (point["w"], point["stable"]) == (4.0, False)
    touching = np.array([2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # a double root
    assert fixed_points(touching, grid) == []
    at_the_ends = np.array([0.0, -1.0, -2.0, -3.0, -2.0, -1.0, 1.0, 2.0, 0.0])
    points = fixed_points(at_the_ends, grid)
    assert [(p["w"], p["stable"]) for p in points] == [(1.0, True), (6.5, False), (9.0, True)]


def test_overlapping_stable_points_stay_apart():
    # Two uncertain stable sizes whose locations overlap across draws: the pooled stable
    # zeros have no gap, but every draw holds both, so they are two fixed points.
    rng = np.random.default_rng(3)
    low = 0.55 * np.exp(0.2 * rng.standard_normal(N_DRAWS))
    high = low * np.exp(0.4 + 0.2 * rng.random(N_DRAWS))
    middle = np.sqrt(low * high)
    drift = -np.prod([GRID - z[:, None] for z in (low, middle, high)], axis=0)
    stable = [point for point in fixed_points(drift, GRID) if point["stable"]]
    assert len(stable) == 2
    assert [point["probability"] for point in stable] == [1.0, 1.0]
    assert stable[0]["w"] == pytest.approx(np.median(low), rel=1e-3)
    assert stable[1]["w"] == pytest.approx(np.median(high), rel=1e-3)


def test_a_rare_wiggle_does_not_split_a_fixed_point():
    # 5% of the draws cross zero three times near 1 (stable, unstable, stable within 0.1).
    rng = np.random.default_rng(4)
    root = np.exp(0.05 * rng.standard_normal((N_DRAWS, 1)))
    drift = 0.1 * (root - GRID)
    wiggly = np.arange(N_DRAWS) < N_DRAWS // 20
    drift[wiggly] = -np.prod([GRID - root[wiggly] * k for k in (0.95, 1.0, 1.05)], axis=0)
    stable = [point for point in fixed_points(drift, GRID) if point["stable"]]
    assert len(stable) == 1
    assert stable[0]["probability"] == 1.0
    unstable = [point for point in fixed_points(drift, GRID) if not point["stable"]]
    assert sum(point["probability"] for point in unstable) == pytest.approx(0.05)


def test_bad_input_raises_config_error():
    with pytest.raises(ConfigError, match="grid points"):
        fixed_points(np.ones((2, 5)), GRID)
    with pytest.raises(ConfigError, match="strictly increasing"):
        fixed_points(np.ones((2, 3)), np.array([1.0, 0.5, 2.0]))
    with pytest.raises(ConfigError, match="finite"):
        fixed_points(np.full((1, GRID.size), np.nan), GRID)
    with pytest.raises(ConfigError, match="hdi_prob"):
        fixed_points(np.ones((1, GRID.size)), GRID, hdi_prob=1.5)
