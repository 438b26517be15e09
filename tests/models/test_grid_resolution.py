"""The warning that the latent grid is too coarse for the noise a fit found (fast, no MCMC)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
from spinefit.models.grid_resolution import (
    RESOLUTION_RATIO,
    cell_sd,
    grid_resolution_problem,
    latent_grid_warnings,
)
from spinefit.models.latent_likelihood import TOP_MARGIN
from spinefit.simulate.synthetic import simulate_time_series

pytestmark = pytest.mark.fast


def posterior_of(tau: float, theta: float = 0.1, draws: int = 200) -> xr.Dataset:
    rng = np.random.default_rng(0)
    shape = (2, draws)
    return xr.Dataset(
        {
            "measurement_cv": (("chain", "draw"), tau * np.exp(0.05 * rng.normal(size=shape))),
            "detection_threshold": (("chain", "draw"), np.full(shape, theta)),
        }
    )


def test_cell_sd_is_the_node_spacing_over_root_12():
    sd = cell_sd(posterior_of(0.1, theta=0.1), top=np.e**4 * 0.1, grid_points=48)
    np.testing.assert_allclose(sd, 4 / 48 / np.sqrt(12))


@pytest.mark.parametrize("grid_points", [48, 96])
def test_warns_exactly_when_tau_is_within_the_ratio_of_the_resolution(grid_points):
    top = 10.0
    resolution = np.log(top / 0.1) / grid_points / np.sqrt(12)
    config = {"grid_points": grid_points, "noise": "multiplicative", "measurement_cv": None}
    low = grid_resolution_problem(posterior_of(resolution), top, config)
    assert low is not None and f"-o grid_points={2 * grid_points}" in low
    assert f"{resolution:.3g}" in low
    assert "\n" not in low
    high = posterior_of(1.2 * RESOLUTION_RATIO * resolution)
    assert grid_resolution_problem(high, top, config) is None


def test_a_fixed_tau_or_additive_noise_is_not_checked():
    base = {"grid_points": 48, "noise": "multiplicative", "measurement_cv": None}
    tiny = posterior_of(1e-4)
    assert grid_resolution_problem(tiny, 10.0, base) is not None
    assert grid_resolution_problem(tiny, 10.0, base | {"measurement_cv": 0.0}) is None
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
    resolution = np.log(largest * np.exp(TOP_MARGIN) / theta) / 48 / np.sqrt(12)
    model = DriftDiffusion()
    model.prepare(data)
    assert latent_grid_warnings(result_of(data, 1.2 * resolution, theta), model.config)
    assert model.result_warnings(result_of(data, 1.2 * resolution, theta))
    assert not model.result_warnings(result_of(data, 2 * resolution, theta))
    # A higher grid top widens the cells: the same τ is now within the ratio.
    wide = DriftDiffusion({"grid_top": largest * np.exp(TOP_MARGIN) * 20})
    wide.prepare(data)
    assert wide.result_warnings(result_of(data, 2 * resolution, theta))
    assert not DriftDiffusion({"likelihood": "moments"}).result_warnings(
        result_of(data, 1e-4, theta)
    )
    data = data.assign_coords(
        condition=("spine", np.where(np.arange(data.sizes["spine"]) % 2, "A", "B"))
    )
    conditions = ConditionalDriftDiffusion({"by": "condition"})
    conditions.prepare(data)
    assert conditions.result_warnings(result_of(data, 1.2 * resolution, theta))
    assert not conditions.result_warnings(result_of(data, 2 * resolution, theta))
