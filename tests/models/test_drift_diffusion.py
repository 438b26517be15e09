"""Drift–diffusion model: specification, smoke fit, recovery and real data."""

import json

import numpy as np
import pytest

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.results import load_result
from spinefit.models.base import SamplerSettings
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.summary import summarize

# -- specification, no MCMC -----------------------------------------------------------------


def test_build_names_and_dims(small_timeseries):
    data, _ = small_timeseries
    model = DriftDiffusion().build(data)
    free = {rv.name for rv in model.free_RVs}
    assert free == {"a", "b", "c", "d", "formation_per_day", "elimination_per_day"}
    assert dims.TRANSITION in model.coords
    assert model.named_vars_to_dims["w_end"] == (dims.TRANSITION,)


def test_power_family_adds_exponents(small_timeseries):
    data, _ = small_timeseries
    model = DriftDiffusion({"family": "power"}).build(data)
    assert {"beta", "gamma"} <= {rv.name for rv in model.free_RVs}


def test_unknown_family_and_option_are_config_errors():
    with pytest.raises(ConfigError, match="family"):
        DriftDiffusion({"family": "spline9"})
    with pytest.raises(ConfigError, match="no option"):
        DriftDiffusion({"familly": "linear"})


def test_too_few_transitions_is_a_data_error(small_timeseries):
    data, _ = small_timeseries
    tiny = data.isel(spine=slice(0, 1), session=slice(0, 2))
    with pytest.raises(DataError, match="transitions"):
        DriftDiffusion().build(tiny)


def test_pooling_needs_animal_ids(small_timeseries):
    data, _ = small_timeseries
    with pytest.raises(ConfigError, match="animal_id"):
        DriftDiffusion({"pool_animals": True}).build(
            data.drop_vars(dims.ANIMAL_ID, errors="ignore")
        )


def test_unfitted_model_says_what_to_run_first():
    with pytest.raises(Exception, match=r"call \.fit\(\) first"):
        DriftDiffusion().require_result()


# -- smoke fit (shared small result) ----------------------------------------------------------


def test_result_groups_and_provenance(small_fit_path):
    tree = load_result(small_fit_path)
    assert {"posterior", "sample_stats", "observed_data", "data"} <= set(tree.children)
    assert tree.attrs["spinefit_model"] == "drift-diffusion"
    assert json.loads(tree.attrs["spinefit_config"])["family"] == "linear"
    assert tree.attrs["random_seed"] == 5
    assert tree.attrs["input_hash"].startswith("sha256:")
    assert tree["posterior"]["a"].dims == ("chain", "draw")
    assert tree["data"][dims.VOLUME].dims == (dims.SPINE, dims.SESSION)


def test_summary_schema(small_fit_path):
    summary = summarize(load_result(small_fit_path))
    assert summary["model"] == "drift-diffusion"
    for name in "abcd":
        assert set(summary["parameters"][name]) == {
            "mean",
            "sd",
            "hdi_low",
            "hdi_high",
            "r_hat",
            "ess_bulk",
        }
    for curve in ("drift", "diffusion"):
        c = summary["curves"][curve]
        assert len(c["w"]) == len(c["mean"]) == len(c["hdi_low"]) == 50
        assert all(
            lo <= m <= hi for lo, m, hi in zip(c["hdi_low"], c["mean"], c["hdi_high"], strict=True)
        )
    assert summary["curves"]["drift"]["units"].endswith("/day")
    assert set(summary["turnover"]) >= {"formation_per_day", "elimination_per_day"}
    assert set(summary["diagnostics"]) >= {"divergences", "max_r_hat", "min_ess_bulk"}
    assert summary["data"]["transitions"] > 0
    json.dumps(summary)  # standard JSON, no NaN


def test_summary_on_custom_grid(small_fit_path):
    summary = summarize(load_result(small_fit_path), grid=[0.5, 1.0, 2.0])
    assert summary["curves"]["diffusion"]["w"] == [0.5, 1.0, 2.0]


# -- recovery (slow) ---------------------------------------------------------------------------

IRREGULAR_DAYS = (0, 2, 4, 7, 10, 14, 18, 21)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_drift_and_diffusion_with_irregular_sampling(seed):
    """Fine-step SDE (dt = 0.01 d), irregular sessions: truth inside the 94% bands."""
    from spinefit.simulate.synthetic import simulate_time_series

    truth = {"a": 0.1, "b": -0.1, "c": 0.01, "d": 0.04, "threshold": 0.05}
    data, truth = simulate_time_series(
        truth, n_spines=800, times_days=IRREGULAR_DAYS, random_seed=seed, dt=0.01
    )
    tree = DriftDiffusion().fit(
        data, SamplerSettings(draws=1000, tune=1000, random_seed=seed, progressbar=False)
    )
    grid = list(np.linspace(0.3, 2.5, 12))
    summary = summarize(tree, grid=grid)
    w = np.asarray(grid)
    true_curves = {
        "drift": truth["a"] + truth["b"] * w,
        "diffusion": np.sqrt(truth["c"] + truth["d"] * w**2),
    }
    for name, expected in true_curves.items():
        c = summary["curves"][name]
        inside = (np.asarray(c["hdi_low"]) <= expected) & (expected <= np.asarray(c["hdi_high"]))
        assert inside.all(), f"{name}: truth outside the 94% band at w={w[~inside]}"
    assert summary["diagnostics"]["max_r_hat"] < 1.01


# -- real data --------------------------------------------------------------------------------


def test_melander_pyramidal_fit(shared_data):
    from spinefit.io.two_photon import read_two_photon

    data = read_two_photon(
        shared_data("melander2021", "quantile_4060_pyr.npy"),
        interval_days=4,
        dendrite_map=shared_data("melander2021", "pyr_map.npy"),
    )
    tree = DriftDiffusion().fit(
        data, SamplerSettings(draws=1000, tune=1000, random_seed=1, progressbar=False)
    )
    summary = summarize(tree)
    diag = summary["diagnostics"]
    assert diag["max_r_hat"] < 1.01
    assert diag["divergences"] == 0
    assert summary["parameters"]["d"]["hdi_low"] > 0
    assert summary["parameters"]["b"]["hdi_high"] < 0, summary["parameters"]["b"]
