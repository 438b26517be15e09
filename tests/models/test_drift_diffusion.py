"""Drift–diffusion model: specification, smoke fit, recovery and real data."""

import json

import numpy as np
import pytest

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.models.base import SamplerSettings
from spinefit.models.drift_diffusion import PRIOR_SCALE_KEYS, DriftDiffusion, prior_scales_of
from spinefit.results import load_result
from spinefit.summary import summarize

# -- specification, no MCMC -----------------------------------------------------------------


def test_build_names_and_dims(small_timeseries):
    data, _ = small_timeseries
    model = DriftDiffusion({"likelihood": "moments"}).build(data)
    free = {rv.name for rv in model.free_RVs}
    assert free == {"a", "b", "c", "d", "formation_per_day", "elimination_per_day"}
    assert dims.TRANSITION in model.coords
    assert model.named_vars_to_dims["w_end"] == (dims.TRANSITION,)


def test_latent_is_the_default_and_estimates_threshold_and_noise(small_timeseries):
    data, _ = small_timeseries
    model = DriftDiffusion().build(data)
    free = {rv.name for rv in model.free_RVs}
    assert free == {
        "a_scaled",
        "b",
        "c_scaled",
        "d",
        "threshold_log_offset",
        "measurement_cv",
        "birth_log_mean",
        "birth_log_sd",
        "formation_per_day",
        "loss_per_day",
    }
    derived = {v.name for v in model.deterministics}
    assert {"a", "c", "detection_threshold", "elimination_per_day"} <= derived
    assert "threshold_elimination_share" in derived


def test_fixed_threshold_and_noise_are_not_sampled(small_timeseries):
    data, _ = small_timeseries
    model = DriftDiffusion({"detection_threshold": 0.08, "measurement_cv": 0.1}).build(data)
    free = {rv.name for rv in model.free_RVs}
    assert "threshold_log_offset" not in free and "measurement_cv" not in free
    threshold = model.compile_fn(
        model["detection_threshold"], inputs=model.value_vars, on_unused_input="ignore"
    )
    assert float(threshold(model.initial_point())) == pytest.approx(0.08)


@pytest.mark.parametrize("value", ["abc", -1, 0])
def test_bad_latent_options_are_config_errors(value):
    with pytest.raises(ConfigError, match="detection_threshold"):
        DriftDiffusion({"detection_threshold": value})
    with pytest.raises(ConfigError, match="likelihood"):
        DriftDiffusion({"likelihood": "exact"})


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"prior_scales": "size=1"}, "JSON object with the keys"),
        ({"prior_scales": {"size": 1.0}}, "JSON object with the keys"),
        (
            {"prior_scales": dict.fromkeys(PRIOR_SCALE_KEYS, 1.0) | {"interval": -2}},
            "interval must be a positive number",
        ),
        (
            {"likelihood": "moments", "prior_scales": dict.fromkeys(PRIOR_SCALE_KEYS, 1.0)},
            "needs the latent likelihood",
        ),
    ],
)
def test_bad_prior_scales_are_config_errors(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        DriftDiffusion(config)


def test_prior_scales_give_another_data_sets_prior(small_timeseries):
    """With another data set's prior scales (same volume units), the prior is that data set's."""
    data, _ = small_timeseries
    other = data.isel(spine=slice(0, 40))
    other[dims.VOLUME] = other[dims.VOLUME] * 1.3
    scales = prior_scales_of(data)
    own = DriftDiffusion().build(data)
    borrowed = DriftDiffusion({"prior_scales": json.dumps(scales)}).build(other)
    plain = DriftDiffusion().build(other)
    rng = np.random.default_rng(1)
    point = {k: v + 0.2 * rng.standard_normal(np.shape(v)) for k, v in own.initial_point().items()}

    def prior(model):
        return model.compile_fn(model.varlogp, point_fn=True)(point)

    assert prior(borrowed) == pytest.approx(prior(own), rel=1e-12)
    assert prior(plain) != pytest.approx(prior(own), rel=1e-3)
    # the likelihood is still the other data's, in the borrowed size unit
    assert borrowed.compile_logp()(point) != pytest.approx(own.compile_logp()(point))


def test_latent_log_density_is_unit_equivariant(small_timeseries):
    """Data × 1e4: the same log density at the same (unit-free) point, up to the Jacobian.

    The sampler sees the same target in both cases, so b and d are identical and a, c
    scale by 1e4 and 1e8 (draw for draw, with the same seed).
    """
    data, _ = small_timeseries
    big = data.copy()
    big[dims.VOLUME] = data[dims.VOLUME] * 1e4
    small_model = DriftDiffusion().build(data)
    big_model = DriftDiffusion().build(big)
    point = small_model.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
    small_logp = small_model.compile_logp()(point)
    big_logp = big_model.compile_logp()(point)
    present = np.isfinite(data.sortby(dims.TIME_DAYS)[dims.VOLUME].values)
    # Sizes at the first session are conditioned on; every later size is scored.
    scored = present.sum() - present[:, 0].sum()
    assert big_logp - small_logp == pytest.approx(-scored * np.log(1e4), rel=1e-9)
    a_small = small_model["a"].eval({small_model["a_scaled"]: point["a_scaled"]})
    a_big = big_model["a"].eval({big_model["a_scaled"]: point["a_scaled"]})
    assert float(a_big) == pytest.approx(1e4 * float(a_small), rel=1e-12)


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
    with pytest.raises(ConfigError, match="moments"):
        DriftDiffusion({"pool_animals": True})  # the latent model nests animals in conditions
    with pytest.raises(ConfigError, match="animal_id"):
        DriftDiffusion({"pool_animals": True, "likelihood": "moments"}).build(
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


def test_the_default_fit_records_the_grid_it_chose(small_fit_path):
    """This noise-free panel's pilot asks for more than 48 nodes; the fit says so."""
    tree = load_result(small_fit_path)
    points = json.loads(tree.attrs["spinefit_config"])["grid_points"]
    assert isinstance(points, int) and points % 8 == 0
    notes = json.loads(tree.attrs["sampling_notes"])
    assert (points > 48) == any(f"re-fitted on {points}" in note for note in notes)
    assert not DriftDiffusion.from_result(tree).result_warnings(tree)


def test_auto_grid_refines_when_the_pilot_finds_no_noise(small_timeseries):
    """τ fixed at 0: the emission SD is the 0.02 floor, so cells must be ≤ 0.04 wide."""
    data, _ = small_timeseries
    model = DriftDiffusion({"measurement_cv": 0.0})
    settings = SamplerSettings(
        draws=100, tune=100, chains=2, random_seed=2, progressbar=False, ess_target=0
    )
    tree = model.fit(data, settings)
    points = json.loads(tree.attrs["spinefit_config"])["grid_points"]
    assert points == model.config["grid_points"] and points % 8 == 0
    top = float(data[dims.VOLUME].max()) * np.exp(0.7)
    theta = float(tree["posterior"]["detection_threshold"].median())
    assert np.log(top / theta) / points == pytest.approx(0.04, rel=0.15)
    notes = json.loads(tree.attrs["sampling_notes"])
    assert any(f"re-fitted on {points}" in note for note in notes)
    assert not model.result_warnings(tree)


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
    """Fine-step SDE (dt = 0.01 d), irregular sessions, no noise: truth inside the 94%
    bands, or the fit says that τ sits at the grid's resolution (the cell width acts as
    noise; at G = 48 seed 1's drift band missed at w 0.3–0.7 and seed 2's σ band above
    w = 0.7, with τ at h/√12). A biased result must not look like a clean one."""
    from spinefit.models.grid_resolution import latent_grid_warnings
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
    misses = []
    for name, expected in true_curves.items():
        c = summary["curves"][name]
        inside = (np.asarray(c["hdi_low"]) <= expected) & (expected <= np.asarray(c["hdi_high"]))
        misses += (
            [f"{name}: truth outside the 94% band at w={w[~inside]}"] if not inside.all() else []
        )
    warned = latent_grid_warnings(tree, DriftDiffusion.from_result(tree).config)
    assert not misses or warned, misses
    assert summary["diagnostics"]["max_r_hat"] < 1.01


# -- real data --------------------------------------------------------------------------------


def test_melander_pyramidal_fit(shared_data):
    from spinefit.io.two_photon import read_two_photon

    data = read_two_photon(
        shared_data("melander2021", "quantile_4060_pyr.npy"),
        interval_days=4,
        dendrite_map=shared_data("melander2021", "pyr_map.npy"),
    )
    tree = DriftDiffusion({"likelihood": "moments"}).fit(
        data, SamplerSettings(draws=1000, tune=1000, random_seed=1, progressbar=False)
    )
    summary = summarize(tree)
    diag = summary["diagnostics"]
    assert diag["max_r_hat"] < 1.01
    assert diag["divergences"] == 0
    assert summary["parameters"]["d"]["hdi_low"] > 0
    assert summary["parameters"]["b"]["hdi_high"] < 0, summary["parameters"]["b"]


@pytest.mark.parametrize(
    ("likelihood", "counts", "expected", "dispersion"),
    [
        ("moments", "poisson", "moments", None),
        ("moments", "overdispersed", "moments", "beta-binomial eliminations"),
        ("latent", "poisson", "latent", None),
        ("latent", "overdispersed", "latent", "negative-binomial formations"),
    ],
)
def test_describe_names_the_likelihood_and_the_count_model(
    likelihood, counts, expected, dispersion
):
    text = DriftDiffusion({"likelihood": likelihood, "turnover_counts": counts}).describe()
    assert text["likelihood"].startswith(rf"\text{{{expected}: ")
    if dispersion:
        assert dispersion in text["priors"]
    else:
        assert "overdispersed" not in text["priors"]


def test_grid_top_sets_the_reflecting_top_of_fit_check_and_report(small_timeseries):
    from spinefit.models.latent_likelihood import prepare_for_config

    data, _ = small_timeseries
    model = DriftDiffusion({"grid_top": "12.5"})
    ld = prepare_for_config(data, model.config)
    assert np.exp(ld.log_top) * ld.scale == pytest.approx(12.5)
    default = prepare_for_config(data, DriftDiffusion().config)
    assert default.log_top != pytest.approx(ld.log_top)
    for bad in ("x", -1):
        with pytest.raises(ConfigError, match="grid_top must be a positive size"):
            DriftDiffusion({"grid_top": bad})
    with pytest.raises(ConfigError, match="grid_top needs the latent likelihood"):
        DriftDiffusion({"likelihood": "moments", "grid_top": 3.0})
