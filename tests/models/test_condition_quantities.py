"""Derived contrast quantities of the condition model, on hand-made posteriors (no MCMC)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from spinefit import dims
from spinefit.models.condition_quantities import derived_draws, reference_size
from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
from spinefit.simulate.genotypes import simulate_wt_ko

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def data():
    dataset, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=20, random_seed=5)
    return dataset


def _posterior(rng, b_values=(-0.1, -0.05), n_draws=50, latent=False):
    shape = (2, n_draws, 2)

    def draws(*centre):
        return ((dims.CHAIN, dims.DRAW, dims.CONDITION), np.broadcast_to(centre, shape).copy())

    posterior = {
        "a": draws(0.1, 0.06),
        "b": draws(*b_values),
        "c": draws(0.04, 0.02),
        "d": draws(0.04, 0.08),
        "elimination_per_day": draws(0.03, 0.06),
        "formation_per_day": draws(0.05, 0.05),
    }
    if latent:
        scalar = (dims.CHAIN, dims.DRAW)
        posterior |= {
            "detection_threshold": (scalar, np.full(shape[:2], 0.1)),
            "measurement_cv": (scalar, np.full(shape[:2], 0.1)),
            "birth_median": draws(0.3, 0.3),
            "birth_log_sd": draws(0.5, 0.5),
            "loss_per_day": draws(0.0, 0.05),
        }
    ds = xr.Dataset(
        posterior,
        coords={
            dims.CHAIN: [0, 1],
            dims.DRAW: np.arange(n_draws),
            dims.CONDITION: ["KO", "WT"],
        },
        attrs={"size_scale": 1.0},
    )
    return ds


def test_moments_quantities_match_closed_forms(data, rng):
    model = ConditionalDriftDiffusion({"likelihood": "moments"})
    posterior = _posterior(rng)
    out, omitted = derived_draws(posterior, data, model)
    w = reference_size(data)
    ko = {
        name: float(v.sel({dims.CONDITION: "KO"}).isel(chain=0, draw=0)) for name, v in out.items()
    }
    assert ko["mu_at_median"] == pytest.approx(0.1 - 0.1 * w)
    assert ko["sigma_at_median"] == pytest.approx(np.sqrt(0.04 + 0.04 * w**2))
    assert ko["set_point"] == pytest.approx(1.0)
    assert ko["relaxation_days"] == pytest.approx(10.0)
    assert ko["elimination_prob_4d"] == pytest.approx(1 - np.exp(-0.12))
    assert omitted == {}
    assert out["sigma_at_median"].attrs["units"].endswith("/sqrt(day)")
    assert out["relaxation_days"].attrs["units"] == "day"


def test_set_point_left_out_when_b_can_be_positive(data, rng):
    model = ConditionalDriftDiffusion({"likelihood": "moments"})
    posterior = _posterior(rng, b_values=(-0.1, 0.01))
    out, omitted = derived_draws(posterior, data, model)
    assert "set_point" not in out and "relaxation_days" not in out
    assert "100.0% of the draws of WT" in omitted["set_point"]
    json.dumps(omitted)


def test_latent_elimination_probability_grows_with_loss(data, rng):
    """A loss hazard of 0.05/day adds about 1 − e^{−0.2} ≈ 0.18 to WT's 4-day probability."""
    model = ConditionalDriftDiffusion({"likelihood": "latent", "grid_points": 32})
    posterior = _posterior(rng, latent=True, n_draws=3)
    out, _ = derived_draws(posterior, data, model)
    p = out["elimination_prob_4d"].isel(chain=0, draw=0)
    ko, wt = float(p.sel({dims.CONDITION: "KO"})), float(p.sel({dims.CONDITION: "WT"}))
    assert 0.0 <= ko < 0.5 and 0.0 <= wt <= 1.0
    assert wt > ko + 0.1
    assert out["elimination_prob_4d"].dims == (dims.CHAIN, dims.DRAW, dims.CONDITION)
