"""Tests of the synaptic-precision model (CV within connections, distinguishable sizes, bits).

Tiers: fast unit tests (Bartol et al. 2015's arithmetic, helpers, configuration), a smoke
fit checking dims, labels and the prior group, the MICrONS dual-connection fit, and a
``slow`` recovery fit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import read_ssem
from spinefit.models import get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.models.precision import (
    BARTOL_CV,
    BARTOL_RANGE,
    SynapticPrecision,
    bits_of,
    distinguishable_sizes,
    empirical_pair_cv,
    lognormal_cv,
)
from spinefit.report.registry import model_sections
from spinefit.simulate.mixtures import simulate_mixture
from spinefit.simulate.variance import simulate_shared_snapshot
from spinefit.stats import sampler_diagnostics

MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")


def quick(seed: int = 1, draws: int = 200, chains: int = 2) -> SamplerSettings:
    return SamplerSettings(
        draws=draws,
        tune=draws,
        chains=chains,
        random_seed=seed,
        sampler="nutpie",
        progressbar=False,
        ess_target=0,  # fixed draw counts: these tests check dims and recovery, not ESS
    )


# -- fast ------------------------------------------------------------------------------------
def test_reproduces_bartol_arithmetic():
    # Bartol et al. 2015: CV 0.083 over a 60-fold range -> about 26 sizes, 4.7 bits.
    n_sizes = distinguishable_sizes(BARTOL_CV, BARTOL_RANGE, z=1.0)
    assert 26.0 <= n_sizes < 27.0
    assert bits_of(n_sizes) == pytest.approx(4.7, abs=0.05)
    # Halving the CV roughly doubles N (one more bit).
    assert bits_of(distinguishable_sizes(BARTOL_CV / 2, BARTOL_RANGE)) == pytest.approx(
        bits_of(n_sizes) + 1.0, abs=0.15
    )


def test_lognormal_cv_and_empirical_pair_cv():
    assert lognormal_cv(0.083) == pytest.approx(0.083, rel=0.01)
    assert lognormal_cv(np.array([0.5]))[0] == pytest.approx(np.sqrt(np.exp(0.25) - 1))
    sizes = np.array([1.0, 3.0, 2.0, 2.0, 5.0])
    connection = np.array(["a", "a", "b", "b", "c"])
    out = empirical_pair_cv(sizes, connection)
    assert out["pairs"] == 2
    # Pair (1, 3): SD (n - 1) = sqrt(2), mean 2 -> CV 0.7071; pair (2, 2): 0.
    assert out["mean"] == pytest.approx(np.sqrt(2) / 4)


def test_config_selection_and_errors():
    assert get_model_class("precision") is SynapticPrecision
    with pytest.raises(ConfigError, match="multiplicity"):
        SynapticPrecision({"multiplicity": "3"})
    with pytest.raises(ConfigError, match="size_range"):
        SynapticPrecision({"size_range": 0.5})
    data, _ = simulate_shared_snapshot(connection_shared_fraction=0.5, n_connections=50)
    multiplicity = data["multiplicity"].values
    dual = SynapticPrecision().selection(data)
    assert set(multiplicity[dual]) == {2}
    every = SynapticPrecision({"multiplicity": "all"}).selection(data)
    assert set(multiplicity[every]) == set(multiplicity[multiplicity >= 2])
    sizes = data["spine_vol_um3"].values
    assert SynapticPrecision().size_range(data) == pytest.approx(sizes.max() / sizes.min())
    assert SynapticPrecision({"size_range": 60}).size_range(data) == 60.0
    singles, _ = simulate_mixture(20, random_seed=1)
    with pytest.raises(DataError, match="two synapses"):
        SynapticPrecision().build(singles)


# -- smoke fit ------------------------------------------------------------------------------
def test_smoke_fit_dims_prior_and_report():
    data, _ = simulate_shared_snapshot(
        connection_shared_fraction=0.6,
        n_connections=120,
        multiplicity_weights=(0.3, 0.7),
        random_seed=3,
    )
    model = SynapticPrecision()
    tree = model.fit(data, quick(seed=3, draws=150))
    posterior = tree["posterior"]
    assert posterior["bits"].dims == dims.SAMPLE_DIMS and posterior["bits"].attrs["units"] == "bit"
    assert tree["observed_data"]["log_size"].dims == (dims.SYNAPSE,)
    assert set(tree["observed_data"][dims.SYNAPSE].values) <= set(data[dims.SYNAPSE].values)
    assert tree["prior"]["cv"].sizes[dims.DRAW] == 2000
    summary = model.summarize(tree)
    assert list(summary["parameters"]) == list(summary["prior"])
    assert summary["data"]["multiplicity"] == "2" and summary["data"]["z"] == 1.0
    log_lik, labels = model.pointwise_log_likelihood(tree)
    assert log_lik.shape == (300, summary["data"]["connections"]) == (300, len(labels))
    json.dumps(summary)
    section = model_sections(model, tree)[0]
    assert section.title == "Synaptic precision" and "implied prior" in section.body_html


# -- real data -------------------------------------------------------------------------------
def test_microns_dual_connections(shared_data):
    data = read_ssem(shared_data(*MICRONS))
    model = SynapticPrecision()
    tree = model.fit(data, quick(seed=2015, draws=1000))
    summary = model.summarize(tree)
    print(json.dumps(summary, indent=1))  # the values are quoted in the report to the user
    assert summary["data"]["synapses"] == 320 and summary["data"]["connections"] == 160
    params = summary["parameters"]
    assert 0.0 < params["cv"]["hdi_low"] < params["cv"]["hdi_high"] < 2.0
    assert params["bits"]["hdi_low"] > 0.0
    # The model CV and the empirical pair CV measure the same spread (pair CV ≈ 0.8 CV
    # for log-normal pairs); they must agree within a factor of two.
    ratio = summary["empirical_pair_cv"]["mean"] / params["cv"]["mean"]
    assert 0.5 < ratio < 1.5
    assert sampler_diagnostics(tree, ["cv", "sigma_connection"])["max_r_hat"] < 1.01


# -- slow: recovery ---------------------------------------------------------------------------
def realised_components(data) -> tuple[float, float]:
    """Model-free within-pair and between-connection SDs of the dual connections' log sizes."""
    y = np.log(data["spine_vol_um3"].values)
    connection, multiplicity = data[dims.CONNECTION].values, data["multiplicity"].values
    index = np.flatnonzero(multiplicity == 2)
    index = index[np.argsort(connection[index], kind="stable")]
    a, b = y[index[0::2]], y[index[1::2]]
    var_within = np.mean((a - b) ** 2) / 2
    return float(np.sqrt(var_within)), float(np.sqrt(max(np.var((a + b) / 2) - var_within / 2, 0)))


@pytest.mark.slow
def test_recovery_coverage_of_the_within_connection_cv():
    # 94% HDIs of CV and sigma_connection over 2 fractions x 4 seeds: about 1 miss
    # expected of 16, more than 3 has P < 0.02. A first version reused seeds 3-6 for both
    # fractions, so one extreme realisation counted twice: seed 3 realises a within-pair
    # variance 2 sampling SDs low, seed 5 a between-connection SD 0.41 for 0.49; the fits
    # followed the data (4 misses of 16, all from those two realisations). Seeds are now
    # distinct, and every fit is also checked against the model-free estimates.
    misses = []
    for fraction, seeds in ((0.3, (11, 12, 13, 14)), (0.8, (21, 22, 23, 24))):
        for seed in seeds:
            data, truth = simulate_shared_snapshot(
                connection_shared_fraction=fraction,
                n_connections=400,
                multiplicity_weights=(0.2, 0.8),
                var_within=0.3,
                random_seed=seed,
            )
            model = SynapticPrecision()
            params = model.summarize(model.fit(data, quick(seed=7, draws=1000)))["parameters"]
            truths = {
                "cv": float(lognormal_cv(np.sqrt(truth["var_synapse"]))),
                "sigma_connection": float(np.sqrt(truth["var_connection"])),
            }
            for name, value in truths.items():
                stats = params[name]
                if not stats["hdi_low"] <= value <= stats["hdi_high"]:
                    misses.append((name, fraction, seed, stats["mean"], value))
            within, between = realised_components(data)
            realised = {"cv": float(lognormal_cv(within)), "sigma_connection": between}
            for name, value in realised.items():
                assert abs(params[name]["mean"] - value) < 2 * params[name]["sd"], (
                    name,
                    seed,
                    params[name],
                    value,
                )
    print(f"precision recovery: {len(misses)} of 16 HDIs miss the truth: {misses}")
    assert len(misses) <= 3, misses
