"""Tests of the variance split (shared-connection and silenced-vs-control designs).

Tiers: fast unit tests (config, simulators, pair correlations, model structure), small
smoke fits checking dims, labels and summary keys, and ``slow`` recovery and real-data fits.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import read_ssem
from spinefit.io.two_photon import read_two_photon
from spinefit.models import get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.models.variance_split import (
    POST_CELL,
    PRE_CELL,
    VarianceSplit,
    empirical_pair_correlations,
    fraction_names,
    grouped_normal_logp,
    log_changes,
)
from spinefit.report.registry import model_sections
from spinefit.simulate.variance import (
    intrinsic_fraction_curve,
    simulate_shared_changes,
    simulate_shared_snapshot,
    simulate_silenced_control,
)
from spinefit.stats import sampler_diagnostics

MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")
FRACTIONS = ["connection_shared_fraction", "connection_unshared_fraction"]
GROUP_FRACTIONS = ["group_shared_fraction", "group_unshared_fraction"]


def quick(seed: int = 1, draws: int = 150, **extra) -> SamplerSettings:
    return SamplerSettings(
        draws=draws,
        tune=draws,
        chains=2,
        random_seed=seed,
        sampler="nutpie",
        progressbar=False,
        **extra,
    )


def inside(stats: dict, truth: float) -> bool:
    return stats["hdi_low"] <= truth <= stats["hdi_high"]


# -- fast: configuration and simulators ------------------------------------------------------
def test_registry_and_config_errors():
    assert get_model_class("variance-split") is VarianceSplit
    with pytest.raises(ConfigError, match="design"):
        VarianceSplit({"design": "other"})
    with pytest.raises(ConfigError, match="baselines"):
        VarianceSplit({"baselines": "maybe"})
    with pytest.raises(ConfigError, match="no option"):
        VarianceSplit({"groupby": "connection"})


def test_snapshot_simulator_truth_is_consistent():
    data, truth = simulate_shared_snapshot(
        connection_shared_fraction=0.3, var_pre=0.1, var_post=0.2, random_seed=2
    )
    assert data.attrs[dims.ATTR_DATA_KIND] == dims.KIND_SNAPSHOT
    assert truth["var_connection"] / (truth["var_connection"] + truth["var_synapse"]) == (
        pytest.approx(0.3)
    )
    assert truth["corr_commonly_innervated"] == pytest.approx(
        truth["corr_same_axon"] + truth["corr_same_dendrite"] + truth["ci_excess"]
    )
    assert (data["pre_id"].values != data["post_id"].values).all()
    assert data["multiplicity"].max() >= 2
    with pytest.raises(ConfigError):
        simulate_shared_snapshot(connection_shared_fraction=1.2)


def test_deprecated_simulator_argument_warns():
    with pytest.warns(DeprecationWarning, match="connection_shared_fraction"):
        _, truth = simulate_shared_snapshot(activity_dependent_fraction=0.3, n_connections=20)
    assert truth["connection_shared_fraction"] == 0.3
    assert fraction_names(dims.CONNECTION) == tuple(FRACTIONS)
    assert fraction_names(dims.DENDRITE_ID) == tuple(GROUP_FRACTIONS)


def test_priors_are_on_the_reported_fractions():
    # Uniform on the headline fraction; the others have the stated implied priors (no MCMC).
    import pymc as pm

    data, _ = simulate_shared_snapshot(
        connection_shared_fraction=0.3, n_connections=40, var_pre=0.1, var_post=0.1
    )
    model = VarianceSplit().build(data)
    assert "connection_shared_fraction" in {v.name for v in model.free_RVs}
    names = ["connection_shared_fraction", "ci_excess", "corr_commonly_innervated"]
    prior = pm.sample_prior_predictive(draws=4000, model=model, var_names=names, random_seed=1)
    draws = {n: prior["prior"][n].values.ravel() for n in names}
    # Uniform: mean 1/2, variance 1/12.
    assert draws["connection_shared_fraction"].mean() == pytest.approx(0.5, abs=0.02)
    assert draws["connection_shared_fraction"].var() == pytest.approx(1 / 12, abs=0.006)
    # ci_excess = (1 - b) f with b, f uniform: mean 1/4 (the Dirichlet implied Beta(1, 3)
    # too, but now the headline fraction, not the excess, is the uniform one).
    assert draws["ci_excess"].mean() == pytest.approx(0.25, abs=0.02)
    assert draws["corr_commonly_innervated"].mean() == pytest.approx(0.75, abs=0.02)


def test_change_simulator_and_log_changes():
    data, truth = simulate_shared_changes(
        shared_fraction=0.5, n_dendrites=3, spines_per_dendrite=4, n_sessions=3, random_seed=1
    )
    assert truth["var_group"] + truth["var_synapse"] == pytest.approx(0.1)
    table = log_changes(data, dims.DENDRITE_ID)
    assert set(table["group"]) <= {"d0", "d1", "d2"}
    assert set(table["interval"]) <= {0, 1}
    volume = data[dims.VOLUME].values
    both = np.isfinite(volume[:, :-1]) & np.isfinite(volume[:, 1:])
    assert len(table) == both.sum()
    with pytest.raises(ConfigError, match="group_by"):
        log_changes(data, "animal_id")


def test_empirical_pair_correlations_by_hand():
    y = np.array([1.0, 1.1, 0.0, 0.2, 3.0])
    connection = np.array(["a", "a", "b", "b", "c"])
    pre = np.array([1, 1, 2, 2, 1])
    post = np.array([5, 5, 6, 6, 6])
    out = empirical_pair_correlations(y, connection, pre, post)
    assert out["commonly_innervated"]["pairs"] == 2
    assert out["same_axon"]["pairs"] == 2  # synapse 4 with 0 and 1 (pre 1, posts 5 vs 6)
    assert out["same_dendrite"]["pairs"] == 2  # synapse 4 with 2 and 3
    assert out["commonly_innervated"]["r"] > 0.9


def test_silenced_truth_curve():
    control = {"c": 1.0, "d": 1.0}
    silenced = {"c": 0.5, "d": 0.5}
    assert intrinsic_fraction_curve(control, silenced, np.array([0.5, 2.0])) == pytest.approx(0.5)


def test_grouped_normal_logp_matches_multivariate_normal():
    from scipy.stats import multivariate_normal

    y = np.array([0.3, -0.2, 1.0, 0.5, 0.1, -0.7])
    codes = np.array([0, 0, 1, 2, 2, 2])
    mean, var_group, var_synapse = 0.1, 0.4, 0.7
    expected = 0.0
    for k in range(3):
        member = y[codes == k]
        cov = var_synapse * np.eye(member.size) + var_group
        expected += multivariate_normal(np.full(member.size, mean), cov).logpdf(member)
    counts = np.bincount(codes).astype(float)
    got = grouped_normal_logp(y, mean, var_group, var_synapse, codes, counts).sum().eval()
    assert got == pytest.approx(expected)


# -- fast: model structure without sampling ----------------------------------------------------
def test_snapshot_model_structure_and_labels():
    data, _ = simulate_shared_snapshot(
        connection_shared_fraction=0.5, n_connections=30, var_pre=0.1, var_post=0.1
    )
    model_spec = VarianceSplit()
    assert model_spec.uses_baselines(data)
    model = model_spec.build(data)
    assert list(model.coords[dims.CONNECTION]) == list(dict.fromkeys(data[dims.CONNECTION].values))
    assert len(model.coords[PRE_CELL]) == len(set(data["pre_id"].values))
    assert len(model.coords[POST_CELL]) == len(set(data["post_id"].values))
    names = set(model.named_vars)
    assert {
        "var_connection",
        "var_synapse",
        "var_pre",
        "var_post",
        "ci_excess",
        *FRACTIONS,
    } <= names
    plain = VarianceSplit({"baselines": "off"}).build(data)
    assert "var_pre" not in {v.name for v in plain.deterministics}
    with pytest.raises(ConfigError, match="baselines"):
        VarianceSplit({"baselines": "on", "group_by": "post_id"}).uses_baselines(data)


def test_change_model_structure_and_errors():
    data, _ = simulate_shared_changes(shared_fraction=0.3, n_dendrites=4, n_sessions=4)
    model = VarianceSplit().build(data)
    assert list(model.coords[dims.DENDRITE]) == ["d0", "d1", "d2", "d3"]
    assert list(model.coords["interval"]) == [0, 1, 2]
    with pytest.raises(DataError, match="treatment"):
        VarianceSplit({"design": "silenced"}).build(data)
    snapshot, _ = simulate_shared_snapshot(connection_shared_fraction=0.3, n_connections=20)
    with pytest.raises(DataError, match="time-series"):
        VarianceSplit({"design": "silenced"}).build(snapshot)


# -- smoke fits --------------------------------------------------------------------------------
def test_snapshot_smoke_fit_summary_and_report():
    data, _ = simulate_shared_snapshot(
        connection_shared_fraction=0.5, n_connections=120, var_pre=0.1, var_post=0.1
    )
    model = VarianceSplit()
    tree = model.fit(data, quick())
    posterior = tree["posterior"]
    assert posterior["z_pre"].dims == (dims.CHAIN, dims.DRAW, PRE_CELL)
    assert set(posterior[PRE_CELL].values) == {str(v) for v in data["pre_id"].values}
    assert tree["observed_data"]["log_size"].dims == (dims.SYNAPSE,)
    assert posterior["var_connection"].attrs["units"] == "(ln(um^3))^2"
    summary = model.summarize(tree)
    expected = {*FRACTIONS, "var_connection", "var_synapse", "var_pre", "var_post"}
    expected |= {"corr_same_axon", "corr_same_dendrite", "corr_commonly_innervated", "ci_excess"}
    assert expected <= set(summary["parameters"])
    fraction = summary["parameters"]["connection_shared_fraction"]
    assert 0 < fraction["hdi_low"] < fraction["mean"] < fraction["hdi_high"] < 1
    # The implied priors are stored and summarised next to the posteriors.
    assert tree["prior"]["connection_shared_fraction"].dims == dims.SAMPLE_DIMS
    assert set(summary["prior"]) == set(summary["parameters"])
    assert summary["prior"]["connection_shared_fraction"]["mean"] == pytest.approx(0.5, abs=0.03)
    assert summary["deprecated_aliases"] == {
        "activity_dependent_fraction": "connection_shared_fraction",
        "activity_independent_fraction": "connection_unshared_fraction",
    }
    assert any("activity_dependent_fraction" in note for note in summary["notes"])
    assert summary["data"]["group_by"] == dims.CONNECTION and summary["data"]["baselines"]
    sections = model_sections(model, tree)
    titles = [s.title for s in sections]
    assert any("Baseline" in t for t in titles) and any("Pairs" in t for t in titles)
    body = sections[0].body_html
    assert "implied prior" in body and "upwards" in body and "downwards" in body
    # A result saved under the old names is read with a DeprecationWarning.
    old = tree.copy()
    old["posterior"] = xr.DataTree(
        dataset=tree["posterior"]
        .to_dataset()
        .rename({"connection_shared_fraction": "activity_dependent_fraction"})
    )
    with pytest.warns(DeprecationWarning, match="activity_dependent_fraction"):
        again = model.summarize(old)
    assert again["parameters"]["connection_shared_fraction"] == fraction


def test_time_series_smoke_fit():
    data, _ = simulate_shared_changes(shared_fraction=0.4, n_dendrites=6, random_seed=4)
    model = VarianceSplit()
    tree = model.fit(data, quick(seed=2))
    assert tree["posterior"]["interval_shift"].dims[2:] == ("interval",)
    assert list(tree["posterior"]["interval"].values) == [0, 1, 2, 3, 4]
    summary = model.summarize(tree)
    assert {*GROUP_FRACTIONS, "var_dendrite", "var_synapse"} <= set(summary["parameters"])
    assert not set(FRACTIONS) & set(summary["parameters"])
    assert "ci_excess" not in summary["parameters"]
    assert summary["data"]["group_by"] == dims.DENDRITE_ID
    assert len(model_sections(model, tree)) == 3


def test_silenced_smoke_fit():
    data, _ = simulate_silenced_control(n_spines=40, times_days=(0, 2, 4, 6), random_seed=3)
    model = VarianceSplit({"design": "silenced"})
    tree = model.fit(data, quick(seed=3, draws=100, ess_target=0))
    assert list(tree["posterior"]["d"][dims.TREATMENT].values) == ["control", "silenced"]
    summary = model.summarize(tree, grid=[0.5, 1.0, 1.5])
    assert {"d[control]", "d[silenced]", "intrinsic_fraction_mean"} <= set(summary["parameters"])
    curve = summary["curves"]["intrinsic_fraction"]
    assert curve["w"] == [0.5, 1.0, 1.5] and len(curve["hdi_low"]) == 3
    assert model_sections(model, tree)[0].title.startswith("Intrinsic fraction")


# -- real data ---------------------------------------------------------------------------------
def test_microns_shared_connection_fit(shared_data):
    data = read_ssem(shared_data(*MICRONS))
    model = VarianceSplit()
    tree = model.fit(data, quick(seed=11, draws=500))
    summary = model.summarize(tree)
    params = summary["parameters"]
    assert summary["data"]["synapses"] == 1959 and summary["data"]["groups"] == 1734
    assert summary["data"]["baselines"]
    for name in [*FRACTIONS, "ci_excess"]:
        assert 0.0 < params[name]["hdi_low"] <= params[name]["hdi_high"] < 1.0
    for name in ["corr_same_axon", "corr_same_dendrite"]:
        assert 0.0 <= params[name]["hdi_low"] <= params[name]["hdi_high"] < 1.0
    # The connection effects are integrated out, so the split converges fast; the cell
    # baselines sit near zero and mix slowly, so they are not held to R-hat < 1.01 here.
    main = [*FRACTIONS, "var_connection", "var_synapse", "ci_excess"]
    diagnostics = sampler_diagnostics(tree, main)
    assert diagnostics["max_r_hat"] < 1.01 and diagnostics["divergences"] == 0
    # Model and raw data agree on the sign: CI pairs correlate more than same-axon pairs.
    raw = summary["empirical_pair_correlations"]
    assert raw["commonly_innervated"]["r"] > raw["same_axon"]["r"]
    assert params["corr_commonly_innervated"]["mean"] > params["corr_same_axon"]["mean"]


@pytest.mark.slow
def test_melander_pyramidal_shared_dendrite_fit(shared_data):
    data = read_two_photon(
        shared_data("melander2021", "quantile_4060_pyr.npy"),
        interval_days=4,
        dendrite_map=shared_data("melander2021", "pyr_map.npy"),
    )
    model = VarianceSplit()
    tree = model.fit(data, quick(seed=12, draws=1000))
    params = model.summarize(tree)["parameters"]
    for name in GROUP_FRACTIONS:
        assert 0.0 < params[name]["hdi_low"] <= params[name]["hdi_high"] < 1.0
    assert sampler_diagnostics(tree, model.parameter_names(tree))["max_r_hat"] < 1.01


# -- slow: recovery ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.8])
def test_snapshot_recovery(fraction):
    data, truth = simulate_shared_snapshot(
        connection_shared_fraction=fraction,
        n_connections=500,
        var_pre=0.1,
        var_post=0.1,
        random_seed=int(fraction * 100),
    )
    model = VarianceSplit()
    params = model.summarize(model.fit(data, quick(seed=5, draws=1000)))["parameters"]
    for name in [*FRACTIONS, "var_connection", "var_synapse", "ci_excess"]:
        assert inside(params[name], truth[name]), (name, params[name], truth[name])


def anova_shared_fraction(data) -> float:
    """Method-of-moments (one-way ANOVA) shared fraction of changes, with no model."""
    table = log_changes(data, dims.DENDRITE_ID)
    table["resid"] = table["change"] - table.groupby("interval")["change"].transform("mean")
    cells = table.groupby(["group", "interval"])["resid"]
    var_within = cells.var().mean()
    var_group = cells.mean().var() - (var_within / cells.size()).mean()
    return var_group / (var_group + var_within)


def test_time_series_seed_10_realisation_has_little_shared_variance():
    # Documents why seed 10 at a true fraction 0.1 is not a fair single-seed check: the
    # model-free ANOVA estimate of that realisation is about 0.03, three sampling SDs below
    # the mean over seeds, so a posterior that follows the data must miss 0.1.
    data, _ = simulate_shared_changes(shared_fraction=0.1, n_dendrites=15, random_seed=10)
    assert anova_shared_fraction(data) < 0.05
    seeds = [
        anova_shared_fraction(
            simulate_shared_changes(shared_fraction=0.1, n_dendrites=15, random_seed=s)[0]
        )
        for s in range(20)
    ]
    assert abs(np.mean(seeds) - 0.1) < 0.02


@pytest.mark.slow
def test_time_series_recovery_coverage():
    # 94% HDIs: over 4 fractions x 3 seeds (12 fits, 24 interval checks) the expected
    # number of misses per fraction name is 0.7; more than 2 misses of 12 has P ~ 0.03.
    misses = []
    for fraction in [0.1, 0.3, 0.5, 0.8]:
        for seed in (101, 102, 103):
            data, truth = simulate_shared_changes(
                shared_fraction=fraction, n_dendrites=15, random_seed=seed
            )
            model = VarianceSplit()
            params = model.summarize(model.fit(data, quick(seed=6, draws=1000)))["parameters"]
            name = "group_shared_fraction"
            if not inside(params[name], truth[name]):
                misses.append((fraction, seed, params[name]))
    print(f"time-series recovery: {len(misses)} of 12 HDIs miss the truth: {misses}")
    assert len(misses) <= 2, misses


@pytest.mark.slow
def test_silenced_recovery_curve_inside_band():
    data, truth = simulate_silenced_control(n_spines=200, random_seed=8)
    model = VarianceSplit({"design": "silenced"})
    summary = model.summarize(model.fit(data, quick(seed=8, draws=1000)))
    curve = summary["curves"]["intrinsic_fraction"]
    true_curve = intrinsic_fraction_curve(truth["control"], truth["silenced"], np.array(curve["w"]))
    assert np.all(np.array(curve["hdi_low"]) <= true_curve)
    assert np.all(true_curve <= np.array(curve["hdi_high"]))
    assert summary["parameters"]["intrinsic_fraction_mean"]["hdi_high"] < 1.0
