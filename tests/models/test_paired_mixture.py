"""Tests of the paired mixture (exchangeable binary states of the synapses of one connection).

Tiers: fast unit tests (layout, exact likelihood against brute force, simulator), a smoke
fit checking dims and labels, and ``slow`` recovery, validation and MICrONS fits.
"""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import norm

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import read_ssem
from spinefit.models import get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.models.mixture_likelihood import DERIVED_GROUP, MULTIPLICITY_GROUP, P_LARGE
from spinefit.models.paired_mixture import (
    ConnectionLayout,
    PairedMixture,
    alpha_beta_of_table,
    group_label,
    phi_coefficient,
)
from spinefit.models.paired_mixture_likelihood import (
    brute_force_loglik,
    connection_loglik,
    dp_loglik,
    enumerated_loglik,
    large_state_probability,
    log_count_probabilities,
    phi_within,
    state_logpdf,
)
from spinefit.report.registry import model_sections
from spinefit.simulate.mixtures import (
    exchangeable_count_probabilities,
    exchangeable_phi,
    joint_state_table,
    phi_of,
    simulate_exchangeable_connections,
    simulate_mixture,
)

MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")
MU, SIGMA = np.array([[-1.4, -0.8]]), np.array([[0.25, 0.2]])
PLAIN = {"state_comparison": False, "effect_comparison": False}


def quiet(**kwargs) -> SamplerSettings:
    return SamplerSettings(progressbar=False, sampler="nutpie", **kwargs)


# -- fast: layout and configuration ----------------------------------------------------------------
def test_layout_groups_connections_by_multiplicity():
    connection = np.array(["a", "b", "a", "c", "c", "c", "d", "b"])
    layout = ConnectionLayout(connection, include_singles=True)
    assert layout.multiplicity_counts == {1: 1, 2: 2, 3: 1}
    assert layout.members[3].tolist() == [[3, 4, 5]]
    assert sorted(map(sorted, layout.members[2].tolist())) == [[0, 2], [1, 7]]
    assert layout.singles.tolist() == [6]
    pairs = sorted(zip(layout.pair_i.tolist(), layout.pair_j.tolist(), strict=True))
    assert pairs == [(0, 2), (1, 7), (3, 4), (3, 5), (4, 5)]
    assert layout.n_units == 4 and layout.used.tolist() == list(range(8))
    units = np.concatenate(list(layout.units.values()))
    assert sorted(units.tolist()) == [0, 1, 2, 3]
    assert [layout.unit_labels[u] for u in layout.units[3]] == ["c"]
    no_singles = ConnectionLayout(connection, include_singles=False)
    assert 1 not in no_singles.members and 6 not in no_singles.used


def test_layout_on_microns(shared_data):
    data = read_ssem(shared_data(*MICRONS))
    model = PairedMixture()
    layout = model.layout(data)
    assert layout.multiplicity_counts == {1: 1545, 2: 160, 3: 24, 4: 3, 5: 2}
    assert len(layout.used) == 1959 and layout.n_units == 1734
    assert model.state_groups(layout) == ["m2", "m3plus"]
    assert PairedMixture({"split_multiplicity_at": 4}).state_groups(layout) == [
        "m2",
        "m3",
        "m4plus",
    ]


def test_config_and_no_pairs():
    assert get_model_class("paired-mixture") is PairedMixture
    with pytest.raises(ConfigError, match="split_multiplicity_at"):
        PairedMixture({"split_multiplicity_at": 2})
    with pytest.raises(ConfigError, match="no option"):
        PairedMixture({"pair_mode": "first"})  # the composite likelihood and its option are gone
    singles, _ = simulate_mixture(30, random_seed=1)
    with pytest.raises(DataError, match="no connection has 2"):
        PairedMixture().build(singles)
    assert group_label(2, 3) == "m2" and group_label(7, 3) == "m3plus"


# -- fast: the exact likelihood -----------------------------------------------------------------
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize(("alpha", "beta", "tau"), [(-0.7, 1.2, 0.0), (0.3, -0.8, 0.12)])
def test_marginal_matches_brute_force_enumeration(m, alpha, beta, tau, rng):
    y = rng.normal(-1.1, 0.4, size=(4, m))
    log_pk = log_count_probabilities(np.array([alpha]), np.array([beta]), m, np)
    expected = [brute_force_loglik(row, MU[0], SIGMA[0], tau, alpha, beta) for row in y]
    tau_arg = np.array([tau]) if tau else None
    np.testing.assert_allclose(
        connection_loglik(y, MU, SIGMA, tau_arg, log_pk, m, np)[0], expected, rtol=1e-10
    )
    np.testing.assert_allclose(
        enumerated_loglik(y, MU, SIGMA, np.array([tau]), log_pk, m, np)[0], expected, rtol=1e-10
    )
    if tau == 0.0:  # the O(m²) recursion
        log_small, log_large = state_logpdf(y, MU, SIGMA, np)
        np.testing.assert_allclose(dp_loglik(log_small, log_large, log_pk, m, np)[0], expected)


def test_count_distribution_phi_and_table_agree():
    # m = 2: the exchangeable model is the symmetric 2x2 table, alpha and beta its logits.
    p_SS, p_SL, p_LL = 0.5, 0.2, 0.3
    alpha, beta = alpha_beta_of_table(p_SS, p_SL, p_LL)
    pk = np.exp(log_count_probabilities(np.array([alpha]), np.array([beta]), 2, np))[0]
    np.testing.assert_allclose(pk, [p_SS, p_SL, p_LL])
    log_pk = np.log(pk)[None]
    assert phi_within(log_pk, 2, np)[0] == pytest.approx(phi_coefficient(p_SS, p_SL, p_LL))
    np.testing.assert_allclose(exchangeable_count_probabilities(alpha, beta, 2), pk)
    # beta = 0 is independence at every multiplicity, whatever P(large).
    for m in (2, 3, 5):
        assert exchangeable_phi(-1.0, 0.0, m) == pytest.approx(0.0, abs=1e-12)
        assert exchangeable_phi(-1.0, 1.0, m) > 0 > exchangeable_phi(-1.0, -1.0, m)


def test_pooled_pairs_read_a_multiplicity_trend_as_shared_states():
    # The example: independent states, P(large) 0.3 for pairs and 0.5 for m >= 3.
    # Pooled over the MICrONS pairs, phi is clearly positive; within each m it is 0.
    pairs_m2, pairs_m3plus = 160, 24 * 3 + 3 * 6 + 2 * 10
    share = pairs_m2 / (pairs_m2 + pairs_m3plus)
    p = share * 0.3 + (1 - share) * 0.5
    pooled_phi = share * (1 - share) * (0.5 - 0.3) ** 2 / (p * (1 - p))
    assert 0.025 < pooled_phi < 0.05
    assert exchangeable_phi(np.log(0.3 / 0.7), 0.0, 2) == pytest.approx(0.0, abs=1e-12)


def test_large_state_probability_of_a_pair_by_hand():
    y = np.array([[-1.3, -0.75], [-0.9, -1.5]])
    table = np.array([[0.5, 0.1], [0.1, 0.3]])
    alpha, beta = alpha_beta_of_table(0.5, 0.2, 0.3)
    log_pk = log_count_probabilities(np.array([alpha]), np.array([beta]), 2, np)
    got = large_state_probability(y, MU, SIGMA, None, log_pk, 2)[0]
    for c, (a, b) in enumerate(y):
        joint = table * np.outer(norm.pdf(a, MU[0], SIGMA[0]), norm.pdf(b, MU[0], SIGMA[0]))
        assert got[c, 0] == pytest.approx(joint[1].sum() / joint.sum())
        assert got[c, 1] == pytest.approx(joint[:, 1].sum() / joint.sum())


@pytest.mark.parametrize("effect", [True, False])
def test_pytensor_potential_matches_numpy_pointwise(effect):
    import pytensor

    data, _ = simulate_exchangeable_connections(
        {1: 20, 2: 10, 3: 4, 5: 2},
        alpha={"m2": -1.0, "m3plus": -0.4},
        beta={"m2": 1.0, "m3plus": 0.3},
        sigma_connection=0.1,
        random_seed=2,
    )
    spec = PairedMixture(PLAIN | {"connection_effect": effect})
    model = spec.build(data)
    names = ["connections_loglik", "mu", "sigma", "alpha", "beta", "weight_large_single"]
    names += ["sigma_connection"] if effect else []
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    point = model.initial_point() | {"alpha": np.array([-0.8, 0.2])}
    if "beta" in point:
        point["beta"] = np.array([0.9, -0.4])
    values = dict(zip(names, function(*[point[v.name] for v in model.value_vars]), strict=True))
    import xarray as xr

    posterior = xr.Dataset(
        {
            "mu": ((*dims.SAMPLE_DIMS, dims.COMPONENT), values["mu"][None, None]),
            "sigma": ((*dims.SAMPLE_DIMS, dims.COMPONENT), values["sigma"][None, None]),
            "alpha": ((*dims.SAMPLE_DIMS, MULTIPLICITY_GROUP), values["alpha"][None, None]),
            "beta": ((*dims.SAMPLE_DIMS, MULTIPLICITY_GROUP), values["beta"][None, None]),
            "weight_large_single": (dims.SAMPLE_DIMS, values["weight_large_single"][None, None]),
        }
        | (
            {"sigma_connection": (dims.SAMPLE_DIMS, values["sigma_connection"][None, None])}
            if effect
            else {}
        ),
        coords={MULTIPLICITY_GROUP: ["m2", "m3plus"]},
    )
    per_connection = spec.pointwise(posterior, data)
    assert per_connection.shape == (1, 36)
    tree = xr.DataTree.from_dict({"posterior": posterior, "data": data})
    log_lik, labels = spec.pointwise_log_likelihood(tree)
    np.testing.assert_array_equal(log_lik, per_connection)
    assert sorted(labels) == sorted(set(data[dims.CONNECTION].values.astype(str)))
    assert per_connection.sum() == pytest.approx(float(values["connections_loglik"]), rel=1e-10)


# -- fast: simulator ------------------------------------------------------------------------------
def test_simulated_counts_follow_the_exchangeable_model():
    alpha, beta = {"m2": -1.0, "m3plus": -0.5}, {"m2": 1.0, "m3plus": 0.5}
    data, truth = simulate_exchangeable_connections(
        {2: 4000, 4: 4000}, alpha=alpha, beta=beta, random_seed=3
    )
    large = truth["large"]
    connection = data[dims.CONNECTION].values
    for m, group in ((2, "m2"), (4, "m3plus")):
        in_m = data["multiplicity"].values == m
        counts = np.bincount(
            np.unique(connection[in_m], return_inverse=True)[1], weights=large[in_m]
        ).astype(int)
        observed = np.bincount(counts, minlength=m + 1) / len(counts)
        expected = exchangeable_count_probabilities(alpha[group], beta[group], m)
        np.testing.assert_allclose(observed, expected, atol=0.025)
    assert truth["phi_m2"] == pytest.approx(exchangeable_phi(-1.0, 1.0, 2))
    # m = 2 reproduces the symmetric table of the older generator.
    table = joint_state_table(0.3, 0.4)
    a, b = alpha_beta_of_table(*table)
    assert exchangeable_phi(a, b, 2) == pytest.approx(phi_of(*table))


# -- smoke fit ------------------------------------------------------------------------------
def test_smoke_fit_dims_labels_and_report():
    data, _ = simulate_exchangeable_connections(
        {1: 150, 2: 60, 3: 12, 4: 3},
        alpha={"m2": -1.0, "m3plus": -0.5},
        beta={"m2": 1.0, "m3plus": 0.5},
        sigma_connection=0.08,
        random_seed=5,
    )
    model = PairedMixture(PLAIN)
    tree = model.fit(data, quiet(draws=150, tune=150, chains=1, random_seed=5))
    posterior = tree["posterior"]
    assert list(posterior[MULTIPLICITY_GROUP].values) == ["m2", "m3plus"]
    assert posterior["state_table"].dims == (*dims.SAMPLE_DIMS, MULTIPLICITY_GROUP, "joint_state")
    assert list(posterior["joint_state"].values) == ["SS", "SL", "LL"]
    assert list(posterior[dims.COMPONENT].values) == ["small", "large"]
    assert posterior["phi"].dims == dims.SAMPLE_DIMS
    assert posterior["sigma_connection"].attrs["units"] == "log10(um^3)"
    derived = tree[DERIVED_GROUP]
    np.testing.assert_array_equal(derived[dims.SYNAPSE].values, data[dims.SYNAPSE].values)
    assert np.all((derived[P_LARGE].values >= 0) & (derived[P_LARGE].values <= 1))
    summary = model.summarize(tree)
    expected = {"phi", "phi_m2", "phi_m3plus", "beta_m2", "beta_m3plus", "p_SS", "p_LL"}
    assert expected | {"sigma_connection", "p_large_m2", "p_large_m3plus"} <= set(
        summary["parameters"]
    )
    assert 0.0 <= summary["state_dependence"]["P(beta_m2>0)"] <= 1.0
    assert summary["connections"]["connections_by_multiplicity"] == {
        "1": 150,
        "2": 60,
        "3": 12,
        "4": 3,
    }
    assert summary["state_comparison"] is None and summary["effect_comparison"] is None
    # Implied priors of the reported quantities sit beside their posteriors.
    assert tree["prior"]["phi"].sizes[dims.DRAW] == 2000
    assert {"phi", "beta_m2", "phi_m3plus", "p_SS"} <= set(summary["prior"])
    assert summary["prior"]["beta_m2"]["mean"] == pytest.approx(0.0, abs=0.2)  # symmetric
    assert summary["prior"]["beta_m2"]["sd"] == pytest.approx(2.0, abs=0.2)
    json.dumps(summary)
    sections = model_sections(model, tree)
    assert [s.title for s in sections] == [
        "Fitted mixture components",
        "State association within connections",
        "Posterior state probabilities",
    ]
    assert "implied prior" in sections[1].body_html


def test_independent_state_model_has_no_association():
    data, _ = simulate_exchangeable_connections(
        {1: 20, 2: 10, 3: 3}, alpha={"m2": -1.0, "m3plus": 0.0}, beta={"m2": 0, "m3plus": 0}
    )
    model = PairedMixture(PLAIN | {"independent_states": True}).build(data)
    assert "phi" not in model.named_vars
    assert "beta" not in {v.name for v in model.free_RVs}
    assert "alpha" in {v.name for v in model.free_RVs}


# -- slow: validation and recovery ----------------------------------------------------------------
def hdi_covers(stats: dict, value: float) -> bool:
    return stats["hdi_low"] <= value <= stats["hdi_high"]


def within_3_sd(stats: dict, value: float) -> bool:
    # Several 94% HDIs checked at once miss by chance; secondary quantities get 3 SDs
    # (seed 41 realises P(large) = 0.327 in pairs for a truth of 0.3).
    return abs(stats["mean"] - value) < 3 * stats["sd"]


@pytest.mark.slow
def test_independent_states_with_multiplicity_trend_give_no_association():
    # P(large) 0.3 in pairs and 0.5 in larger connections, states independent: a single
    # state table would report phi > 0; the grouped exact model must not.
    data, truth = simulate_exchangeable_connections(
        {1: 1500, 2: 600, 3: 150, 4: 40},
        alpha={"m2": float(np.log(0.3 / 0.7)), "m3plus": 0.0},
        beta={"m2": 0.0, "m3plus": 0.0},
        sigma_connection=0.05,
        random_seed=41,
    )
    model = PairedMixture({"effect_comparison": False})
    summary = model.summarize(model.fit(data, quiet(draws=1000, tune=1000, random_seed=41)))
    params = summary["parameters"]
    for name in ("beta_m2", "beta_m3plus", "phi", "phi_m2", "phi_m3plus"):
        assert hdi_covers(params[name], 0.0), (name, params[name])
    for name in ("p_large_m2", "p_large_m3plus"):
        assert within_3_sd(params[name], truth[name]), (name, params[name], truth[name])
    comparison = summary["state_comparison"]
    assert comparison["elpd_diff"] < 4 * comparison["se_diff"] + 2


@pytest.mark.slow
def test_shared_states_are_recovered_with_the_analog_effect():
    alpha, beta = alpha_beta_of_table(*joint_state_table(0.3, 0.4))
    data, truth = simulate_exchangeable_connections(
        # 2000 dual connections: with 600 (seed 42) beta_m2 was 1.29 [0.73, 1.77] for a
        # truth of 1.84 (realised phi 0.39), and LOO preferred association by 3.4 SE only.
        {1: 1000, 2: 2000, 3: 300, 4: 60},
        alpha={"m2": alpha, "m3plus": alpha + 0.5},
        beta={"m2": beta, "m3plus": beta},
        sigma_connection=0.08,
        random_seed=42,
    )
    model = PairedMixture()
    tree = model.fit(data, quiet(draws=1000, tune=1000, random_seed=42))
    summary = model.summarize(tree)
    print(json.dumps(summary, indent=1))
    titles = [s.title for s in model_sections(model, tree)]
    assert titles[-2:] == [
        "Associated vs independent states",
        "State association with and without the shared analog effect",
    ]
    params = summary["parameters"]
    for name in ("beta_m2", "phi_m2"):
        assert hdi_covers(params[name], truth[name]), (name, params[name], truth[name])
    for name in ("beta_m3plus", "phi", "sigma_connection", "mu_small"):
        assert within_3_sd(params[name], truth[name]), (name, params[name], truth[name])
    assert summary["state_dependence"]["P(phi>0)"] > 0.99
    assert summary["state_comparison"]["preferred"] == "associated"
    both = summary["with_and_without_connection_effect"]
    assert set(both) == {"with_effect", "without_effect"}
    # Without the analog effect, the offsets shared by a connection read as shared states.
    assert both["without_effect"]["phi"]["mean"] >= both["with_effect"]["phi"]["mean"] - 0.05


@pytest.mark.slow
def test_microns_dual_connections_share_states(shared_data):
    # Dorkenwald et al. 2022 Table 3: the states of the two synapses of dual connections
    # are associated. Checked on the fit without the analog effect (their model) and
    # reported with it.
    data = read_ssem(shared_data(*MICRONS))
    model = PairedMixture()
    tree = model.fit(data, quiet(draws=1000, tune=1000, chains=2, random_seed=2022))
    summary = model.summarize(tree)
    print(json.dumps(summary, indent=1))  # the values are quoted in the report to the user
    without = summary["with_and_without_connection_effect"]["without_effect"]
    assert without["phi_m2"]["hdi_low"] > 0
    assert summary["effect_comparison"]["other_fit"]["beta_m2"]["hdi_low"] > 0


def test_pairs_of_a_connection_are_counted_once():
    # Every unordered pair within a connection is listed once (for the plots).
    connection = np.repeat(np.arange(5), [1, 2, 3, 4, 5])
    layout = ConnectionLayout(connection, include_singles=True)
    expected = sum(len(list(combinations(range(m), 2))) for m in range(1, 6))
    assert len(layout.pair_i) == expected
