"""Simulation-based calibration: rank statistics, simulators, the run and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from spinefit.calibration.ranks import (
    choose_bins,
    coverage,
    parameter_table,
    rank_statistic,
    rank_uniformity,
    thin,
)

L = 99


def fake_records(n, rng, width=1.0, shift=0.0, n_draws=400):
    """SBC records of a conjugate normal model with exact (or distorted) posteriors.

    θ ~ N(0, 1), y ~ N(θ, 0.5²): the posterior is N(0.8 y, 0.2). ``width`` scales its SD
    and ``shift`` moves it by that many posterior SDs, to make it miscalibrated.
    """
    records = []
    for _ in range(n):
        theta = rng.normal()
        y = rng.normal(theta, 0.5)
        sd = np.sqrt(0.2)
        draws = rng.normal(0.8 * y + shift * sd, width * sd, n_draws)
        covered = {}
        for label, p in (("50", 0.5), ("94", 0.94)):
            low, high = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2])
            covered[label] = {"theta": bool(low <= theta <= high)}
        records.append(
            {"ranks": {"theta": rank_statistic(theta, thin(draws, L), rng)}, "covered": covered}
        )
    return records


@pytest.mark.fast
def test_thin_keeps_l_equally_spaced_draws_over_all_chains():
    draws = np.arange(1000.0).reshape(2, 500)
    kept = thin(draws, 99)
    assert kept.size == 99 and kept[0] == 0 and kept[-1] == 999
    assert np.all(np.diff(kept) >= 10)
    with pytest.raises(ValueError, match="cannot be thinned"):
        thin(np.arange(50.0), 99)


@pytest.mark.fast
def test_rank_statistic_counts_draws_below_and_splits_ties(rng):
    draws = np.arange(10.0)
    assert rank_statistic(-1.0, draws, rng) == 0
    assert rank_statistic(100.0, draws, rng) == 10
    assert rank_statistic(4.5, draws, rng) == 5
    tied = {rank_statistic(1.0, np.ones(4), rng) for _ in range(200)}
    assert tied == {0, 1, 2, 3, 4}


@pytest.mark.fast
def test_bins_divide_the_rank_values_and_keep_five_expected_per_bin():
    assert choose_bins(200, 99) == 20
    assert choose_bins(50, 99) == 10
    assert choose_bins(3, 99) == 2
    assert 100 % choose_bins(37, 99) == 0


@pytest.mark.fast
def test_calibrated_posteriors_give_uniform_ranks_and_nominal_coverage(rng):
    table = parameter_table(fake_records(400, rng), L)
    entry = table["parameters"]["theta"]
    assert entry["rank_uniformity"]["p_value"] > 0.01
    assert sum(entry["rank_uniformity"]["counts"]) == 400
    assert entry["coverage"]["94"]["within"] and entry["coverage"]["50"]["within"]
    assert table["failing"] == [] and table["coverage_outside"] == []


@pytest.mark.fast
@pytest.mark.parametrize(
    ("width", "shift", "what"),
    [(0.5, 0.0, "too narrow"), (1.0, 1.0, "shifted"), (2.0, 0.0, "too wide")],
)
def test_miscalibrated_posteriors_fail_the_check(rng, width, shift, what):
    table = parameter_table(fake_records(400, rng, width=width, shift=shift), L)
    ranks = table["parameters"]["theta"]["rank_uniformity"]
    assert ranks["p_value"] < 1e-6, what
    assert table["failing"] == ["theta"]
    if width < 1:  # too narrow: U-shaped ranks, intervals cover too rarely
        counts = ranks["counts"]
        assert counts[0] + counts[-1] > 4 * np.mean(counts)
        assert table["parameters"]["theta"]["coverage"]["94"]["coverage"] < 0.85
        assert table["coverage_outside"] == ["theta"]


@pytest.mark.fast
def test_coverage_interval_and_binomial_range():
    summary = coverage([True] * 94 + [False] * 6, 0.94)
    assert summary["coverage"] == pytest.approx(0.94)
    assert summary["ci_low"] < 0.94 < summary["ci_high"]
    assert summary["expected_low"] < 0.94 < summary["expected_high"]
    assert summary["within"] and summary["p_value"] > 0.5
    low = coverage([True] * 70 + [False] * 30, 0.94)
    assert not low["within"] and low["p_value"] < 1e-6


@pytest.mark.fast
def test_uniformity_of_too_few_ranks_is_not_judged():
    assert np.isnan(rank_uniformity([3], L)["p_value"])


# -- simulators -------------------------------------------------------------------------------
@pytest.mark.fast
def test_unknown_simulator_is_a_config_error():
    from spinefit.calibration.simulators import simulator_for, simulator_names
    from spinefit.errors import ConfigError

    assert {"mixture", "variance-split", "drift-diffusion"} <= set(simulator_names())
    with pytest.raises(ConfigError, match="no calibration simulator"):
        simulator_for("precision")


@pytest.mark.fast
def test_mixture_simulation_is_the_models_data_and_matches_its_truth():
    from spinefit.calibration.simulators import simulate_mixture_replicate
    from spinefit.models.mixture import Mixture
    from spinefit.models.mixture_likelihood import log10_sizes, pointwise_loglik

    sim = simulate_mixture_replicate(5, n_synapses=5000)
    model = Mixture(sim.config)
    model.check_data(sim.data)
    y = log10_sizes(sim.data, "spine_vol_um3")
    assert y.size == 5000
    assert set(sim.truth) == {"mu_small", "mu_large", "sigma_small", "sigma_large", "weight_large"}
    assert sim.truth["mu_small"] < sim.truth["mu_large"]
    assert sim.config["prior_scales"] == {"mean": pytest.approx(-1.0), "sd": pytest.approx(0.3)}
    # the approximate mode keeps only data sets whose mean and SD match the template's
    approximate = simulate_mixture_replicate(5, n_synapses=300, tolerance=0.05, exact=False)
    assert max(abs(v) for v in approximate.notes["mismatch"].values()) <= 0.05
    assert "prior_scales" not in approximate.config
    # The sizes follow the drawn mixture: its mean and SD within 4 standard errors.
    w = np.array([1 - sim.truth["weight_large"], sim.truth["weight_large"]])
    mu = np.array([sim.truth["mu_small"], sim.truth["mu_large"]])
    sigma = np.array([sim.truth["sigma_small"], sim.truth["sigma_large"]])
    mean = w @ mu
    sd = np.sqrt(w @ (sigma**2 + mu**2) - mean**2)
    assert abs(y.mean() - mean) < 4 * sd / np.sqrt(y.size)
    assert abs(y.std() / sd - 1) < 4 / np.sqrt(2 * y.size) + 0.02
    # The model's own (numpy) likelihood prefers the truth to nearby values.
    truth = mu[None, :], sigma[None, :], w[None, :]
    best = pointwise_loglik(y, *truth).sum()
    se = 0.5 * sd / np.sqrt(y.size) * 10
    for shifted in (mu + se, mu - se):
        assert pointwise_loglik(y, shifted[None, :], sigma[None, :], w[None, :]).sum() < best
    for scaled in (0.9 * sigma, 1.1 * sigma):
        assert pointwise_loglik(y, mu[None, :], scaled[None, :], w[None, :]).sum() < best


@pytest.mark.fast
def test_variance_split_simulation_is_the_models_data_with_its_correlations():
    from spinefit.calibration.simulators import (
        VARIANCE_CHECKED,
        simulate_variance_split_replicate,
    )
    from spinefit.models.variance_split import VarianceSplit, empirical_pair_correlations

    sim = simulate_variance_split_replicate(2, n_connections=6000, n_pre=300, n_post=600)
    model = VarianceSplit(sim.config)
    model.check_data(sim.data)
    assert model.uses_baselines(sim.data)
    assert set(sim.truth) == set(VARIANCE_CHECKED)
    y = np.log(sim.data["spine_vol_um3"].values)
    pairs = empirical_pair_correlations(
        y, sim.data["connection"].values, sim.data["pre_id"].values, sim.data["post_id"].values
    )
    assert pairs["commonly_innervated"]["r"] == pytest.approx(
        sim.truth["corr_commonly_innervated"], abs=0.1
    )
    assert pairs["same_axon"]["r"] == pytest.approx(sim.truth["corr_same_axon"], abs=0.1)


def _templates():
    """The template data set each simulator draws its truth from, and the model config."""
    from spinefit.calibration.simulators import (
        MIXTURE_CENTRE,
        MIXTURE_SCALE,
        VARIANCE_CENTRE,
        VARIANCE_SCALE,
        _snapshot,
        _standardised,
        variance_layout,
    )
    from spinefit.simulate.synthetic import simulate_time_series

    ids = np.arange(300)
    mixture = _snapshot(MIXTURE_CENTRE + MIXTURE_SCALE * _standardised(300), ids, ids + 10**5, "t")
    connection, pre, post = variance_layout(150, 20, 40)
    log_template = VARIANCE_CENTRE + VARIANCE_SCALE * _standardised(connection.size)
    variance = _snapshot(log_template / np.log(10.0), pre + 1000, post + 100_000, "t")
    series, _ = simulate_time_series(
        n_spines=80, times_days=4.0 * np.arange(6), random_seed=0, measurement_cv=0.1
    )
    return {
        "mixture": (mixture, {"n_components": 2, "binned": False, "component_comparison": False}),
        "variance-split": (variance, {"baselines": "on"}),
        "drift-diffusion": (series, {"family": "linear"}),
    }


@pytest.mark.fast
@pytest.mark.parametrize("name", ["mixture", "variance-split", "drift-diffusion"])
def test_replicates_are_fitted_with_the_prior_they_were_drawn_from(name):
    """Exact SBC: the fit's prior density equals the template model's, which drew the truth."""
    from spinefit.calibration.simulators import simulator_for
    from spinefit.models import get_model_class

    sim = simulator_for(name)(3)
    template, config = _templates()[name]
    model_class = get_model_class(name)
    drawn_from = model_class(config).build(template)
    fitted = model_class(sim.config).build(sim.data)
    rng = np.random.default_rng(0)
    point = drawn_from.initial_point()
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
    point = {k: np.sort(v) if k.startswith("mu_std") else v for k, v in point.items()}

    def prior(model):
        """Prior log density and the parameters in data units at the same point."""
        # Elimination rates are computed on the fit's grid, whose top follows the data.
        grid = {"elimination_per_day", "threshold_elimination_share"}
        names = [v.name for v in model.deterministics if v.name not in grid]
        outs = [model.varlogp, *model.replace_rvs_by_values([model[n] for n in names])]
        values = model.compile_fn(outs, point_fn=True)(point)
        return np.concatenate([np.ravel(v) for v in values])

    assert prior(fitted) == pytest.approx(prior(drawn_from), rel=1e-10)
    # a fit with the data's own scales has another prior (the approximate mode's)
    own = model_class({k: v for k, v in sim.config.items() if k != "prior_scales"})
    assert not np.allclose(prior(own.build(sim.data)), prior(drawn_from), rtol=1e-6)


@pytest.mark.fast
def test_latent_chain_turnover_matches_the_models_own_rates():
    from spinefit.calibration.simulators import simulate_latent_chain
    from spinefit.models.killed_grid import NUMPY, grid_operator, lognormal_nodes
    from spinefit.models.latent_likelihood import dynamics

    params = {
        "a_scaled": 0.1,
        "b": -0.1,
        "c_scaled": 0.02,
        "d": 0.03,
        "log_threshold": np.log(0.25),
        "measurement_cv": 0.1,
        "birth_log_mean": np.log(0.4),
        "birth_log_sd": 0.4,
        "formation_per_day": 0.05,
        "loss_per_day": 0.01,
    }
    times = np.array([0.0, 4.0])
    n = 20_000
    volume = simulate_latent_chain(params, times, n, 3.0, np.random.default_rng(3), n_nodes=96)
    op = grid_operator(
        lambda x: 0.1 - 0.1 * x, lambda x: 0.02 + 0.03 * x * x, np.log(0.25), 3.0, 96, 0.01, NUMPY
    )
    dyn = dynamics(op, lognormal_nodes(op, np.log(0.4), 0.4), 0.1)
    initial = dyn.initial * op.delta
    killed = float(initial @ op.killed_within(4.0))
    first = np.isfinite(volume[:, 0])
    assert first.sum() == n
    lost = float(np.mean(~np.isfinite(volume[first, 1])))
    assert lost == pytest.approx(killed, abs=4 * np.sqrt(killed * (1 - killed) / n))
    born = float((op.born_within(dyn.birth, 4.0) * op.delta).sum())
    expected_new = 0.05 * n * 4.0 * born
    assert (~first).sum() == pytest.approx(expected_new, abs=4 * np.sqrt(expected_new))
    # First-session sizes follow the steady state (median within a grid cell or two).
    cdf = np.cumsum(initial)
    model_median = np.exp(op.z[np.searchsorted(cdf, 0.5)])
    assert np.median(volume[first, 0]) == pytest.approx(model_median, rel=0.1)


# -- run and CLI ------------------------------------------------------------------------------
def test_calibrate_smoke_writes_report_json_and_resumes(tmp_path):
    from spinefit.calibration.run import RECORDS_FILE, REPORT_FILE, SUMMARY_FILE, calibrate

    out = tmp_path / "cal"
    options = {
        "out": out,
        "draws": 100,
        "tune": 100,
        "chains": 2,
        "seed": 4,
        "scheduler": "inprocess",
        "progress": False,
        "design": {"n_connections": 60},
    }
    calibrate("variance-split", n=2, **options)
    summary = calibrate("variance-split", n=3, **options)
    for name in (RECORDS_FILE, REPORT_FILE, SUMMARY_FILE):
        assert (out / name).exists()
    records = [json.loads(line) for line in (out / RECORDS_FILE).read_text().splitlines()]
    assert [r["replicate"] for r in records] == [0, 1, 2]
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert saved["replicates_done"] == 3 and summary["replicates_done"] == 3
    for name in ("connection_shared_fraction", "mu", "corr_same_axon"):
        entry = saved["parameters"][name]
        assert 0.0 <= entry["rank_uniformity"]["p_value"] <= 1.0
        assert set(entry["coverage"]) == {"50", "94"}
        assert entry["coverage"]["94"]["n"] == 3
    assert saved["prior_approximation"]["exact"] is True  # fitted with the template's scales
    html = (out / REPORT_FILE).read_text()
    assert "Rank histograms" in html and "<svg" in html
    assert "exact SBC" in html and "not exact SBC" not in html
    # A rerun with the same settings fits nothing and keeps the records.
    again = calibrate("variance-split", n=3, **options)
    assert again["replicates_done"] == 3


@pytest.mark.fast
def test_calibrate_refuses_records_of_another_calibration(tmp_path):
    from spinefit.calibration.run import RECORDS_FILE, calibrate
    from spinefit.errors import ConfigError

    (tmp_path / RECORDS_FILE).write_text(json.dumps({"fingerprint": "other", "replicate": 0}))
    with pytest.raises(ConfigError, match="another calibration"):
        calibrate("mixture", out=tmp_path, n=1, scheduler="inprocess", progress=False)


@pytest.mark.fast
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "mixture", "--n", "0"], "--n must be at least 1"),
        (["--model", "precision"], "no calibration simulator"),
        (["--model", "mixture", "--family", "power"], "takes no --family"),
        (["--model", "mixture", "--draws", "20"], "thinned draws"),
    ],
)
def test_cli_bad_option_is_one_line_exit_2(tmp_path, args, fragment):
    from spinefit.cli import app

    result = CliRunner().invoke(app, ["calibrate", "--out", str(tmp_path / "cal"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output


# -- slow: calibration at n = 40 ---------------------------------------------------------------
def assert_calibrated(summary):
    """No χ² p-value below the Bonferroni threshold; 94% coverage in its binomial range."""
    table = summary["parameters"]
    p_values = {name: entry["rank_uniformity"]["p_value"] for name, entry in table.items()}
    assert summary["failing"] == [], p_values
    assert summary["coverage_outside"] == [], {
        name: entry["coverage"]["94"]["coverage"] for name, entry in table.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "settings"),
    [
        ("mixture", {"draws": 500, "tune": 500}),
        ("variance-split", {"draws": 500, "tune": 500}),
        (
            "drift-diffusion",
            {"draws": 300, "tune": 300, "options": {"grid_points": 32}},
        ),
    ],
)
def test_model_is_calibrated_at_n_40(tmp_path, model, settings):
    from spinefit.calibration.run import calibrate

    summary = calibrate(
        model, out=tmp_path, n=40, seed=1, scheduler="inprocess", progress=False, **settings
    )
    assert summary["replicates_done"] == 40
    assert_calibrated(summary)


@pytest.mark.fast
def test_a_small_calibration_is_not_called_a_pass():
    from spinefit.calibration.run import MIN_REPLICATES_TO_PASS, _verdict

    table = {"failing": [], "coverage_outside": [], "bonferroni_threshold": 0.001}
    assert "too few replicates" in _verdict(table, 5)
    assert _verdict(table, MIN_REPLICATES_TO_PASS).startswith("calibrated at n = ")
    assert _verdict(table | {"failing": ["c"]}, 5).startswith("NOT calibrated")


@pytest.mark.fast
def test_a_calibration_is_exact_only_when_every_fit_had_the_drawn_prior():
    from spinefit.calibration.run import summarise

    def record(i, config):
        return {
            "replicate": i,
            "ranks": {"x": 10 * i},
            "covered": {"50": {"x": True}, "94": {"x": True}},
            "diagnostics": {"max_r_hat": 1.0, "divergences": 0},
            "notes": {"method": "test", "mismatch": {}},
            "fit_seconds": 1.0,
            "config": config,
        }

    identity = {"model": "m", "n_thinned": 99, "seed": 0, "sampler": {}, "design": {}}
    exact = {"prior_scales": {"mean": 0.0, "sd": 1.0}}
    both = summarise([record(0, exact), record(1, exact)], identity | {"options": {}}, [], 2, 1.0)
    mixed = summarise([record(0, exact), record(1, {})], identity | {"options": {}}, [], 2, 1.0)
    assert both["prior_approximation"]["exact"] is True
    assert mixed["prior_approximation"]["exact"] is False
