"""Particle simulator: closed forms, turnover rates, reproducibility and Dataset layout."""

from __future__ import annotations

import hashlib
import json
import math

import numba
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.models.latent_likelihood import gap_cells
from spinefit.simulate import (
    DEFAULT_TRUTH,
    linear_family_curves,
    simulate_particles,
    simulate_paths,
    simulate_time_series,
    stationary_density,
    stationary_elimination_rate,
    write_demo_data,
)

pytestmark = pytest.mark.fast

# Kolmogorov–Smirnov distance between simulated sizes and the stationary CDF. With 40,000
# independent sites the 0.1% critical value is 1.95/200 ~ 0.0098; the rest of the margin
# covers the O(dt) Euler–Maruyama bias at dt = 0.01.
KS_TOLERANCE = 0.015
N_SITES = 40_000

# Observed event counts against their steady-state expectation (~48,000 events in the
# turnover test, Poisson sd ~0.5%; the margin covers the O(dt) discretisation bias).
EVENT_RELATIVE_TOLERANCE = 0.03


def ks_distance(sample: np.ndarray, cdf) -> float:
    return float(stats.kstest(sample[~np.isnan(sample)], cdf).statistic)


def test_normal_draws_are_standard_normal():
    # One step of dw = dB from 0 with dt = 1: the sizes are the generator's normal draws.
    n = 200_000
    sizes = simulate_paths(
        0.0,
        0.0,
        1.0,
        0.0,
        n_spines=n,
        times_days=[0.0, 1.0],
        dt=1.0,
        threshold=-np.inf,
        initial=np.zeros(n),
    )
    draws = sizes[:, 1]
    assert ks_distance(draws, stats.norm.cdf) < 1.95 / math.sqrt(n)
    assert abs(draws.mean()) < 5 / math.sqrt(n)
    # The ziggurat's tail branch (|z| > 3.654) is hit at the normal rate.
    expected = n * 2 * stats.norm.sf(3.6541528853610088)
    assert abs(np.sum(np.abs(draws) > 3.6541528853610088) - expected) < 5 * math.sqrt(expected)


def test_multiplicative_noise_matches_inverse_gamma():
    # mu = alpha - beta w, sigma = s w: inverse gamma, shape 1 + 2 beta/s^2, scale 2 alpha/s^2.
    alpha, beta, s = 0.1, 0.1, 0.2
    sizes = simulate_paths(
        alpha,
        -beta,
        0.0,
        s**2,
        n_spines=N_SITES,
        times_days=[0.0],
        burn_in_days=60.0,
        threshold=0.0,
        random_seed=1,
    )
    assert not np.any(np.isnan(sizes))
    closed_form = stats.invgamma(1 + 2 * beta / s**2, scale=2 * alpha / s**2)
    assert ks_distance(sizes[:, 0], closed_form.cdf) < KS_TOLERANCE


def test_additive_noise_matches_ornstein_uhlenbeck_normal():
    theta, mean, sigma = 0.5, 1.0, 0.3
    sizes = simulate_paths(
        theta * mean,
        -theta,
        sigma**2,
        0.0,
        n_spines=N_SITES,
        times_days=[0.0],
        burn_in_days=20.0,
        threshold=-np.inf,
        random_seed=2,
    )
    closed_form = stats.norm(mean, sigma / math.sqrt(2 * theta))
    assert ks_distance(sizes[:, 0], closed_form.cdf) < KS_TOLERANCE


@pytest.fixture(scope="module")
def steady_turnover():
    """A long run of the default truth, with the numerical steady state it should reach."""
    truth = DEFAULT_TRUTH
    times = [0.0, 20.0, 40.0]
    sizes, formed, eliminated = simulate_paths(
        **truth,
        n_spines=N_SITES,
        times_days=times,
        burn_in_days=80.0,
        random_seed=3,
        return_events=True,
    )
    grid = np.linspace(truth["threshold"], 40.0, 40_001)
    drift, diffusion = linear_family_curves(truth["a"], truth["b"], truth["c"], truth["d"], grid)
    new_size = stats.lognorm(truth["new_size_sigma"], scale=math.exp(truth["new_size_mu"]))
    options = {"threshold": truth["threshold"], "reinsertion": new_size.pdf(grid)}
    density = stationary_density(drift, diffusion, grid, boundary="absorbing", **options)
    rate = float(stationary_elimination_rate(drift, diffusion, grid, **options))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return {
        "sizes": sizes,
        "formed": formed,
        "eliminated": eliminated,
        "cdf": lambda w: np.interp(w, grid, cdf),
        "rate": rate,
        "seen_fraction": new_size.sf(truth["threshold"]),
        "span": times[-1] - times[0],
    }


def test_absorbing_threshold_matches_stationary_density(steady_turnover):
    sizes = steady_turnover["sizes"]
    for session in range(sizes.shape[1]):
        assert ks_distance(sizes[:, session], steady_turnover["cdf"]) < KS_TOLERANCE


def test_elimination_and_formation_happen_at_steady_state_rates(steady_turnover):
    sizes = steady_turnover["sizes"]
    present = np.mean(np.sum(~np.isnan(sizes), axis=0))
    span = steady_turnover["span"]
    # Column 0 counts the burn-in; the rest cover the observed span.
    eliminated = steady_turnover["eliminated"][:, 1:].sum()
    expected_eliminated = steady_turnover["rate"] * present * span
    assert eliminated == pytest.approx(expected_eliminated, rel=EVENT_RELATIVE_TOLERANCE)
    formed = steady_turnover["formed"][:, 1:].sum()
    formation_rate = DEFAULT_TRUTH["formation_rate"] * steady_turnover["seen_fraction"]
    expected_formed = formation_rate * (N_SITES - present) * span
    assert formed == pytest.approx(expected_formed, rel=EVENT_RELATIVE_TOLERANCE)


@pytest.mark.parametrize(
    ("threshold", "seen_fraction"),
    [(-np.inf, 1.0), (1.0, 0.5)],  # threshold at the median new size halves the formations
)
def test_formation_fills_empty_sites_at_the_configured_rate(threshold, seen_fraction):
    n, rate, times = 20_000, 0.05, np.array([0.0, 5.0, 10.0, 20.0])
    sizes, formed, eliminated = simulate_paths(
        0.0,
        0.0,
        0.0,
        0.0,
        n_spines=n,
        times_days=times,
        threshold=threshold,
        formation_rate=rate,
        new_size_mu=0.0,
        new_size_sigma=0.5,
        initial=np.full(n, np.nan),
        random_seed=4,
        return_events=True,
    )
    probability = 1 - np.exp(-rate * seen_fraction * (times - times[0]))
    present = np.sum(~np.isnan(sizes), axis=0)
    sd = np.sqrt(n * probability * (1 - probability))
    assert np.all(np.abs(present - n * probability) <= 4 * sd + 1e-9)
    np.testing.assert_array_equal(np.cumsum(formed.sum(axis=0)), present)
    assert eliminated.sum() == 0
    assert np.nanmin(sizes) >= threshold


def test_deterministic_drift_eliminates_at_the_threshold_and_lands_on_irregular_times():
    initial = np.array([0.04, 0.23, 0.46, 0.67, 0.88])
    times = np.array([0.0, 0.37, 0.5, 2.0, 7.123])
    sizes, _, eliminated = simulate_paths(
        -0.1,
        0.0,
        0.0,
        0.0,
        n_spines=initial.size,
        times_days=times,
        dt=0.1,
        threshold=0.0,
        initial=initial,
        return_events=True,
    )
    exact = initial[:, None] - 0.1 * (times - times[0])
    expected = np.where(exact >= 0, exact, np.nan)
    np.testing.assert_allclose(sizes, expected, rtol=0, atol=1e-12)
    assert eliminated.sum() == np.sum(np.isnan(expected[:, -1]))


def test_same_seed_is_bit_identical_across_thread_counts():
    options = dict(DEFAULT_TRUTH, n_spines=1001, times_days=[0, 2, 4, 7], burn_in_days=10.0)
    first = simulate_paths(**options, random_seed=11)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single_thread = simulate_paths(**options, random_seed=11)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(first, single_thread)
    np.testing.assert_array_equal(first, simulate_paths(**options, random_seed=11))
    other = simulate_paths(**options, random_seed=12)
    assert not np.array_equal(first, other, equal_nan=True)
    # Site i's path does not depend on how many sites are simulated.
    np.testing.assert_array_equal(
        first[:17], simulate_paths(**(options | {"n_spines": 17}), random_seed=11)
    )


def test_dataset_layout_matches_the_two_photon_reader():
    n, times = 6, [0.0, 2.0, 4.5]
    initial = np.array([1.0, np.nan, 0.8, np.nan, 1.2, 0.05])  # the last is below threshold
    dataset = simulate_particles(
        0.0,
        0.0,
        0.0,
        0.0,
        n_spines=n,
        times_days=times,
        threshold=0.1,
        initial=initial,
        volume_units="um^3",
        labels={"animal_id": "m7", "dendrite_id": list("aabbcc")},
        spine_id_prefix="m7s",
    )
    assert dataset[dims.VOLUME].dims == (dims.SPINE, dims.SESSION)
    assert dataset[dims.VOLUME].dtype == np.float64
    assert dataset[dims.VOLUME].attrs == {"units": "um^3", "long_name": "spine volume"}
    assert list(dataset[dims.SPINE].values) == ["m7s0-0", "m7s2-0", "m7s4-0"]
    assert list(dataset[dims.SESSION].values) == [0, 1, 2]
    assert dataset[dims.TIME_DAYS].dims == (dims.SESSION,)
    assert list(dataset[dims.TIME_DAYS].values) == times
    assert dataset[dims.TIME_DAYS].attrs["units"] == dims.DAY
    assert list(dataset[dims.DENDRITE_ID].values) == ["a", "b", "c"]
    assert set(dataset[dims.ANIMAL_ID].values) == {"m7"}
    assert dims.CONDITION_LABEL not in dataset.coords
    np.testing.assert_array_equal(dataset[dims.VOLUME].values, [[1.0] * 3, [0.8] * 3, [1.2] * 3])

    attrs = dataset.attrs
    assert attrs[dims.ATTR_SOURCE] == "spinefit.simulate"
    assert attrs[dims.ATTR_DATA_KIND] == dims.KIND_TIME_SERIES
    assert attrs[dims.ATTR_VERSION]
    volume_bytes = np.ascontiguousarray(dataset[dims.VOLUME].values, dtype="<f8").tobytes()
    assert attrs[dims.ATTR_CONTENT_HASH] == f"sha256:{hashlib.sha256(volume_bytes).hexdigest()}"
    report = IngestionReport.from_json(attrs[dims.ATTR_INGESTION_REPORT])
    assert report.rows_read == report.rows_kept == 3
    report.check_accounted()
    assert any("dropped 3 sites" in note for note in report.notes)


def test_absent_spines_are_nan_in_the_dataset():
    dataset = simulate_particles(
        -0.1,
        0.0,
        0.0,
        0.0,
        n_spines=2,
        times_days=[0.0, 5.0],
        threshold=0.0,
        initial=[0.3, 1.0],
    )
    np.testing.assert_allclose(dataset[dims.VOLUME].values, [[0.3, np.nan], [1.0, 0.5]])


def test_a_site_reoccupied_after_elimination_holds_a_new_spine():
    dataset = simulate_particles(
        **DEFAULT_TRUTH, n_spines=300, times_days=[0, 2, 4, 7, 10, 14, 18, 21], random_seed=6
    )
    present = ~np.isnan(dataset[dims.VOLUME].values)
    assert present.any(axis=1).all()
    # Each spine is present over one contiguous run of sessions.
    starts = np.diff(present.astype(int), axis=1, prepend=0) == 1
    np.testing.assert_array_equal(starts.sum(axis=1), 1)
    sites = [spine.split("-")[0] for spine in dataset[dims.SPINE].values]
    assert len(set(sites)) < len(sites)  # some sites held more than one spine


def test_bad_arguments_raise_config_error():
    options = {"n_spines": 3, "times_days": [0.0, 1.0]}
    with pytest.raises(ConfigError, match="strictly increasing"):
        simulate_paths(0.1, -0.1, 0.01, 0.01, n_spines=3, times_days=[0.0, 2.0, 2.0])
    with pytest.raises(ConfigError, match="c and d"):
        simulate_paths(0.1, -0.1, -0.01, 0.01, **options)
    with pytest.raises(ConfigError, match="initial"):
        simulate_paths(0.1, -0.1, 0.01, 0.01, initial=[1.0], **options)
    with pytest.raises(ConfigError, match="unknown label"):
        simulate_particles(0.1, -0.1, 0.01, 0.01, labels={"genotype": "KO"}, **options)
    with pytest.raises(ConfigError, match="one string or 3"):
        simulate_particles(0.1, -0.1, 0.01, 0.01, labels={"animal_id": ["m1"]}, **options)


def test_simulate_time_series_returns_data_and_truth():
    dataset, truth = simulate_time_series({"formation_rate": 0.3}, n_spines=50, random_seed=5)
    assert dataset.sizes[dims.SESSION] == 8
    assert dataset.sizes[dims.SPINE] > 0
    assert truth["formation_rate"] == 0.3
    assert truth["a"] == DEFAULT_TRUTH["a"]
    assert {"elimination_rate", "stationary_mean_size", "occupancy"} <= set(truth)
    json.dumps(truth)  # serialisable
    with pytest.raises(ConfigError, match="unknown truth"):
        simulate_time_series({"alpha": 1.0})
    with pytest.raises(ConfigError, match="truth"):
        simulate_time_series(threshold=0.2)


def test_detection_limit_hides_small_measurements_of_living_spines():
    options = {"n_spines": 200, "random_seed": 3, "measurement_cv": 0.15}
    full, _ = simulate_time_series(**options)
    hidden, truth = simulate_time_series(**options, detection_limit=0.25)
    assert truth["detection_limit"] == 0.25
    kept = full.sel({dims.SPINE: hidden[dims.SPINE]})[dims.VOLUME].to_numpy()
    seen = hidden[dims.VOLUME].to_numpy()
    np.testing.assert_array_equal(np.isfinite(seen), np.isfinite(kept) & (kept >= 0.25))
    assert np.nanmin(seen) >= 0.25
    assert hidden.sizes[dims.SPINE] < full.sizes[dims.SPINE]  # never seen: dropped
    assert gap_cells(np.isfinite(seen)).any()  # hidden, then seen again
    with pytest.raises(ConfigError, match="detection_limit must be > 0"):
        simulate_time_series(n_spines=10, detection_limit=0)


def test_write_demo_data(tmp_path):
    csv_path, json_path = write_demo_data(tmp_path)
    assert csv_path.name == "demo_timeseries.csv"
    assert json_path.name == "demo_timeseries.truth.json"
    assert csv_path.stat().st_size < 200_000
    table = pd.read_csv(csv_path)
    assert list(table.columns) == ["spine_id", "time_days", "volume", "dendrite_id", "animal_id"]
    record = json.loads(json_path.read_text())
    assert table["spine_id"].nunique() == record["n_spines"]
    assert len(table) == record["n_spines"] * len(record["truth"]["times_days"])
    assert table["volume"].isna().any()
    assert record["truth"]["a"] == DEFAULT_TRUTH["a"]
