"""Tests of the posterior predictive stationary check (no MCMC except the shared small fit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from spinefit import dims
from spinefit.check.noise_score import truth_draw
from spinefit.check.ppc import stationary_check
from spinefit.check.stationary import (
    density_cdf,
    distances_to_cdf,
    observed_sizes,
    ppc_summary,
)
from spinefit.errors import ConfigError, DataError
from spinefit.families.tails import BIMODALITY_THRESHOLD, bimodality_coefficient
from spinefit.results.names import DATA_GROUP

# μ(w) = A + B w, σ²(w) = D w²: the stationary density is inverse gamma with
# shape 1 + 2|B|/D = 6 and scale 2A/D = 5 (science notes).
A, B, D = 0.5, -0.5, 0.2
SHAPE, SCALE = 1 + 2 * abs(B) / D, 2 * A / D


def _fake_tree(sizes: np.ndarray, rng: np.random.Generator, *, family: str = "linear"):
    """Return a drift-diffusion result with posterior draws near (A, B, 0, D), no MCMC.

    ``sizes`` fill a (spine, 2 sessions) table; about a fifth of the cells are absent, so
    some spines appear at the second session.
    """
    n_spines = sizes.size // 2
    volume = sizes[: 2 * n_spines].reshape(n_spines, 2).copy()
    volume[rng.random(volume.shape) < 0.2] = np.nan
    volume[np.all(np.isnan(volume), axis=1), 1] = sizes[0]
    data = xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume, {"units": "um3"})},
        coords={
            dims.SPINE: [f"s{i}" for i in range(n_spines)],
            dims.SESSION: [0, 1],
            dims.TIME_DAYS: (dims.SESSION, [0.0, 4.0], {"units": dims.DAY}),
        },
    )
    shape = (2, 100)
    jitter = 0.01
    posterior = {
        "a": A * (1 + jitter * rng.standard_normal(shape)),
        "b": B * (1 + jitter * rng.standard_normal(shape)),
        "c": np.full(shape, 1e-8),
        "d": D * (1 + jitter * rng.standard_normal(shape)),
        "elimination_per_day": rng.gamma(50.0, 0.02 / 50.0, shape),
        "formation_per_day": rng.gamma(50.0, 0.02 / 50.0, shape),
    }
    attrs = {}
    if family == "power":
        posterior["beta"] = np.ones(shape)
        posterior["gamma"] = np.full(shape, 2.0)
        attrs["size_scale"] = 1.0
    post = xr.Dataset(
        {k: (dims.SAMPLE_DIMS, v) for k, v in posterior.items()},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(shape[1])},
        attrs=attrs,
    )
    tree = xr.DataTree.from_dict({"posterior": post, DATA_GROUP: data})
    tree.attrs.update(
        {"spinefit_model": "drift-diffusion", "spinefit_config": json.dumps({"family": family})}
    )
    return tree


def _without_density(tree: xr.DataTree, cells: list[tuple[int, int]]) -> xr.DataTree:
    """Return ``tree`` with b = d at the given (chain, draw): α = 1 − 2b/d = −1 < 0 there."""
    posterior = tree["posterior"].to_dataset()
    b = posterior["b"].copy()
    for chain, draw in cells:
        b[chain, draw] = float(posterior["d"][chain, draw])
    tree = tree.copy()
    tree["posterior"] = xr.DataTree(dataset=posterior.assign(b=b))
    return tree


def _checked_draws(check: xr.Dataset) -> set[tuple[int, int]]:
    """Return the (chain, draw) of the posterior draws a check used."""
    chains = check["posterior_chain"].values.tolist()
    return set(zip(chains, check["posterior_draw"].values.tolist(), strict=True))


def _inverse_gamma_sizes(rng: np.random.Generator, n: int = 1200) -> np.ndarray:
    return stats.invgamma(SHAPE, scale=SCALE).rvs(n, random_state=rng)


def test_distances_match_scipy_for_a_fine_grid(rng):
    grid = np.linspace(0.0, 1.0, 2001)
    cdf = density_cdf(np.ones((1, grid.size)), grid)[0]
    sample = np.sort(rng.random(300) ** 1.5)
    ks, w1 = distances_to_cdf(sample, grid, cdf)
    assert ks == pytest.approx(stats.kstest(sample, "uniform").statistic, abs=1e-9)
    reference = stats.wasserstein_distance(sample, np.linspace(0, 1, 200001))
    assert w1 == pytest.approx(reference, rel=1e-3)


def test_new_spines_are_sizes_after_absence():
    volume = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, 4.0], [5.0, 6.0, np.nan]])
    data = xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume)},
        coords={dims.TIME_DAYS: (dims.SESSION, [0.0, 4.0, 8.0])},
    )
    observed, new = observed_sizes(data)
    assert observed.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert sorted(new.tolist()) == [2.0, 3.0]


def test_data_from_the_stationary_density_pass(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng), rng)
    check = stationary_check(tree, draws=100, n_grid=400, random_seed=1)
    assert float(check["ks_p_value"]) > 0.05
    assert float(check["wasserstein_p_value"]) > 0.05
    # The predicted density is the closed-form inverse gamma away from the threshold.
    grid = check[dims.SIZE_GRID].to_numpy()
    bulk = (grid > 0.6) & (grid < 2.0)
    truth = stats.invgamma(SHAPE, scale=SCALE).pdf(grid[bulk])
    np.testing.assert_allclose(check["density_mean"].to_numpy()[bulk], truth, rtol=0.06)
    n = check.sizes["observation"]
    assert float(check["ks_observed"].mean()) < 2.0 / np.sqrt(n)
    # ln of inverse-gamma sizes is unimodal, as the model's replicates are.
    assert float(check["bimodality_observed"]) < BIMODALITY_THRESHOLD
    assert float(check["bimodality_p_value"]) > 0.05


def test_data_from_another_distribution_fail(rng):
    sizes = np.exp(rng.normal(0.5, 0.15, 1200))
    tree = _fake_tree(sizes, rng)
    check = stationary_check(tree, draws=60, n_grid=300, random_seed=1)
    assert float(check["ks_p_value"]) <= 1 / 60
    assert float(check["wasserstein_p_value"]) <= 1 / 60


def test_bimodal_log_sizes_fail_the_bimodality_check(rng):
    """Two size modes a decade apart: unimodal replicates are never as bimodal."""
    sizes = np.exp(np.concatenate([rng.normal(-1.2, 0.2, 600), rng.normal(1.1, 0.2, 600)]))
    check = stationary_check(_fake_tree(sizes, rng), draws=50, n_grid=300, random_seed=1)
    observed = float(check["bimodality_observed"])
    assert observed == pytest.approx(
        float(bimodality_coefficient(np.log(check["observed_size"].to_numpy())))
    )
    assert observed > BIMODALITY_THRESHOLD
    replicate = check["bimodality_replicate"]
    assert replicate.dims == (dims.DRAW,)
    assert float(replicate.max()) < BIMODALITY_THRESHOLD
    assert float(check["bimodality_p_value"]) == 0.0
    for name in ("bimodality_observed", "bimodality_replicate", "bimodality_p_value"):
        assert check[name].attrs["units"] == "1"


def test_draws_without_a_stationary_density_are_left_out_and_counted(rng):
    sizes = _inverse_gamma_sizes(rng, 600)
    tree = _fake_tree(sizes, rng)
    bad = [(0, 3), (1, 70)]
    # draws > the 200 available: every draw is picked, so exactly the two bad ones drop.
    check = stationary_check(_without_density(tree, bad), draws=500, n_grid=200, random_seed=2)
    assert check.attrs["n_draws_without_stationary_density"] == 2
    assert check.sizes[dims.DRAW] == 198
    assert _checked_draws(check).isdisjoint(bad)
    # What is left is the check of the good draws: no mass piled against the grid's top.
    reference = stationary_check(tree, draws=500, n_grid=200, random_seed=2)
    np.testing.assert_allclose(
        check["density_mean"].to_numpy(), reference["density_mean"].to_numpy(), rtol=0.02
    )
    assert ppc_summary(check)["settings"]["draws_without_stationary_density"] == 2


def test_no_draw_with_a_stationary_density_is_refused(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng, 200), rng)
    everything = [(chain, draw) for chain in range(2) for draw in range(100)]
    with pytest.raises(DataError, match="none of the 40 posterior draws") as error:
        stationary_check(_without_density(tree, everything), draws=40, n_grid=100)
    assert "\n" not in str(error.value)


def _fake_latent_tree(small_timeseries, rng, bad: list[tuple[int, int]]) -> xr.DataTree:
    """A latent-likelihood result near the simulation's truth (no MCMC), b = d at ``bad``."""
    data, truth = small_timeseries
    volume = data[dims.VOLUME].to_numpy()
    shape = (2, 8)
    near = truth_draw(truth, 0.05) | {
        "formation_per_day": 0.05,
        "loss_per_day": 0.001,
        "elimination_per_day": 0.04,
    }
    posterior = {k: v * (1 + 0.01 * rng.standard_normal(shape)) for k, v in near.items()}
    for chain, draw in bad:
        posterior["b"][chain, draw] = posterior["d"][chain, draw]
    post = xr.Dataset(
        {k: (dims.SAMPLE_DIMS, v) for k, v in posterior.items()},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(shape[1])},
        attrs={"size_scale": float(np.nanmedian(volume))},
    )
    tree = xr.DataTree.from_dict({"posterior": post, DATA_GROUP: data})
    tree.attrs.update(
        {
            "spinefit_model": "drift-diffusion",
            "spinefit_config": json.dumps({"family": "linear", "likelihood": "latent"}),
        }
    )
    return tree


def test_latent_check_leaves_out_draws_without_density_and_has_bimodality(small_timeseries, rng):
    tree = _fake_latent_tree(small_timeseries, rng, bad=[(1, 2)])
    check = stationary_check(tree, draws=100, n_grid=150, random_seed=0)
    assert check.attrs["likelihood"] == "latent"
    assert check.attrs["n_draws_without_stationary_density"] == 1
    assert check.sizes[dims.DRAW] == 15
    assert (1, 2) not in _checked_draws(check)
    assert np.all(np.isfinite(check["density"].to_numpy()))
    assert check["bimodality_replicate"].sizes[dims.DRAW] == 15
    assert 0.0 <= float(check["bimodality_p_value"]) <= 1.0
    observed = np.log(check["observed_size"].to_numpy())
    assert float(check["bimodality_observed"]) == pytest.approx(
        float(bimodality_coefficient(observed))
    )
    summary = ppc_summary(check)
    assert summary["stationary"]["bimodality"]["units"] == "1"
    assert summary["settings"]["draws_without_stationary_density"] == 1


def test_power_family_with_linear_exponents_agrees(rng):
    sizes = _inverse_gamma_sizes(rng, 600)
    linear = stationary_check(_fake_tree(sizes, np.random.default_rng(3)), draws=30, n_grid=200)
    power = stationary_check(
        _fake_tree(sizes, np.random.default_rng(3), family="power"), draws=30, n_grid=200
    )
    xr.testing.assert_allclose(linear["density"], power["density"], rtol=1e-6)
    assert power.attrs["family"] == "power"


def test_reproducible_with_seed(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng, 400), rng)
    first = stationary_check(tree, draws=40, n_grid=200, random_seed=7)
    again = stationary_check(tree, draws=40, n_grid=200, random_seed=7)
    other = stationary_check(tree, draws=40, n_grid=200, random_seed=8)
    xr.testing.assert_identical(first, again)
    assert not np.array_equal(first["ks_replicate"], other["ks_replicate"])


def test_units_dims_and_summary_schema(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng, 400), rng)
    check = stationary_check(tree, draws=30, n_grid=150, random_seed=0)
    for name, variable in check.data_vars.items():
        assert "units" in variable.attrs, name
    assert check["density"].dims == (dims.DRAW, dims.SIZE_GRID)
    assert check["density"].attrs["units"] == "1/um3"
    assert check["wasserstein_observed"].attrs["units"] == "um3"
    assert check["elimination_per_day_predicted"].attrs["units"] == dims.PER_DAY
    assert check[dims.SIZE_GRID].attrs["units"] == "um3"
    # each draw's density integrates to one
    integral = np.trapezoid(check["density"].to_numpy(), check[dims.SIZE_GRID].to_numpy())
    np.testing.assert_allclose(integral, 1.0, rtol=1e-9)

    summary = ppc_summary(check)
    json.dumps(summary, allow_nan=False)
    stationary = summary["stationary"]
    assert len(stationary["w"]) == len(stationary["mean"]) == 150
    assert all(
        lo <= hi for lo, hi in zip(stationary["hdi_low"], stationary["hdi_high"], strict=True)
    )
    for key in ("ks", "wasserstein", "bimodality"):
        assert {"observed", "p_value"} <= set(stationary[key])
        assert 0.0 <= stationary[key]["p_value"] <= 1.0
    for name in ("elimination_per_day", "formation_per_day"):
        entry = summary["turnover"][name]
        assert set(entry["predicted"]) == {"mean", "hdi_low", "hdi_high"}
        assert {"mean", "hdi_low", "hdi_high", "crude"} <= set(entry["observed"])
        assert entry["predicted"]["hdi_low"] <= entry["predicted"]["hdi_high"]


def test_not_a_drift_diffusion_result_is_refused(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng, 100), rng)
    tree.attrs["spinefit_model"] = "mixture"
    with pytest.raises(ConfigError, match="drift-diffusion"):
        stationary_check(tree)


def test_particle_cross_check_agrees_with_fokker_planck(rng):
    tree = _fake_tree(_inverse_gamma_sizes(rng, 400), rng)
    check = stationary_check(
        tree, draws=10, n_grid=300, n_particles=2000, particle_draws=1, particle_dt=0.02
    )
    assert check.sizes["particle_draw"] == 1
    assert check.attrs["n_particles"] == 2000
    # 2000 independent sites: KS of a correct density is ~1/sqrt(2000) ≈ 0.02.
    assert float(check["particle_ks"][0]) < 0.06


def test_small_fit_end_to_end(small_fit_path, tmp_path):
    from spinefit.check.run import check_lines, run_check
    from spinefit.report.ppc import ppc_sections
    from spinefit.results import load_result

    out = tmp_path / "ppc.nc"
    body = run_check(small_fit_path, draws=40, out=out, random_seed=2)
    json.dumps(body, allow_nan=False)
    assert body["out"] == str(out)
    assert any("KS distance" in line for line in check_lines(body))
    saved = xr.open_dataset(out, engine="h5netcdf").load()
    assert saved.sizes[dims.DRAW] == 40
    assert body["stationary"]["ks"]["p_value"] == pytest.approx(float(saved["ks_p_value"]))
    predicted = body["turnover"]["elimination_per_day"]["predicted"]
    assert predicted["mean"] > 0

    sections = ppc_sections(load_result(small_fit_path), saved)
    titles = [s.title for s in sections[0].subsections]
    assert titles == [
        "Predicted vs observed sizes",
        "Predicted vs observed turnover",
        "Distance and bimodality statistics",
    ]
    statistics = sections[0].subsections[2].body_html
    assert "bimodality coefficient of ln w" in statistics
    assert "draws checked have a stationary size density" in statistics
    assert "<svg" in sections[0].subsections[0].body_html


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["pyr", "pv"])
def test_melander_stationary_check(shared_data, cell):
    """Real data: runs end to end and reports; the model is allowed to fail the check."""
    from spinefit.io.two_photon import read_two_photon
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion import DriftDiffusion

    data = read_two_photon(
        shared_data("melander2021", f"quantile_4060_{cell}.npy"), interval_days=4
    )
    tree = DriftDiffusion().fit(data, SamplerSettings(draws=500, tune=500, progressbar=False))
    check = stationary_check(tree, draws=200, random_seed=0)
    summary = ppc_summary(check)
    print(cell, json.dumps({k: summary["stationary"][k] for k in ("ks", "wasserstein")}))
    # The replicates come from the predicted density, so they must sit close to it.
    n = check.sizes["observation"]
    assert summary["stationary"]["ks"]["replicate"] < 2.0 / np.sqrt(n)
    # Sizes are log-normal-like (Melander et al. 2021): the prediction must at least put
    # the observed median inside its central range.
    median = float(np.median(check["observed_size"]))
    assert float(check["predicted_quantile"].sel(quantile=0.25).mean()) < median
    assert float(check["predicted_quantile"].sel(quantile=0.75).mean()) > median
