"""The latent grid's resolution: the warning after a fit and the "auto" choice (fast, no MCMC)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from spinefit.errors import ConfigError
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
from spinefit.models.grid_choice import (
    AUTO,
    BASE_GRID_POINTS,
    GRID_STEP,
    MAX_GRID_POINTS,
    MIN_NOISE_PER_CELL,
    check_grid_points,
    grid_for_pilot,
    grid_points_of,
    needed_grid_points,
)
from spinefit.models.grid_resolution import (
    cell_width,
    grid_resolution_problem,
    latent_grid_warnings,
)
from spinefit.models.killed_grid import (
    NOISE_FLOOR,
    emission_sd,
    noise_for_emission,
)
from spinefit.models.latent_likelihood import TOP_MARGIN, prepare_latent
from spinefit.simulate.synthetic import simulate_time_series

pytestmark = pytest.mark.fast


def posterior_of(tau: float, theta: float = 0.1, draws: int = 200) -> xr.Dataset:
    rng = np.random.default_rng(0)
    shape = (2, draws)
    return xr.Dataset(
        {
            "measurement_cv": (("chain", "draw"), tau * np.exp(0.01 * rng.normal(size=shape))),
            "detection_threshold": (("chain", "draw"), np.full(shape, theta)),
        }
    )


def test_cell_width_is_the_log_span_over_the_nodes():
    h = cell_width(posterior_of(0.1, theta=0.1), top=np.e**4 * 0.1, grid_points=48)
    np.testing.assert_allclose(h, 4 / 48)


@pytest.mark.parametrize("grid_points", [48, 96])
def test_warns_exactly_when_the_emission_noise_is_under_half_a_cell(grid_points):
    top = 10.0
    cell = np.log(top / 0.1) / grid_points
    config = {"grid_points": grid_points, "noise": "multiplicative", "measurement_cv": None}
    low = grid_resolution_problem(
        posterior_of(noise_for_emission(0.95 * MIN_NOISE_PER_CELL * cell, cell)), top, config
    )
    assert low is not None and "\n" not in low
    assert f"h = {cell:.3g}" in low
    finer = int(low.split("-o grid_points=")[1].split()[0])
    assert finer > grid_points
    high = posterior_of(noise_for_emission(1.05 * MIN_NOISE_PER_CELL * cell, cell))
    assert grid_resolution_problem(high, top, config) is None


def test_the_remedy_named_by_the_warning_passes_the_check():
    top, theta = 10.0, 0.1
    config = {"grid_points": 48, "noise": "multiplicative", "measurement_cv": None}
    problem = grid_resolution_problem(posterior_of(0.0), top, config)
    finer = int(problem.split("-o grid_points=")[1].split()[0])
    assert finer % GRID_STEP == 0
    assert grid_resolution_problem(posterior_of(0.0), top, config | {"grid_points": finer}) is None
    assert np.log(top / theta) / finer <= NOISE_FLOOR / MIN_NOISE_PER_CELL
    # "auto" is checked on the grid it builds when nothing resolved it.
    assert grid_resolution_problem(posterior_of(0.0), top, config | {"grid_points": AUTO})


def test_a_fixed_tau_is_checked_at_its_value_and_additive_noise_not_at_all():
    base = {"grid_points": 48, "noise": "multiplicative", "measurement_cv": None}
    tiny = posterior_of(1e-4)
    assert grid_resolution_problem(tiny, 10.0, base) is not None
    assert grid_resolution_problem(tiny, 10.0, base | {"measurement_cv": 0.0}) is not None
    assert grid_resolution_problem(tiny, 10.0, base | {"measurement_cv": 0.2}) is None
    assert grid_resolution_problem(tiny, 10.0, base | {"noise": "additive"}) is None


def result_of(data: xr.Dataset, tau: float, theta: float) -> xr.DataTree:
    return xr.DataTree.from_dict(
        {"posterior": posterior_of(tau, theta), "data": xr.DataTree(dataset=data)}
    )


def test_the_models_use_the_grid_they_fitted():
    """The top is the data's largest size times e^0.7, or grid_top when given."""
    data, _ = simulate_time_series(n_spines=60, random_seed=3)
    largest = float(data["volume"].max())
    theta = 0.1
    cell = np.log(largest * np.exp(TOP_MARGIN) / theta) / 48
    under = noise_for_emission(0.9 * MIN_NOISE_PER_CELL * cell, cell)
    over = noise_for_emission(1.1 * MIN_NOISE_PER_CELL * cell, cell)
    model = DriftDiffusion({"grid_points": 48})
    model.prepare(data)
    assert latent_grid_warnings(result_of(data, under, theta), model.config)
    assert model.result_warnings(result_of(data, under, theta))
    assert not model.result_warnings(result_of(data, over, theta))
    # A higher grid top widens the cells: the same τ is now under half a cell.
    wide = DriftDiffusion({"grid_top": largest * np.exp(TOP_MARGIN) * 20, "grid_points": 48})
    wide.prepare(data)
    assert wide.result_warnings(result_of(data, over, theta))
    assert not DriftDiffusion({"likelihood": "moments"}).result_warnings(
        result_of(data, 1e-4, theta)
    )
    data = data.assign_coords(
        condition=("spine", np.where(np.arange(data.sizes["spine"]) % 2, "A", "B"))
    )
    conditions = ConditionalDriftDiffusion({"by": "condition", "grid_points": 48})
    conditions.prepare(data)
    assert conditions.result_warnings(result_of(data, under, theta))
    assert not conditions.result_warnings(result_of(data, over, theta))


# -- grid_points="auto" ----------------------------------------------------------------------


def test_grid_points_takes_auto_or_a_count_in_range():
    assert check_grid_points(AUTO) == AUTO
    assert check_grid_points("96") == 96
    assert check_grid_points(32) == 32
    for bad in (15, 401, "fine", None):
        with pytest.raises(ConfigError, match="grid_points must be 'auto' or a number"):
            check_grid_points(bad)
    assert grid_points_of({"grid_points": AUTO}) == BASE_GRID_POINTS
    assert DriftDiffusion().config["grid_points"] == AUTO
    assert ConditionalDriftDiffusion().config["grid_points"] == AUTO
    with pytest.raises(ConfigError, match="grid_points"):
        DriftDiffusion({"grid_points": "fine"})


def test_noise_free_data_get_the_grid_the_measured_profiles_need():
    """Span 3.7 (the long-interval case): τ near h/√12 at 48 nodes means no noise → 96."""
    span = 3.7
    assert needed_grid_points(span, span / 48 / math.sqrt(12), 48) == 96
    assert needed_grid_points(span, 0.0, 48) == 96
    # Noisy data keep the base grid, and a grid is never made coarser.
    assert needed_grid_points(span, 0.1, 48) == 48
    assert needed_grid_points(span, 0.1, 64) == 64
    # A very wide span stops at the cap.
    assert needed_grid_points(40.0, 0.0, 48) == MAX_GRID_POINTS


@given(
    span=st.floats(0.5, 12.0),
    tau=st.floats(0.0, 1.0),
    points=st.integers(16, 400),
)
def test_an_auto_grid_meets_its_rule_or_the_cap(span, tau, points):
    needed = needed_grid_points(span, tau, points)
    assert points <= needed <= MAX_GRID_POINTS
    assert needed % GRID_STEP == 0 or needed in (points, MAX_GRID_POINTS)
    data_tau = math.sqrt(max(tau**2 - (span / points) ** 2 / 12, 0.0))
    if needed < MAX_GRID_POINTS:
        cell = span / needed
        assert emission_sd(data_tau, cell) >= MIN_NOISE_PER_CELL * cell - 1e-12
    coarser = needed - GRID_STEP  # ... and it is the coarsest grid that does
    if needed > points and coarser > points:
        assert emission_sd(data_tau, span / coarser) < MIN_NOISE_PER_CELL * span / coarser


def test_the_pilot_values_or_the_fixed_ones_choose_the_grid():
    data, _ = simulate_time_series(n_spines=60, random_seed=3)
    reference = prepare_latent(data)
    config = {
        "grid_points": 48,
        "noise": "multiplicative",
        "measurement_cv": None,
        "detection_threshold": None,
    }
    theta = 0.5 * float(data["volume"].min())
    span = reference.log_top - math.log(theta / reference.scale)
    values = {"measurement_cv": 0.001, "detection_threshold": theta}
    assert grid_for_pilot(config, reference, values) == needed_grid_points(span, 0.001, 48) > 48
    noisy = values | {"measurement_cv": 0.2}
    assert grid_for_pilot(config, reference, noisy) == 48
    # Fixed values win over the start's.
    assert grid_for_pilot(config | {"measurement_cv": 0.2}, reference, values) == 48
    fixed_theta = config | {"detection_threshold": theta / 100}
    wider = reference.log_top - math.log(theta / 100 / reference.scale)
    assert grid_for_pilot(fixed_theta, reference, values) == needed_grid_points(wider, 0.001, 48)
    assert grid_for_pilot(config | {"noise": "additive"}, reference, values) == 48
