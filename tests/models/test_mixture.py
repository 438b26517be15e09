"""Tests of the log10-size mixture: likelihood pieces, binning bound, fits on simulated and
MICrONS data.

Tiers: fast unit tests (no MCMC), smoke fits (few draws) checking dims and labels,
the real-data check against Dorkenwald et al. 2022 Table 2, and ``slow`` recovery fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import read_ssem
from spinefit.models import get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.models.mixture import Mixture
from spinefit.models.mixture_likelihood import (
    DERIVED_GROUP,
    LOG10_SIZE,
    MULTIPLICITY_GROUP,
    P_LARGE,
    bin_counts,
    bin_edges,
    binned_loglik,
    binning_shift_bound,
    component_bin_logprob,
    component_labels,
    pointwise_loglik,
    skew_normal_loglik,
    state_probability,
    state_probability_fast,
)
from spinefit.models.mixture_loo import loo_comparison, loo_from_pointwise
from spinefit.report.mixture import size_axis_label
from spinefit.report.registry import model_sections
from spinefit.simulate.mixtures import (
    joint_state_table,
    simulate_mixture,
    simulate_paired_mixture,
    simulate_skew_normal,
)

MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")
TABLE_2 = {  # Dorkenwald et al. 2022, eLife 11:e76120, Table 2, all synapses
    "mu_small": -1.42,
    "sigma_small": 0.24,
    "mu_large": -0.77,
    "sigma_large": 0.22,
    "weight_large": 0.23,
}
PUBLIC = ["mu_small", "sigma_small", "mu_large", "sigma_large", "weight_large"]


def quiet(**kwargs) -> SamplerSettings:
    return SamplerSettings(progressbar=False, **kwargs)


# -- fast: configuration and data ----------------------------------------------------------------
def test_registry_and_config_errors():
    assert get_model_class("mixture") is Mixture
    with pytest.raises(ConfigError, match="no option"):
        Mixture({"n_component": 2})
    with pytest.raises(ConfigError, match="n_components"):
        Mixture({"n_components": 0})
    with pytest.raises(ConfigError, match="by_multiplicity"):
        Mixture({"n_components": 1, "by_multiplicity": True})
    with pytest.raises(ConfigError, match="binned"):
        Mixture({"binned": "yes"})
    assert component_labels(2) == ["small", "large"]
    assert component_labels(1) == ["all"]


def test_wrong_data_kind_and_bad_sizes():
    data, _ = simulate_mixture(50, random_seed=1)
    with pytest.raises(ConfigError, match="not in the data"):
        Mixture({"size_variable": "volume"}).build(data)
    bad = data.copy()
    bad["spine_vol_um3"].values[3] = -1.0
    with pytest.raises(DataError, match="not positive"):
        Mixture().build(bad)
    series = data.assign_attrs({dims.ATTR_DATA_KIND: dims.KIND_TIME_SERIES})
    with pytest.raises(DataError, match="snapshot"):
        Mixture().fit(series)


def test_axis_label_carries_units():
    data, _ = simulate_mixture(10, random_seed=1)
    assert size_axis_label(data, "spine_vol_um3") == "log10 spine-head volume (log10 µm³)"
    assert size_axis_label(data, "spine_vol_um3", log10=False) == "spine-head volume (µm³)"


def test_describe_has_equation_and_priors():
    text = Mixture().describe()
    assert r"\mathcal{N}" in text["equation"] and "Dirichlet" in text["priors"]
    assert "Dorkenwald" in text["title"]


# -- fast: likelihood pieces ----------------------------------------------------------------------
def test_bin_counts_account_for_every_point(rng):
    y = rng.normal(size=1001)
    edges = bin_edges(y, 37)
    groups = rng.integers(0, 3, size=y.size)
    counts = bin_counts(y, edges, groups, 3)
    assert counts.shape == (3, 37) and counts.sum() == y.size
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(groups, minlength=3))
    assert counts[:, 0].sum() >= 1 and counts[:, -1].sum() >= 1  # min and max inside


def test_component_bin_logprob_matches_cdf_and_tails():
    edges = np.linspace(-3.0, 3.0, 61)
    mu, sigma = np.array([-0.5, 1.0]), np.array([0.4, 0.7])
    logp = component_bin_logprob(edges, mu, sigma)
    z = (edges[:, None] - mu) / sigma
    lower_tails = np.diff(norm.cdf(z), axis=0)
    upper_tails = -np.diff(norm.sf(z), axis=0)  # precise above the mean
    reference = np.where(z[:-1] + z[1:] > 0, upper_tails, lower_tails)
    np.testing.assert_allclose(np.exp(logp), reference, rtol=1e-9)
    np.testing.assert_allclose(np.exp(logp).sum(axis=0), np.diff(norm.cdf(z[[0, -1]]), axis=0)[0])
    # Bins 30-40 SD out keep relative precision (a CDF difference would give log(0)).
    far = np.array([12.0, 12.001, 16.0, 16.001])
    tail = component_bin_logprob(far, np.array([0.0]), np.array([0.4]))[[0, 2], 0]
    midpoints = np.array([12.0005, 16.0005])
    approx = norm.logpdf(midpoints, 0.0, 0.4) + np.log(0.001)
    np.testing.assert_allclose(tail, approx, rtol=1e-4)


def test_binned_loglik_tends_to_exact_loglik(rng):
    data, truth = simulate_mixture(5000, random_seed=2)
    y = np.log10(data["spine_vol_um3"].values)
    mu, sigma, w = (np.array(truth[k]) for k in ("mu", "sigma", "weights"))
    exact = pointwise_loglik(y, mu[None], sigma[None], w[None]).sum()
    for n_bins, tolerance in ((2000, 0.5), (20000, 0.01)):
        edges = bin_edges(y, n_bins)
        counts = bin_counts(y, edges)
        width = edges[1] - edges[0]
        # log P(bin) = log f + log h + O(h^2): compare after removing n log h.
        binned = binned_loglik(counts, edges, mu, sigma, w) - y.size * np.log(width)
        assert abs(binned - exact) < tolerance


def test_pytensor_binned_likelihood_matches_numpy_and_has_finite_gradients():
    import pytensor

    data, _ = simulate_paired_mixture(random_seed=3)
    model = Mixture({"binned": True, "by_multiplicity": True, "n_bins": 300}).build(data)
    outputs = model.replace_rvs_by_values(
        [model["binned_loglik"], model["mu"], model["sigma"], model["weight"]]
    )
    function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    point = model.initial_point()
    value, mu, sigma, weight = function(*[point[v.name] for v in model.value_vars])
    y = np.log10(data["spine_vol_um3"].values)
    edges = bin_edges(y, 300)
    groups = np.clip(data["multiplicity"].values, 1, 3) - 1
    counts = bin_counts(y, edges, groups, 3)
    expected = sum(binned_loglik(counts[g : g + 1], edges, mu, sigma, weight[g]) for g in range(3))
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    gradient = model.compile_dlogp()
    for log_sigma in (-12.0, 0.0, 30.0):
        extreme = dict(point) | {"sigma_std_log__": np.full(2, log_sigma)}
        assert np.all(np.isfinite(gradient(extreme)))


def test_numpy_pointwise_loglik_matches_pymc(rng):
    import pymc as pm

    data, _ = simulate_paired_mixture({1: 40, 2: 15, 3: 4}, random_seed=4)
    model = Mixture({"by_multiplicity": True, "component_comparison": False}).build(data)
    shape = (2, 5)
    posterior = xr.Dataset(
        {
            "mu_std": ((*dims.SAMPLE_DIMS, dims.COMPONENT), np.sort(rng.normal(size=(*shape, 2)))),
            "sigma_std": ((*dims.SAMPLE_DIMS, dims.COMPONENT), rng.uniform(0.3, 0.8, (*shape, 2))),
            "weight": (
                (*dims.SAMPLE_DIMS, MULTIPLICITY_GROUP, dims.COMPONENT),
                rng.dirichlet([3.0, 1.0], size=(*shape, 3)),
            ),
        },
        coords={
            dims.CHAIN: [0, 1],
            dims.DRAW: np.arange(5),
            dims.COMPONENT: ["small", "large"],
            MULTIPLICITY_GROUP: ["m1", "m2", "m3plus"],
        },
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    reference = pm.compute_log_likelihood(
        tree, model=model, progressbar=False, extend_inferencedata=False
    )[LOG10_SIZE]
    y = np.log10(data["spine_vol_um3"].values)
    center, scale = y.mean(), y.std()
    flat = {
        name: posterior[name].values.reshape(10, *posterior[name].shape[2:]) for name in posterior
    }
    groups = np.clip(data["multiplicity"].values, 1, 3) - 1
    ours = pointwise_loglik(
        y, center + scale * flat["mu_std"], scale * flat["sigma_std"], flat["weight"], groups
    )
    np.testing.assert_allclose(ours, reference.values.reshape(10, -1), rtol=1e-10)


def test_state_probability_is_bayes_rule_and_grid_matches_direct(rng):
    mu, sigma, w = np.array([[-1.4, -0.8]]), np.array([[0.24, 0.22]]), np.array([[0.7, 0.3]])
    y = np.array([-1.4, -1.1, -0.8])
    large = w[0, 1] * norm.pdf(y, mu[0, 1], sigma[0, 1])
    small = w[0, 0] * norm.pdf(y, mu[0, 0], sigma[0, 0])
    np.testing.assert_allclose(state_probability(y, mu, sigma, w), large / (large + small))
    # Posterior draws, many points: the interpolated grid agrees with direct evaluation.
    draws = 300
    mu = np.array([-1.42, -0.77]) + 0.01 * rng.normal(size=(draws, 2))
    sigma = np.array([0.24, 0.22]) * np.exp(0.03 * rng.normal(size=(draws, 2)))
    w = rng.dirichlet([770, 230], size=draws)
    y = rng.normal(-1.3, 0.35, size=60_000)
    fast, error = state_probability_fast(y, mu, sigma, w)
    direct = state_probability(y[:3000], mu, sigma, w)
    assert 0 < error < 1e-4
    assert np.abs(fast[:3000] - direct).max() <= 1.5 * error


def newton_mle(negative_loglik, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximise with Newton steps on central-difference derivatives (precise to ~1e-10)."""
    x, step_size = start.astype(float), 1e-4
    eye = np.eye(len(x)) * step_size
    for _ in range(30):
        gradient = np.array(
            [(negative_loglik(x + e) - negative_loglik(x - e)) / (2 * step_size) for e in eye]
        )
        hessian = np.array(
            [
                [
                    (
                        negative_loglik(x + a + b)
                        - negative_loglik(x + a - b)
                        - negative_loglik(x - a + b)
                        + negative_loglik(x - a - b)
                    )
                    / (4 * step_size**2)
                    for b in eye
                ]
                for a in eye
            ]
        )
        step = np.linalg.solve(hessian, gradient)
        x = x - step
        if np.abs(step).max() < 1e-11:
            break
    return x, hessian


def test_binned_vs_exact_shift_within_stated_bound():
    """The binned maximum moves from the exact one by at most a few times the bound.

    The bound (module docstring) is the SD of the shift in units of the parameter's
    standard error; the test allows 4 SDs, at 200 bins (coarse, where the shift is
    measurable) and at the default 2000 bins.
    """
    data, _ = simulate_mixture(20_000, random_seed=5)
    y = np.log10(data["spine_vol_um3"].values)

    def unpack(theta):
        weight_large = 1.0 / (1.0 + np.exp(-theta[4]))
        return theta[:2], np.exp(theta[2:4]), np.array([1.0 - weight_large, weight_large])

    def exact(theta):
        mu, sigma, w = unpack(theta)
        return -pointwise_loglik(y, mu[None], sigma[None], w[None]).sum()

    start = np.array([-1.42, -0.77, np.log(0.24), np.log(0.22), np.log(0.23 / 0.77)])
    theta_exact, hessian = newton_mle(exact, start)
    standard_error = np.sqrt(np.diag(np.linalg.inv(hessian)))
    sigma_min = float(np.exp(theta_exact[2:4]).min())
    for n_bins in (200, 2000):
        edges = bin_edges(y, n_bins)
        counts = bin_counts(y, edges)
        theta_binned, _ = newton_mle(
            lambda t, c=counts, e=edges: -binned_loglik(c, e, *unpack(t)), theta_exact
        )
        shift = np.abs(theta_binned - theta_exact) / standard_error
        bound = binning_shift_bound(edges[1] - edges[0], sigma_min)
        assert np.all(shift <= 4 * bound), (n_bins, shift, bound)


def test_loo_comparison_scales_subsample_to_all_points(rng):
    posterior = xr.Dataset(
        {"a": (dims.SAMPLE_DIMS, rng.normal(size=(2, 200)))},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(200)},
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    base = rng.normal(-1.0, 0.3, size=(400, 50))
    better = loo_from_pointwise(base + 0.2, tree)
    worse = loo_from_pointwise(base, tree)
    result = loo_comparison({"2": better, "1": worse}, "2", "1", n=500, m=50)
    assert result["preferred"] == "2" and result["decisive"]
    assert result["elpd_diff"] == pytest.approx(0.2 * 500, rel=1e-6)
    assert result["n_synapses"] == 500 and result["n_loo_synapses"] == 50


def test_loo_comparison_needs_four_standard_errors(rng):
    posterior = xr.Dataset(
        {"a": (dims.SAMPLE_DIMS, rng.normal(size=(2, 200)))},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(200)},
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    base = rng.normal(-1.0, 0.3, size=(400, 200))
    # A positive difference of about 2 SE: better by its sign, not decisively.
    noise = rng.normal(0.0, 1.0, size=200)
    shift = noise - noise.mean() + 2.0 * noise.std() / np.sqrt(200)
    richer = loo_from_pointwise(base + shift, tree)
    plain = loo_from_pointwise(base, tree)
    result = loo_comparison({"2": richer, "1": plain}, "2", "1", n=200, m=200, simpler="1")
    assert 0 < result["elpd_diff"] < 4 * result["se_diff"]
    assert result["preferred"] == "1" and not result["decisive"]
    undecided = loo_comparison({"2": richer, "1": plain}, "2", "1", n=200, m=200)
    assert undecided["preferred"] == "undecided"


def test_skew_normal_likelihood_matches_scipy_and_pymc():
    import pytensor
    from scipy.stats import skewnorm

    data, truth = simulate_skew_normal(400, random_seed=2)
    y = np.log10(data["spine_vol_um3"].values)
    loc, scale, shape = np.array([-1.5]), np.array([0.4]), np.array([3.0])
    ours = skew_normal_loglik(y, loc, scale, shape)[0]
    np.testing.assert_allclose(ours, skewnorm.logpdf(y, 3.0, loc=-1.5, scale=0.4), rtol=1e-10)
    with pytest.raises(ConfigError, match="skew_normal"):
        Mixture({"skew_normal": True})
    exact = Mixture({"n_components": 1, "skew_normal": True, "component_comparison": False})
    binned = Mixture(exact.config | {"binned": True, "n_bins": 2000})
    values = {}
    for label, spec in (("exact", exact), ("binned", binned)):
        model = spec.build(data)
        logp = pytensor.function(model.value_vars, model.datalogp)
        point = model.initial_point() | {"skew_shape": np.array(2.0)}
        values[label] = float(logp(*[point[v.name] for v in model.value_vars]))
    # The midpoint-rule binned likelihood is log prod f(y_i) h up to O(h^2) per synapse.
    width = (y.max() - y.min()) / 2000
    assert values["binned"] - len(y) * np.log(width) == pytest.approx(values["exact"], abs=0.05)
    assert truth["shape"] == 4.0


# -- fast: summary and report from a seeded fake posterior ----------------------------------------
def fake_result(model: Mixture, data: xr.Dataset, rng: np.random.Generator) -> xr.DataTree:
    """Return a DataTree shaped like a fit, with posterior draws near the truth."""
    k = model.config["n_components"]
    shape = (2, 100)
    _, groups = model.groups(data)
    weight_dims = (MULTIPLICITY_GROUP, dims.COMPONENT) if groups else (dims.COMPONENT,)
    weight_shape = (*shape, len(groups)) if groups else shape
    means = np.linspace(-1.42, -0.77, k) if k > 1 else np.array([-1.27])
    component = (*dims.SAMPLE_DIMS, dims.COMPONENT)
    posterior = xr.Dataset(
        {
            "mu": (component, means + 0.01 * rng.normal(size=(*shape, k))),
            "sigma": (component, 0.23 + 0.005 * rng.normal(size=(*shape, k))),
            "weight": (
                (*dims.SAMPLE_DIMS, *weight_dims),
                rng.dirichlet(np.full(k, 50.0), size=weight_shape),
            ),
        },
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(100), dims.COMPONENT: component_labels(k)}
        | ({MULTIPLICITY_GROUP: groups} if groups else {}),
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree = model.postprocess(tree, data, None)
    tree["data"] = xr.DataTree(dataset=data)
    return tree


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, ["mu", "sigma"]),
        (
            3,
            [
                "mu_small",
                "sigma_small",
                "mu_medium",
                "sigma_medium",
                "mu_large",
                "sigma_large",
                "weight_medium",
                "weight_large",
            ],
        ),
    ],
)
def test_summary_names_for_other_component_counts(rng, k, expected):
    data, _ = simulate_mixture(500, random_seed=8)
    model = Mixture({"n_components": k, "component_comparison": False})
    tree = fake_result(model, data, rng)
    summary = model.summarize(tree)
    assert list(summary["parameters"]) == expected
    assert (P_LARGE in tree[DERIVED_GROUP]) == (k > 1)
    assert model_sections(model, tree)[0].title == "Fitted mixture components"


@pytest.mark.parametrize("by_multiplicity", [False, True])
def test_summary_and_report_from_fake_posterior(rng, by_multiplicity):
    data, _ = simulate_paired_mixture(random_seed=6)
    model = Mixture({"component_comparison": False, "by_multiplicity": by_multiplicity})
    tree = fake_result(model, data, rng)
    summary = model.summarize(tree, grid=[0.01, 0.05, 0.2])
    expected = PUBLIC + (
        ["weight_large_m1", "weight_large_m2", "weight_large_m3plus"] if by_multiplicity else []
    )
    assert list(summary["parameters"]) == expected
    assert summary["parameter_units"] == "log10(um^3)"
    curve_names = ["p_large_m1", "p_large_m2", "p_large_m3plus"] if by_multiplicity else ["p_large"]
    assert list(summary["curves"]) == curve_names
    assert summary["curves"][curve_names[0]][dims.SIZE_GRID] == [0.01, 0.05, 0.2]
    derived = tree[DERIVED_GROUP].to_dataset()
    np.testing.assert_array_equal(derived[dims.SYNAPSE].values, data[dims.SYNAPSE].values)
    assert derived[P_LARGE].dims == (dims.SYNAPSE,)
    assert np.all((derived[P_LARGE].values >= 0) & (derived[P_LARGE].values <= 1))
    sections = model_sections(model, tree)
    assert [s.title for s in sections] == [
        "Fitted mixture components",
        "Posterior state probabilities",
    ]
    assert sections[0].body_html.count("<svg") == 2 and "<table>" in sections[0].body_html
    json.dumps(summary)


# -- smoke fits (few draws): dims and coordinate labels --------------------------------------------
def test_smoke_binned_by_multiplicity_fit_dims_and_labels():
    data, _ = simulate_paired_mixture({1: 600, 2: 150, 3: 40}, random_seed=7)
    model = Mixture(
        {"binned": True, "n_bins": 400, "by_multiplicity": True, "component_comparison": False}
    )
    tree = model.fit(data, quiet(draws=200, tune=200, chains=1, random_seed=7, ess_target=0))
    posterior = tree["posterior"]
    assert posterior["weight"].dims == (*dims.SAMPLE_DIMS, MULTIPLICITY_GROUP, dims.COMPONENT)
    assert list(posterior[MULTIPLICITY_GROUP].values) == ["m1", "m2", "m3plus"]
    assert list(posterior[dims.COMPONENT].values) == ["small", "large"]
    assert posterior.sizes[dims.DRAW] == 200
    derived = tree[DERIVED_GROUP]
    assert derived.attrs["likelihood"] == "binned" and derived.attrs["n_bins"] == 400
    assert 0 < derived.attrs["binning_shift_bound"] < 0.05
    np.testing.assert_array_equal(derived[dims.SYNAPSE].values, data[dims.SYNAPSE].values)
    assert tree["data"].attrs[dims.ATTR_DATA_KIND] == dims.KIND_SNAPSHOT
    assert tree.attrs["spinefit_model"] == "mixture"
    summary = model.summarize(tree)
    assert "weight_large_m3plus" in summary["parameters"]
    assert summary["component_comparison"] is None


# -- real data: Dorkenwald et al. 2022 Table 2 ---------------------------------------------------
def test_microns_matches_dorkenwald_table_2(shared_data, tmp_path):
    from spinefit.results import load_result, save_result

    data = read_ssem(shared_data(*MICRONS))
    assert data.sizes[dims.SYNAPSE] == 1959
    model = Mixture()  # default: exact likelihood here, 1 vs 2 components by LOO
    tree = model.fit(data, quiet(draws=1000, tune=1000, chains=2, random_seed=2022))
    summary = model.summarize(tree)
    means = {name: summary["parameters"][name]["mean"] for name in PUBLIC}
    for name, published in TABLE_2.items():
        assert abs(means[name] - published) <= 0.02, (name, means[name], published)
    assert summary["likelihood"]["likelihood"] == "exact"
    comparison = summary["component_comparison"]
    print(json.dumps(comparison, indent=1))  # quoted in the report to the user
    assert set(comparison["elpd"]) == {"2", "1", "1_skew_normal"}
    assert comparison["elpd_diff"] > 4 * comparison["se_diff"]  # against one normal
    vs_skew = comparison["more_components_vs"]["1_skew_normal"]
    assert comparison["preferred"] == (
        "2" if vs_skew["elpd_diff"] > 4 * vs_skew["se_diff"] else "1_skew_normal"
    )
    assert comparison["n_loo_synapses"] == 1959
    # The result survives a netCDF round trip and is reported from disk.
    reloaded = load_result(save_result(tree, tmp_path / "microns.nc"))
    again = Mixture.from_result(reloaded)
    assert again.summarize(reloaded)["component_comparison"] == comparison
    titles = [s.title for s in model_sections(again, reloaded)]
    assert titles[-1] == "Number of components"


# -- slow: recovery and binned-vs-exact posteriors -------------------------------------------------
def assert_truth_in_hdi(summary: dict, truth: dict, names: list[str]) -> None:
    for name in names:
        stats = summary["parameters"][name]
        assert stats["hdi_low"] <= truth[name] <= stats["hdi_high"], (name, stats, truth[name])


@pytest.mark.slow
@pytest.mark.parametrize(("n", "binned"), [(3000, False), (300_000, True)])
def test_recovery(n, binned):
    data, truth = simulate_mixture(n, random_seed=31)
    model = Mixture({"component_comparison": False})
    tree = model.fit(data, quiet(draws=1000, tune=1000, chains=2, random_seed=31))
    assert tree[DERIVED_GROUP].attrs["likelihood"] == ("binned" if binned else "exact")
    summary = model.summarize(tree)
    assert_truth_in_hdi(summary, truth, PUBLIC)
    p_large = tree[DERIVED_GROUP][P_LARGE].values
    assert abs(p_large.sum() - truth["large"].sum()) < 4 * np.sqrt(n * 0.23 * 0.77) + 0.02 * n


@pytest.mark.slow
def test_recovery_by_multiplicity():
    # Independent states (phi = 0): synapses are then exchangeable within a group, as the
    # model assumes; with correlated states the group weight varies more than it allows.
    p_SS, p_SL, p_LL = joint_state_table(0.4, 0.0)
    data, truth = simulate_paired_mixture(
        {1: 6000, 2: 3000, 3: 600}, p_SS=p_SS, p_SL=p_SL, p_LL=p_LL, random_seed=32
    )
    model = Mixture({"by_multiplicity": True, "component_comparison": False})
    summary = model.summarize(model.fit(data, quiet(draws=1000, tune=1000, random_seed=32)))
    assert_truth_in_hdi(
        summary, truth, ["weight_large_m1", "weight_large_m2", "weight_large_m3plus", "mu_small"]
    )


@pytest.mark.slow
def test_binned_posterior_equals_exact_within_monte_carlo_error():
    import arviz as az

    data, _ = simulate_mixture(20_000, random_seed=33)
    settings = quiet(draws=2000, tune=1000, chains=2, random_seed=33)
    fits = {}
    for binned in (False, True):
        model = Mixture({"binned": binned, "component_comparison": False})
        fits[binned] = model.summary_draws(model.fit(data, settings))
    for name in PUBLIC:
        exact, binned = fits[False][name], fits[True][name]
        mcse = np.hypot(float(az.mcse(exact)), float(az.mcse(binned)))
        assert abs(float(exact.mean()) - float(binned.mean())) < 4 * mcse, name
        assert float(binned.std()) == pytest.approx(float(exact.std()), rel=0.1), name


@pytest.mark.slow
def test_component_comparison_on_large_data_uses_subsample():
    data, _ = simulate_mixture(60_000, random_seed=34)
    model = Mixture({"loo_max_synapses": 5000})
    summary = model.summarize(model.fit(data, quiet(draws=500, tune=500, random_seed=34)))
    comparison = summary["component_comparison"]
    assert comparison["n_loo_synapses"] == 5000 and comparison["n_synapses"] == 60_000
    assert comparison["preferred"] == "2" and comparison["elpd_diff"] > 4 * comparison["se_diff"]


@pytest.mark.slow
def test_skew_normal_population_does_not_prefer_two_components():
    # One skewed population: two normals beat one normal, but not the skew-normal model.
    data, _ = simulate_skew_normal(3000, random_seed=35)
    model = Mixture()
    summary = model.summarize(model.fit(data, quiet(draws=1000, tune=1000, random_seed=35)))
    comparison = summary["component_comparison"]
    print(json.dumps(comparison, indent=1))
    assert comparison["preferred"] != "2" and not comparison["decisive"]
    assert set(comparison["more_components_vs"]) == {"1", "1_skew_normal"}
