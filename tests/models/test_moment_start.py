"""The moment estimates that start the latent drift–diffusion fit (issue 12's robust starts)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinefit.io.transitions import transitions
from spinefit.models.moment_start import (
    condition_start_hints,
    latent_start_hints,
    linear_moment_estimate,
)
from spinefit.simulate.synthetic import simulate_time_series

TRUTH = {"a": 0.02, "b": -0.02, "c": 4e-4, "d": 4e-3}


def simulated_transitions(spacing_days: float, seed: int, measurement_cv: float = 0.0, truth=TRUTH):
    data, _ = simulate_time_series(
        truth,
        n_spines=400,
        times_days=[spacing_days * k for k in range(8)],
        random_seed=seed,
        measurement_cv=measurement_cv,
    )
    trans = transitions(data)
    return trans["w_start"].values, trans["w_end"].values, trans["dt_days"].values


@pytest.mark.parametrize("spacing_days", [2.0, 8.0, 16.0])
def test_estimates_recover_the_linear_sde_from_noise_free_transitions(spacing_days):
    estimate = linear_moment_estimate(*simulated_transitions(spacing_days, seed=3))
    assert estimate["b"] == pytest.approx(TRUTH["b"], rel=0.3)
    assert -estimate["a"] / estimate["b"] == pytest.approx(1.0, rel=0.1)  # fixed point
    assert estimate["d"] == pytest.approx(TRUTH["d"], rel=0.5)
    assert 0.25 * TRUTH["c"] < estimate["c"] < 4 * TRUTH["c"]


def test_noise_keeps_the_estimates_on_the_right_scale():
    """Regression dilution slows nothing by orders of magnitude: a start, not a fit."""
    estimate = linear_moment_estimate(*simulated_transitions(8.0, seed=4, measurement_cv=0.2))
    assert 0.2 * abs(TRUTH["b"]) < -estimate["b"] < 5 * abs(TRUTH["b"])
    assert -estimate["a"] / estimate["b"] == pytest.approx(1.0, rel=0.3)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 100.0), min_size=6, max_size=40),
    st.lists(st.floats(0.01, 100.0), min_size=6, max_size=40),
    st.sampled_from([0.5, 4.0, 30.0]),
)
def test_estimates_are_a_valid_start_for_any_positive_sizes(x0, x1, interval):
    n = min(len(x0), len(x1))
    estimate = linear_moment_estimate(x0[:n], x1[:n], np.full(n, interval))
    assert all(np.isfinite(v) for v in estimate.values())
    assert estimate["b"] < 0 and estimate["c"] >= 0 and estimate["d"] >= 0
    assert estimate["c"] + estimate["d"] > 0


def test_hints_are_in_the_latent_models_size_units():
    x0, x1, dt = simulated_transitions(8.0, seed=3)
    volumes = latent_start_hints(x0, x1, dt, scale=1.0)
    scaled = latent_start_hints(10 * x0, 10 * x1, dt, scale=10.0)  # other volume units
    for name in ("a_scaled", "b", "c_scaled", "d"):
        assert scaled.values[name] == pytest.approx(volumes.values[name], rel=1e-6)
    assert set(volumes.candidates) == {"formation_per_day", "loss_per_day", "measurement_cv"}


def test_condition_hints_estimate_each_condition_and_fall_back_when_it_has_few_data():
    slow = simulated_transitions(8.0, seed=3)
    fast = simulated_transitions(8.0, seed=5, truth=TRUTH | {"a": 0.08, "b": -0.08})
    x0, x1, dt = (np.concatenate(pair) for pair in zip(slow, fast, strict=True))
    condition = np.repeat([0, 1], [slow[0].size, fast[0].size])
    condition[:3] = 2  # a third condition with three transitions
    hints = condition_start_hints(
        10 * x0, 10 * x1, dt, 10.0, condition, 3, pooled=False, log_floor=-20.0
    )
    b = hints.values["b"]
    assert b.shape == (3,)
    assert b[0] == pytest.approx(-0.02, rel=0.3) and b[1] == pytest.approx(-0.08, rel=0.3)
    overall = linear_moment_estimate(x0, x1, dt)
    assert b[2] == pytest.approx(overall["b"])  # too few of its own: all transitions
    assert hints.values["a_scaled"][1] / -b[1] == pytest.approx(1.0, rel=0.1)  # size units
    np.testing.assert_allclose(np.exp(hints.values["log_d"][:2]), 4e-3, rtol=0.5)
    pooled = condition_start_hints(x0, x1, dt, 1.0, condition, 3, pooled=True, log_floor=0.0)
    assert set(pooled.values) == {"a_pop", "b_pop", "log_c_pop", "log_d_pop"}
    assert pooled.values["log_c_pop"] == 0.0  # c is far below exp(log_floor) = 1: floored
