"""Parameter supports from the transforms, and HDIs closed at a support's end."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from spinefit import dims
from spinefit.sampling.sample import sample_model
from spinefit.sampling.settings import SamplerSettings
from spinefit.sampling.supports import support_bounds
from spinefit.stats import EDGE_SHARE, HDI_PROB, stats_of


def draws(values: np.ndarray, low: float | None = None, high: float | None = None):
    attrs = {}
    if low is not None:
        attrs[dims.ATTR_SUPPORT_LOW] = low
    if high is not None:
        attrs[dims.ATTR_SUPPORT_HIGH] = high
    return xr.DataArray(np.reshape(values, (2, -1)), dims=dims.SAMPLE_DIMS, attrs=attrs)


@pytest.mark.fast
def test_support_bounds_follow_the_transforms():
    with pm.Model() as model:
        pm.HalfNormal("scale", 1.0)
        pm.Beta("fraction", 1.0, 1.0)
        pm.Uniform("ranged", -2.0, 3.0)
        pm.Normal("free")
        centre = pm.Normal("centre")
        pm.Uniform("moving", centre, centre + 1.0)
    assert support_bounds(model) == {
        "scale": (0.0, None),
        "fraction": (0.0, 1.0),
        "ranged": (-2.0, 3.0),
    }


def test_a_fit_records_the_supports_on_its_posterior():
    with pm.Model() as model:
        pm.HalfNormal("scale", 1.0)
        pm.Normal("free")
    settings = SamplerSettings(
        draws=50, tune=50, chains=2, random_seed=0, progressbar=False, robust_starts=False,
        max_restarts=0, ess_target=0, retry_target_accept=0.0,
    )  # fmt: skip
    posterior = sample_model(model, settings)["posterior"]
    assert posterior["scale"].attrs[dims.ATTR_SUPPORT_LOW] == 0.0
    assert dims.ATTR_SUPPORT_HIGH not in posterior["scale"].attrs
    assert dims.ATTR_SUPPORT_LOW not in posterior["free"].attrs


@pytest.mark.fast
def test_a_density_piled_at_zero_gets_an_hdi_from_zero():
    """Half-normal draws: the strict HDI starts at the smallest draw, never at 0."""
    values = np.abs(np.random.default_rng(0).normal(size=2000))
    plain = stats_of(draws(values), diagnostics=False)
    closed = stats_of(draws(values, low=0.0), diagnostics=False)
    assert plain["hdi_low"] > 0
    assert closed["hdi_low"] == 0.0
    assert closed["hdi_high"] == plain["hdi_high"]


@pytest.mark.fast
def test_an_interior_mode_keeps_its_hdi():
    """N(5, 1) draws are positive, but 3% of them lie below the HDI: it stays open."""
    values = np.random.default_rng(1).normal(5.0, 1.0, size=2000)
    plain = stats_of(draws(values), diagnostics=False)
    closed = stats_of(draws(values, low=0.0, high=100.0), diagnostics=False)
    assert closed == plain
    assert 2.5 < closed["hdi_low"] < 3.5


@pytest.mark.fast
def test_a_density_that_falls_off_below_its_hdi_keeps_it_open():
    """A cliff: a spread parameter below its floor, where only the prior is left. Few draws
    lie below the HDI, but far fewer than just inside it."""
    rng = np.random.default_rng(4)
    values = np.concatenate([0.15 + rng.exponential(0.2, 1996), rng.uniform(0.0, 0.15, 4)])
    rng.shuffle(values)
    plain = stats_of(draws(values), diagnostics=False)
    closed = stats_of(draws(values, low=0.0), diagnostics=False)
    assert np.mean(values < plain["hdi_low"]) <= EDGE_SHARE
    assert closed == plain


@pytest.mark.fast
def test_a_fraction_piled_at_one_gets_an_hdi_to_one():
    values = np.random.default_rng(2).beta(5.0, 0.5, size=2000)
    closed = stats_of(draws(values, low=0.0, high=1.0), diagnostics=False)
    assert closed["hdi_high"] == 1.0
    assert closed["hdi_low"] > 0.5


@pytest.mark.fast
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    centre=st.floats(-3.0, 3.0),
    spread=st.floats(0.05, 3.0),
)
def test_a_closed_hdi_holds_the_strict_one_and_little_more(seed, centre, spread):
    """Truncated normal draws at 0: the closed HDI contains the strict one and adds at most
    EDGE_SHARE of the draws."""
    rng = np.random.default_rng(seed)
    a = (0.0 - centre) / spread
    values = sps.truncnorm.rvs(a, np.inf, loc=centre, scale=spread, size=1000, random_state=rng)
    plain = stats_of(draws(values), diagnostics=False)
    closed = stats_of(draws(values, low=0.0), diagnostics=False)
    assert closed["hdi_low"] <= plain["hdi_low"]
    assert closed["hdi_high"] == plain["hdi_high"]
    inside = np.mean((values >= closed["hdi_low"]) & (values <= closed["hdi_high"]))
    assert inside <= HDI_PROB + EDGE_SHARE + 2 / values.size


@pytest.mark.fast
def test_closed_hdis_cover_a_truth_at_zero_and_keep_nominal_coverage_elsewhere():
    """Exact posteriors of a scale θ ~ HalfNormal(1), y ~ N(θ, 0.3²): truncated normals.

    With θ = 0 the strict HDI covers it in no data set; the closed one in most. With θ
    drawn from its prior, the closed HDIs cover it at the nominal rate (the Bayesian
    guarantee, which the closing must not break).
    """
    rng = np.random.default_rng(3)
    noise = 0.3
    precision = 1.0 + 1.0 / noise**2

    def posterior_draws(y):
        mean, sd = (y / noise**2) / precision, precision**-0.5
        law = sps.truncnorm(-mean / sd, np.inf, loc=mean, scale=sd)
        return law.rvs(size=1000, random_state=rng)

    def covered(truth, closed):
        values = posterior_draws(rng.normal(truth, noise))
        s = stats_of(draws(values, low=0.0 if closed else None), diagnostics=False)
        return s["hdi_low"] <= truth <= s["hdi_high"]

    assert sum(covered(0.0, closed=False) for _ in range(200)) == 0
    at_zero = np.mean([covered(0.0, closed=True) for _ in range(200)])
    assert at_zero > 0.75, at_zero
    truths = np.abs(rng.normal(size=1000))
    rate = np.mean([covered(t, closed=True) for t in truths])
    assert abs(rate - HDI_PROB) < 3 * np.sqrt(HDI_PROB * (1 - HDI_PROB) / truths.size) + 0.005, rate


@pytest.mark.fast
def test_deterministics_that_cannot_be_negative_get_a_lower_end_of_zero():
    with pm.Model() as model:
        unit = pm.Data("unit", 2.0)
        log_c = pm.Normal("log_c", shape=2)
        scale = pm.HalfNormal("scale", 1.0)
        free = pm.Normal("free")
        pm.Deterministic("c", pt.exp(log_c) * unit**2)
        pm.Deterministic("scaled", scale * 3.0 + pt.sqr(free))
        pm.Deterministic("stacked", pt.stack([scale, pm.math.sigmoid(free)]))
        pm.Deterministic("from_c", model["c"][0] / scale)
        pm.Deterministic("shifted", scale - 1.0)
        pm.Deterministic("flipped", -2.0 * scale)
        pm.Deterministic("free_copy", free * scale)
        pm.Deterministic("squared", free**2)
    bounds = support_bounds(model)
    for name in ("c", "scaled", "stacked", "from_c", "squared"):
        assert bounds[name] == (0.0, None), name
    for name in ("shifted", "flipped", "free_copy"):
        assert name not in bounds, name


@pytest.mark.fast
def test_the_condition_models_c_and_d_are_known_to_be_nonnegative():
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=20, random_seed=3)
    for likelihood in ("moments", "latent"):
        spec = ConditionalDriftDiffusion({"likelihood": likelihood, "grid_points": 32})
        bounds = support_bounds(spec.build(spec.prepare(data)))
        assert bounds["c"] == bounds["d"] == (0.0, None), likelihood
        assert "a" not in bounds and "b" not in bounds, likelihood


@pytest.mark.fast
def test_a_fixed_quantity_keeps_its_point_interval():
    """A deterministic that is a fixed constant (e.g. a given measurement CV) is ≥ 0, but
    its interval must stay at its value, not open down to 0."""
    closed = stats_of(draws(np.full(2000, 0.1), low=0.0), diagnostics=False)
    assert closed["hdi_low"] == pytest.approx(0.1)
    assert closed["hdi_high"] == pytest.approx(0.1)
