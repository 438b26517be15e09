"""Per-condition fits stacked on ``condition``: likelihood units, recovery, LOO, results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from spinefit import dims
from spinefit.compare import compare, sentences
from spinefit.errors import ConfigError, DataError
from spinefit.models.base import SamplerSettings
from spinefit.models.by_condition import (
    ByCondition,
    common_draws,
    loo_pooled_vs_split,
    split_labels,
)
from spinefit.models.variance_split import grouped_normal_loglik
from spinefit.report.registry import model_sections
from spinefit.results import load_result, save_result
from spinefit.simulate.mixtures import simulate_mixture
from spinefit.simulate.variance import simulate_shared_changes
from spinefit.workflow import condition_grouping, condition_model


def settings(draws: int = 300, seed: int = 3, **extra) -> SamplerSettings:
    return SamplerSettings(
        draws=draws,
        tune=draws,
        chains=2,
        random_seed=seed,
        sampler="nutpie",
        progressbar=False,
        **extra,
    )


def labelled_snapshot(ds: xr.Dataset, label: str) -> xr.Dataset:
    """Give a simulated snapshot unique ids and a condition label."""
    prefix = [f"{label}/{v}" for v in ds[dims.SYNAPSE].values]
    connection = [f"{label}/{v}" for v in ds[dims.CONNECTION].values]
    return ds.assign_coords(
        {
            dims.SYNAPSE: prefix,
            dims.CONNECTION: (dims.SYNAPSE, connection),
            dims.CONDITION_LABEL: (dims.SYNAPSE, np.full(ds.sizes[dims.SYNAPSE], label)),
        }
    )


def two_mixtures(weight_ko: float, n: int = 600) -> tuple[xr.Dataset, float]:
    wt, _ = simulate_mixture(n, weights=(0.77, 0.23), random_seed=1)
    ko, _ = simulate_mixture(n, weights=(1 - weight_ko, weight_ko), random_seed=2)
    data = xr.concat(
        [labelled_snapshot(wt, "WT"), labelled_snapshot(ko, "KO")],
        dim=dims.SYNAPSE,
        combine_attrs="override",
    )
    return data, weight_ko - 0.23


# -- fast -------------------------------------------------------------------------------------
def test_grouped_loglik_matches_multivariate_normal():
    rng = np.random.default_rng(0)
    codes = np.array([0, 0, 0, 1, 2, 2])
    residual = rng.normal(size=(3, 6))
    var_group, var_synapse = np.array([0.3, 0.1, 1.0]), np.array([0.5, 0.2, 0.05])
    got = grouped_normal_loglik(residual, var_group, var_synapse, codes)
    for s in range(3):
        for g in range(3):
            members = codes == g
            m = members.sum()
            cov = var_synapse[s] * np.eye(m) + var_group[s] * np.ones((m, m))
            expected = stats.multivariate_normal(np.zeros(m), cov).logpdf(residual[s, members])
            np.testing.assert_allclose(got[s, g], expected, rtol=1e-10)


def test_fits_extended_to_different_draw_counts_are_cut_to_the_fewest():
    # ESS rounds extend each condition's fit separately; stacking and LOO need one count.
    def fit(draws):
        grid = np.arange(2 * draws, dtype=float).reshape(2, draws)
        group = xr.Dataset({"b": ((dims.CHAIN, dims.DRAW), grid)})
        ll = xr.Dataset({"y": ((dims.CHAIN, dims.DRAW, "unit"), np.zeros((2, draws, 3)))})
        return xr.DataTree.from_dict(
            {"posterior": group, "sample_stats": group, "log_likelihood": ll}
        )

    cut = common_draws({"WT": fit(5), "KO": fit(3)})
    for tree in cut.values():
        for name in ("posterior", "sample_stats", "log_likelihood"):
            assert tree[name].sizes[dims.DRAW] == 3
    np.testing.assert_array_equal(cut["WT"]["posterior"]["b"].values, [[0, 1, 2], [5, 6, 7]])


def test_split_labels_and_config_errors():
    data, _ = two_mixtures(0.4, n=20)
    assert sorted(set(split_labels(data, "condition"))) == ["KO", "WT"]
    with pytest.raises(ConfigError, match="no per-synapse 'genotype' column"):
        split_labels(data, "genotype")
    with pytest.raises(ConfigError, match="unknown model"):
        ByCondition({"model": "nonsense"})
    with pytest.raises(ConfigError, match="cannot be fitted per condition"):
        ByCondition({"model": "drift-diffusion-conditions"})
    with pytest.raises(ConfigError, match="no option"):
        ByCondition({"model": "mixture", "model_config": {"n_comp": 2}})
    one = data.isel({dims.SYNAPSE: data[dims.CONDITION_LABEL].values == "WT"})
    with pytest.raises(DataError, match="need two or more conditions"):
        ByCondition({"model": "mixture"}).fit(one, settings(50))


def test_loo_refuses_units_spanning_conditions():
    ll = np.zeros((4, 3))
    result = loo_pooled_vs_split(
        (ll, ["a", "b", "c"]), {"x": (ll[:, :2], ["a", "b"]), "y": (ll[:, :2], ["b", "c"])}, (2, 2)
    )
    assert "skipped" in result


def test_condition_grouping_and_model_mapping():
    data, _ = two_mixtures(0.4, n=20)
    assert condition_grouping(data, None) == "condition"
    assert condition_grouping(data, "none") is None
    single = data.isel({dims.SYNAPSE: data[dims.CONDITION_LABEL].values == "WT"})
    assert condition_grouping(single, None) is None
    name, config = condition_model("drift-diffusion", {"pool_animals": True}, "genotype")
    assert name == "drift-diffusion-conditions"
    assert config == {"pool_animals": True, "by": "genotype"}
    name, config = condition_model("mixture", {"n_components": 2}, "condition")
    assert (name, config["model"], config["model_config"]) == (
        "by-condition",
        "mixture",
        {"n_components": 2},
    )
    name, config = condition_model("drift-diffusion", {"family": "spline", "n_basis": 6}, "c")
    assert config["family_options"]["n_basis"] == 6  # every family fits by condition
    with pytest.raises(ConfigError, match="compare_families"):
        condition_model("drift-diffusion", {"compare_families": ["power"]}, "condition")


# -- fits -------------------------------------------------------------------------------------
def test_mixture_weight_difference_recovered_and_saved(tmp_path):
    data, true_diff = two_mixtures(0.45)
    model = ByCondition({"model": "mixture", "model_config": {"component_comparison": False}})
    tree = model.fit(data, settings(500))
    posterior = tree["posterior"]
    assert posterior["weight_large"].dims == (dims.CHAIN, dims.DRAW, dims.CONDITION)
    assert posterior.attrs["reference_condition"] == "WT"
    result = compare(tree)
    assert set(result["contrasts"]) == set(json.loads(posterior.attrs["contrast_vars"]))
    s = result["contrasts"]["weight_large"]["KO"]
    assert s["hdi_low"] <= true_diff <= s["hdi_high"]
    assert s["hdi_low"] > 0  # 0.22 is large against the posterior SD (~0.04)
    for name in ("mu_small", "sigma_small", "mu_large", "sigma_large"):
        c = result["contrasts"][name]["KO"]
        assert c["hdi_low"] <= 0 <= c["hdi_high"], (name, c)
    assert any("weight_large" in s or "large component" in s for s in sentences(result))
    loo = result["loo"]
    assert loo["units"] == data.sizes[dims.SYNAPSE]
    assert loo["elpd_diff"] > 0

    path = save_result(tree, tmp_path / "by.nc")
    again = load_result(path)
    summary = ByCondition.from_result(again).summarize(again)
    assert set(summary["by_condition"]) == {"KO", "WT"}
    assert "weight_large[KO]" in summary["parameters"]
    sections = model_sections(ByCondition.from_result(again), again)
    titles = [s.title for s in sections]
    assert "Contrasts between conditions" in titles and "condition = KO" in titles


def test_variance_split_changes_by_condition_loo_units():
    parts = []
    for label, fraction, seed in (("control", 0.2, 1), ("ttx", 0.6, 2)):
        ds, _ = simulate_shared_changes(
            shared_fraction=fraction, n_dendrites=10, spines_per_dendrite=15, random_seed=seed
        )
        n = ds.sizes[dims.SPINE]
        parts.append(
            ds.assign_coords(
                {
                    dims.SPINE: [f"{label}/{s}" for s in ds[dims.SPINE].values],
                    dims.DENDRITE_ID: (
                        dims.SPINE,
                        [f"{label}/{d}" for d in ds[dims.DENDRITE_ID].values],
                    ),
                    dims.CONDITION_LABEL: (dims.SPINE, np.full(n, label)),
                }
            )
        )
    data = xr.concat(parts, dim=dims.SPINE, combine_attrs="override")
    model = ByCondition({"model": "variance-split"})
    tree = model.fit(data, settings(300))
    result = compare(tree)
    assert result["reference"] == "control"
    s = result["contrasts"]["group_shared_fraction"]["ttx"]
    assert s["hdi_low"] <= 0.4 <= s["hdi_high"]
    assert result["loo"]["units"] == 2 * 10 * 5  # dendrites x intervals per condition


def test_silenced_design_by_condition_contrasts_intrinsic_fraction():
    from spinefit.simulate.variance import simulate_silenced_control

    control = {"a": 0.2, "b": -0.2, "c": 0.002, "d": 0.05}
    parts, truth = [], {}
    for label, d_silenced, seed in (("WT", 0.03, 1), ("KO", 0.045, 3)):
        silenced = {"a": 0.2, "b": -0.2, "c": 0.0012, "d": d_silenced}
        ds, _ = simulate_silenced_control(
            control=control, silenced=silenced, n_spines=150, random_seed=seed
        )
        truth[label] = silenced
        n = ds.sizes[dims.SPINE]
        parts.append(
            ds.assign_coords(
                {
                    dims.SPINE: [f"{label}/{s}" for s in ds[dims.SPINE].values],
                    dims.CONDITION_LABEL: (dims.SPINE, np.full(n, label)),
                }
            )
        )
    data = xr.concat(parts, dim=dims.SPINE, combine_attrs="override")
    # The moments likelihood keeps this plumbing test quick (the latent silenced design has
    # its own smoke test).
    model = ByCondition(
        {
            "model": "variance-split",
            "model_config": {"design": "silenced", "likelihood": "moments"},
        }
    )
    tree = model.fit(data, settings(300, ess_target=0))
    grid = np.linspace(0.5, 2.0, 7)
    result = compare(tree, grid=grid)
    assert "skipped" in result["loo"]  # no pointwise likelihood for the silenced design
    # The curve contrast is the difference of the per-condition curves, draw by draw, so
    # its mean equals the difference of the per-condition posterior means.
    per_condition = ByCondition.from_result(tree).summarize(tree, list(grid))["by_condition"]
    means = {
        k: np.array(v["curves"]["intrinsic_fraction"]["mean"]) for k, v in per_condition.items()
    }
    curve = result["curves"]["intrinsic_fraction"]["KO"]
    np.testing.assert_allclose(curve["diff_mean"], means["KO"] - means["WT"], rtol=1e-9)
    # Truth: KO keeps more of its fluctuation when silenced (0.89 vs 0.60 of control).
    mean_fraction = result["contrasts"]["intrinsic_fraction_mean"]["KO"]
    assert mean_fraction["prob_positive"] > 0.9, mean_fraction
    assert "c[silenced]" in result["contrasts"]
