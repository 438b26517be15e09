"""The silenced design of the variance split with any SDE family (issue 13).

Model structure and logp at the initial point (no MCMC), the intrinsic fraction of hand-made
posteriors against hand-written variance functions, and the configuration errors.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.families import family_of_result, get_family
from spinefit.families.spline import SPLINE_BASIS, basis_matrix
from spinefit.models import model_of
from spinefit.models.variance_split import VarianceSplit
from spinefit.models.variance_split_silenced import (
    INTRINSIC_FRACTION_MEAN,
    build_silenced,
    intrinsic_fraction,
    observed_sizes,
    postprocess_silenced,
)
from spinefit.results.names import DATA_GROUP
from spinefit.simulate.variance import simulate_silenced_control

pytestmark = pytest.mark.fast

LABELS = ["control", "silenced"]
SPLINE = {"design": "silenced", "family": "spline", "n_basis": 6, "spline_variance": True}
GRID = np.array([0.3, 0.8, 1.0, 1.7, 2.5])


@pytest.fixture(scope="module")
def data() -> xr.Dataset:
    return simulate_silenced_control(n_spines=40, times_days=(0, 2, 4, 6), random_seed=3)[0]


@pytest.fixture(scope="module")
def spline_fit(data):
    """The spline silenced model, built once, and prior draws standing in for a posterior."""
    model = VarianceSplit(dict(SPLINE))
    pm_model = model.build(data)
    with warnings.catch_warnings():
        # Potentials (the latent likelihood) do not matter for draws of the parameters.
        warnings.simplefilter("ignore", UserWarning)
        prior = pm.sample_prior_predictive(draws=12, model=pm_model, random_seed=5)
    posterior = prior["prior"].to_dataset()
    return model, pm_model, posterior


def fake_posterior(rng, extra: dict[str, tuple] | None = None) -> xr.Dataset:
    """Return a posterior with a, b, c, d (and ``extra``) along chain, draw, treatment."""
    shape, sample = (2, 5, 2), (*dims.SAMPLE_DIMS, dims.TREATMENT)
    values = {
        "a": (sample, rng.normal(0.1, 0.05, shape)),
        "b": (sample, rng.normal(-0.1, 0.05, shape)),
        "c": (sample, rng.uniform(0.01, 0.1, shape)),
        "d": (sample, rng.uniform(0.01, 0.1, shape)),
    }
    return xr.Dataset(values | (extra or {}), coords={dims.TREATMENT: LABELS})


def linear_ratio(posterior: xr.Dataset, w: np.ndarray) -> np.ndarray:
    c, d = (posterior[v].transpose(*dims.SAMPLE_DIMS, dims.TREATMENT).values for v in "cd")
    var = c[..., None] + d[..., None] * w**2
    return var[:, :, 1] / var[:, :, 0]


# -- (1) model structure ----------------------------------------------------------------------
def test_spline_model_has_per_treatment_coefficients_and_finite_logp(spline_fit):
    model, pm_model, _ = spline_fit
    for name in ("spline_drift", "spline_variance", "spline_drift_z", "spline_variance_z"):
        assert pm_model.named_vars_to_dims[name] == (dims.TREATMENT, SPLINE_BASIS)
    for name in ("a", "b", "c", "d", "tau_spline_drift", "tau_spline_variance"):
        assert pm_model.named_vars_to_dims[name] == (dims.TREATMENT,)
    assert list(pm_model.coords[dims.TREATMENT]) == LABELS
    assert len(pm_model.coords[SPLINE_BASIS]) == 6
    logp = pm_model.compile_logp()(pm_model.initial_point())
    assert np.isfinite(logp)
    # The knots were set from the data and go to the saved config, so the result
    # rebuilds the same family.
    options = model.config["family_options"]
    assert options["n_basis"] == 6 and options["log_range"] is not None
    tree = xr.DataTree()
    tree.attrs["spinefit_config"] = json.dumps(model.config)
    family = family_of_result(tree)
    assert family.name == "spline" and family.settings == options


def test_postprocess_and_summary_use_the_spline_variance(data, spline_fit):
    model, _, posterior = spline_fit
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree = postprocess_silenced(tree, data, model.config)
    out = tree["posterior"].to_dataset()
    sizes = observed_sizes(data, model.config)
    scale = float(np.median(sizes))
    assert out.attrs["size_scale"] == pytest.approx(scale)
    family = model.family
    variance = [
        family.curves(posterior.sel({dims.TREATMENT: lab}), sizes, scale)["variance"]
        for lab in LABELS
    ]
    expected = (variance[1] / variance[0]).mean(dims.SIZE_GRID)
    np.testing.assert_allclose(out[INTRINSIC_FRACTION_MEAN], expected, rtol=1e-12)
    assert out["c"].attrs["units"].endswith("/day")
    tree[DATA_GROUP] = xr.DataTree(dataset=data)
    summary = model.summarize(tree, grid=list(GRID))
    assert summary["data"]["family"] == "spline"
    curve = summary["curves"]["intrinsic_fraction"]
    direct = intrinsic_fraction(out, GRID, LABELS, family, scale)
    np.testing.assert_allclose(curve["mean"], direct.mean(dims.SAMPLE_DIMS), rtol=1e-12)


# -- (2) linear family: c + d w² -------------------------------------------------------------
def test_linear_intrinsic_fraction_is_the_c_d_ratio():
    posterior = fake_posterior(np.random.default_rng(1))
    posterior.attrs["size_scale"] = 3.7  # the linear family does not depend on s
    fraction = intrinsic_fraction(posterior, GRID, LABELS)
    assert fraction.dims == (*dims.SAMPLE_DIMS, dims.SIZE_GRID)
    np.testing.assert_allclose(fraction.values, linear_ratio(posterior, GRID), rtol=1e-13)
    explicit = intrinsic_fraction(posterior, GRID, LABELS, get_family("linear"), 0.2)
    np.testing.assert_allclose(explicit.values, fraction.values, rtol=1e-13)


def test_linear_fraction_mean_matches_the_c_d_formula(data):
    posterior = fake_posterior(np.random.default_rng(2))
    config = VarianceSplit({"design": "silenced"}).config
    tree = postprocess_silenced(xr.DataTree.from_dict({"posterior": posterior}), data, config)
    sizes = observed_sizes(data, config)
    expected = linear_ratio(posterior, sizes).mean(-1)
    np.testing.assert_allclose(tree["posterior"][INTRINSIC_FRACTION_MEAN], expected, rtol=1e-12)


# -- (3) non-linear families ------------------------------------------------------------------
def spline_posterior(rng) -> xr.Dataset:
    coefficient_dims = (*dims.SAMPLE_DIMS, dims.TREATMENT, SPLINE_BASIS)
    extra = {
        name: (coefficient_dims, rng.normal(0.0, 0.4, (2, 5, 2, 6)))
        for name in ("spline_drift", "spline_variance")
    }
    return fake_posterior(rng, extra).assign_coords({SPLINE_BASIS: np.arange(6)})


def test_spline_intrinsic_fraction_is_the_ratio_of_family_variances():
    settings = {"n_basis": 6, "spline_variance": True, "log_range": [-1.2, 1.0]}
    family = get_family("spline", settings)
    posterior = spline_posterior(np.random.default_rng(3))
    scale = 2.0
    fraction = intrinsic_fraction(posterior, GRID, LABELS, family, scale)
    control, silenced = (
        family.curves(posterior.sel({dims.TREATMENT: lab}), GRID, scale)["variance"]
        for lab in LABELS
    )
    np.testing.assert_allclose(fraction, silenced / control, rtol=1e-13)
    # By hand: σ²(w) = (c + d w²) exp(Σ γ_k B_k(ln(w/s))).
    basis = basis_matrix(GRID / scale, settings["log_range"], 6)
    gamma = posterior["spline_variance"].transpose(*dims.SAMPLE_DIMS, dims.TREATMENT, ...).values
    modulation = np.exp(np.einsum("wk,cdtk->cdtw", basis, gamma))
    hand = linear_ratio(posterior, GRID) * modulation[:, :, 1] / modulation[:, :, 0]
    np.testing.assert_allclose(fraction.values, hand, rtol=1e-10)
    assert not np.allclose(fraction.values, linear_ratio(posterior, GRID))


def power_variance(posterior, label: str, w: np.ndarray, scale: float) -> np.ndarray:
    p = {v: posterior[v].sel({dims.TREATMENT: label}).values[..., None] for v in posterior}
    return p["c"] + p["d"] * scale**2 * (w / scale) ** p["gamma"]


def test_power_intrinsic_fraction_uses_the_exponent_and_the_size_unit():
    rng = np.random.default_rng(4)
    sample = (*dims.SAMPLE_DIMS, dims.TREATMENT)
    extra = {v: (sample, rng.uniform(0.5, 3.0, (2, 5, 2))) for v in ("beta", "gamma")}
    posterior = fake_posterior(rng, extra)
    posterior.attrs["size_scale"] = 1.6
    fraction = intrinsic_fraction(posterior, GRID, LABELS, get_family("power"))
    hand = power_variance(posterior, "silenced", GRID, 1.6) / power_variance(
        posterior, "control", GRID, 1.6
    )
    np.testing.assert_allclose(fraction.values, hand, rtol=1e-12)


def by_condition_tree(rng, scales: dict[str, float]) -> tuple[xr.DataTree, xr.Dataset]:
    """A by-condition silenced result (power family) with one child fit per condition."""
    sample = (*dims.SAMPLE_DIMS, dims.CONDITION, dims.TREATMENT)
    shape = (2, 5, len(scales), 2)
    values = {
        "a": rng.normal(0.1, 0.05, shape),
        "b": rng.normal(-0.1, 0.05, shape),
        "c": rng.uniform(0.01, 0.1, shape),
        "d": rng.uniform(0.01, 0.1, shape),
        "beta": rng.uniform(0.5, 3.0, shape),
        "gamma": rng.uniform(0.5, 3.0, shape),
    }
    posterior = xr.Dataset(
        {k: (sample, v) for k, v in values.items()},
        coords={dims.CONDITION: list(scales), dims.TREATMENT: LABELS},
    )
    inner = VarianceSplit({"design": "silenced", "family": "power"}).config
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree.attrs["spinefit_model"] = "by-condition"
    tree.attrs["spinefit_config"] = json.dumps(
        {"model": "variance-split", "model_config": {"design": "silenced", "family": "power"}}
    )
    for k, (label, scale) in enumerate(scales.items()):
        child_posterior = posterior.sel({dims.CONDITION: label}, drop=True)
        child_posterior.attrs["size_scale"] = scale
        child = xr.DataTree.from_dict({"posterior": child_posterior})
        child.attrs |= {
            "condition_label": label,
            "spinefit_model": "variance-split",
            "spinefit_config": json.dumps(inner),
        }
        tree[f"condition_fits/condition_{k}"] = child
    return tree, posterior


def test_compare_reads_each_condition_family_and_size_unit():
    scales = {"KO": 0.7, "WT": 2.5}
    tree, posterior = by_condition_tree(np.random.default_rng(5), scales)
    draws = model_of(tree).contrast_curves(tree, GRID)["intrinsic_fraction"]
    assert draws.dims == (*dims.SAMPLE_DIMS, dims.CONDITION, dims.SIZE_GRID)
    for label, scale in scales.items():
        part = posterior.sel({dims.CONDITION: label})
        hand = power_variance(part, "silenced", GRID, scale) / power_variance(
            part, "control", GRID, scale
        )
        np.testing.assert_allclose(draws.sel({dims.CONDITION: label}).values, hand, rtol=1e-12)


def test_compare_linear_fraction_is_unchanged_without_condition_fits():
    rng = np.random.default_rng(6)
    tree, posterior = by_condition_tree(rng, {"KO": 1.0, "WT": 1.0})
    tree = xr.DataTree.from_dict({"posterior": posterior[["a", "b", "c", "d"]]})
    tree.attrs["spinefit_model"] = "by-condition"
    tree.attrs["spinefit_config"] = json.dumps(
        {"model": "variance-split", "model_config": {"design": "silenced"}}
    )
    draws = model_of(tree).contrast_curves(tree, GRID)["intrinsic_fraction"]
    for label in ("KO", "WT"):
        part = posterior.sel({dims.CONDITION: label})
        np.testing.assert_allclose(
            draws.sel({dims.CONDITION: label}).values, linear_ratio(part, GRID), rtol=1e-13
        )


# -- (4) configuration ------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["spline", "power"])
def test_moments_likelihood_needs_the_linear_family(data, family):
    config = {"design": "silenced", "likelihood": "moments", "family": family}
    with pytest.raises(ConfigError, match=f"family '{family}' needs the latent likelihood"):
        VarianceSplit(config)
    raw = VarianceSplit({"design": "silenced"}).config | {"likelihood": "moments"}
    with pytest.raises(ConfigError, match="needs the latent likelihood"):
        build_silenced(data, raw | {"family": family})
    # The linear family keeps the moments likelihood.
    VarianceSplit({"design": "silenced", "likelihood": "moments"}).build(data)


def test_family_options_are_checked_and_need_the_silenced_design():
    with pytest.raises(ConfigError, match="silenced design only"):
        VarianceSplit({"family": "spline"})
    with pytest.raises(ConfigError, match="n_basis"):
        VarianceSplit({"design": "silenced", "family": "spline", "n_basis": 2})
    with pytest.raises(ConfigError, match="no option"):
        VarianceSplit({"design": "silenced", "n_basis": 6})
    model = VarianceSplit({"design": "silenced", "family": "spline", "n_basis": 6})
    assert model.config["family_options"]["n_basis"] == 6 and "n_basis" not in model.config
    assert model.describe()["equation"].startswith(model.family.equation)
