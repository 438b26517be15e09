"""General-drift simulator: steady state of the linear family, seeds, bistability, layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.families.tails import BIMODALITY_THRESHOLD, bimodality_coefficient
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.two_photon import read_two_photon
from spinefit.simulate import (
    DEFAULT_TRUTH,
    linear_family_curves,
    simulate_particles,
    stationary_density,
    stationary_elimination_rate,
)
from spinefit.simulate.general import (
    _simulate_sites,
    bistable_truth,
    cubic_drift,
    linear_drift,
    linear_truth,
    quadratic_variance,
    simulate_sde_time_series,
)
from spinefit.simulate.synthetic import write_example

pytestmark = pytest.mark.fast

LINEAR = linear_truth()

# 8000 sites, 40 observed days: ~9700 eliminations (Poisson sd 1.0%) and ~20,000 sizes per
# session. Tolerances are 4 sd; the Brownian-bridge correction leaves an O(dt) bias well
# below that.
N_SITES = 8000
EVENT_RELATIVE_TOLERANCE = 0.04
MEAN_RELATIVE_TOLERANCE = 0.02
KS_TOLERANCE = 0.025  # 0.1% critical value 1.95/sqrt(6800) ~ 0.024 per session


@pytest.fixture(scope="module")
def linear_steady_state():
    """A long run of the default truth through the general simulator, and its steady state."""
    rng = np.random.default_rng(3)
    truth = DEFAULT_TRUTH
    initial = np.exp(truth["new_size_mu"] + truth["new_size_sigma"] * rng.standard_normal(N_SITES))
    sizes, formed, eliminated = _simulate_sites(
        LINEAR["drift"],
        LINEAR["variance"],
        initial,
        np.array([80.0, 20.0, 20.0]),
        threshold=truth["threshold"],
        formation_rate=truth["formation_rate"],
        new_size_mu=truth["new_size_mu"],
        new_size_sigma=truth["new_size_sigma"],
        dt=0.01,
        rng=rng,
    )
    grid = np.linspace(truth["threshold"], 40.0, 40_001)
    drift, diffusion = linear_family_curves(truth["a"], truth["b"], truth["c"], truth["d"], grid)
    new_size = stats.lognorm(truth["new_size_sigma"], scale=math.exp(truth["new_size_mu"]))
    options = {"threshold": truth["threshold"], "reinsertion": new_size.pdf(grid)}
    density = stationary_density(drift, diffusion, grid, boundary="absorbing", **options)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return {
        "sizes": sizes,
        "formed": formed,
        "eliminated": eliminated,
        "rate": float(stationary_elimination_rate(drift, diffusion, grid, **options)),
        "mean": float(np.trapezoid(density * grid, grid)),
        "cdf": lambda w: np.interp(w, grid, cdf),
        "seen_fraction": new_size.sf(truth["threshold"]),
    }


def test_linear_family_reaches_the_stationary_size_density(linear_steady_state):
    sizes = linear_steady_state["sizes"]
    for session in range(sizes.shape[1]):
        present = sizes[:, session][~np.isnan(sizes[:, session])]
        assert stats.kstest(present, linear_steady_state["cdf"]).statistic < KS_TOLERANCE
    pooled = sizes[~np.isnan(sizes)]
    mean = linear_steady_state["mean"]
    assert pooled.mean() == pytest.approx(mean, rel=MEAN_RELATIVE_TOLERANCE)


def test_linear_family_turns_over_at_the_steady_state_rates(linear_steady_state):
    sizes = linear_steady_state["sizes"]
    present = np.mean(np.sum(~np.isnan(sizes), axis=0))
    span = 40.0
    eliminated = linear_steady_state["eliminated"][:, 1:].sum()  # column 0 is the burn-in
    expected = linear_steady_state["rate"] * present * span
    assert eliminated == pytest.approx(expected, rel=EVENT_RELATIVE_TOLERANCE)
    formed = linear_steady_state["formed"][:, 1:].sum()
    formation = DEFAULT_TRUTH["formation_rate"] * linear_steady_state["seen_fraction"]
    assert formed == pytest.approx(formation * (N_SITES - present) * span, rel=0.04)


def test_truth_records_settings_curves_and_the_linear_steady_state():
    dataset, truth = simulate_sde_time_series(
        **LINEAR, n_spines=200, burn_in_days=20.0, random_seed=1, description="linear check"
    )
    json.dumps(truth)
    assert truth["description"] == "linear check"
    assert truth["threshold"] == DEFAULT_TRUTH["threshold"]
    assert truth["n_sites"] == 200
    assert truth["times_days"] == [0.0, 2.0, 4.0, 7.0, 10.0, 14.0, 18.0, 21.0]
    assert truth["drift_function"] == "linear(a=0.1, b=-0.1)"
    curves = truth["curves"]
    w = np.asarray(curves["w"])
    assert w[0] == pytest.approx(DEFAULT_TRUTH["threshold"])
    assert w[-1] == pytest.approx(np.nanmax(dataset[dims.VOLUME].values))
    np.testing.assert_allclose(np.diff(np.log(w)), np.log(w[1] / w[0]))  # geometric
    np.testing.assert_allclose(curves["drift"], 0.1 - 0.1 * w)
    np.testing.assert_allclose(curves["variance"], 0.04 + 0.04 * w**2)
    # The same steady state as the linear family's own truth (synthetic.simulate_time_series).
    assert truth["elimination_rate"] == pytest.approx(0.03591, rel=1e-3)
    assert truth["stationary_mean_size"] == pytest.approx(1.0875, rel=1e-3)
    assert truth["occupancy"] == pytest.approx(0.8459, rel=1e-3)


def test_same_seed_gives_the_same_data():
    options = dict(LINEAR, n_spines=150, times_days=[0.0, 3.0, 7.5], burn_in_days=15.0)
    first, first_truth = simulate_sde_time_series(**options, random_seed=11, measurement_cv=0.1)
    again, again_truth = simulate_sde_time_series(**options, random_seed=11, measurement_cv=0.1)
    np.testing.assert_array_equal(first[dims.VOLUME].values, again[dims.VOLUME].values)
    np.testing.assert_array_equal(first[dims.SPINE].values, again[dims.SPINE].values)
    assert first.attrs == again.attrs
    assert first_truth == again_truth
    other, _ = simulate_sde_time_series(**options, random_seed=12, measurement_cv=0.1)
    assert not np.array_equal(first[dims.VOLUME].values, other[dims.VOLUME].values, equal_nan=True)
    # Measurement noise multiplies the true sizes and leaves presence alone.
    true, _ = simulate_sde_time_series(**options, random_seed=11)
    ratio = np.log(first[dims.VOLUME].values / true[dims.VOLUME].values)
    np.testing.assert_array_equal(np.isnan(ratio), np.isnan(true[dims.VOLUME].values))
    assert 0.07 < np.nanstd(ratio) < 0.13


def test_deterministic_drift_eliminates_at_the_threshold_on_irregular_times():
    initial = np.array([0.04, 0.23, 0.46, 0.67, 0.88])
    times = [0.0, 0.37, 0.5, 2.0, 7.123]
    dataset, _ = simulate_sde_time_series(
        lambda w: np.full_like(w, -0.1),
        lambda w: 0.0,
        threshold=0.0,
        formation_rate=0.0,
        new_size_mu=0.0,
        new_size_sigma=0.5,
        n_spines=initial.size,
        times_days=times,
        dt=0.1,
        initial=initial,
    )
    exact = initial[:, None] - 0.1 * np.asarray(times)
    expected = np.where(exact >= 0, exact, np.nan)
    np.testing.assert_allclose(dataset[dims.VOLUME].values, expected, rtol=0, atol=1e-12)


def test_cubic_drift_is_stable_at_the_outer_zeros():
    drift = cubic_drift(2.0, 0.4, 0.9, 1.6)
    np.testing.assert_allclose(drift(np.array([0.4, 0.9, 1.6])), 0.0, atol=1e-15)
    # + below w1, - between w1 and w2, + between w2 and w3, - above w3.
    np.testing.assert_array_equal(np.sign(drift(np.array([0.2, 0.6, 1.2, 2.0]))), [1, -1, 1, -1])
    assert drift(np.array([0.0]))[0] == pytest.approx(2.0 * 0.4 * 0.9 * 1.6)


@pytest.fixture(scope="module")
def bistable():
    return simulate_sde_time_series(**bistable_truth(), n_spines=2000, random_seed=0)


def test_bistable_preset_gives_two_populated_modes(bistable):
    dataset, truth = bistable
    volume = dataset[dims.VOLUME].values
    log_size = np.log(volume[:, 0][~np.isnan(volume[:, 0])])
    small_share = np.mean(log_size < math.log(0.9))
    assert 0.2 <= small_share <= 0.8
    assert np.all(bimodality_coefficient(np.log(volume), axis=0) > BIMODALITY_THRESHOLD)
    counts, edges = np.histogram(log_size, bins=np.linspace(math.log(0.1), math.log(4.0), 25))
    centres = 0.5 * (edges[1:] + edges[:-1])
    small_peak = counts[centres < math.log(0.65)].max()
    large_peak = counts[centres > math.log(1.2)].max()
    dip = counts[(centres > math.log(0.65)) & (centres < math.log(1.2))].min()
    assert dip < 0.6 * min(small_peak, large_peak)
    # Some spines are lost at the threshold: rows that end before the last session.
    present = ~np.isnan(volume)
    lost = np.sum(present[:, :-1] & ~present[:, 1:])
    assert lost > 0.002 * present.sum(axis=0).mean() * 21
    assert truth["elimination_rate"] > 0.002


def test_bistable_spines_switch_modes_only_occasionally(bistable):
    volume = bistable[0][dims.VOLUME].values
    first, last = volume[:, 0], volume[:, -1]
    small, large = first < 0.65, first > 1.2
    switched_up = np.sum(small & (last > 1.2)) / np.sum(small & ~np.isnan(last))
    switched_down = np.sum(large & (last < 0.65)) / np.sum(large & ~np.isnan(last))
    assert 0.02 < switched_up < 0.35
    assert 0.02 < switched_down < 0.35


def test_dataset_layout_equals_simulate_particles():
    shared = {
        "n_spines": 40,
        "times_days": [0.0, 2.0, 4.5],
        "threshold": 0.1,
        "formation_rate": 0.2,
        "new_size_mu": math.log(0.3),
        "new_size_sigma": 0.5,
        "burn_in_days": 10.0,
        "volume_units": "um^3",
        "labels": {"animal_id": "m7", "dendrite_id": ["a", "b"] * 20},
        "spine_id_prefix": "m7s",
    }
    reference = simulate_particles(0.1, -0.1, 0.04, 0.04, **shared)
    dataset, _ = simulate_sde_time_series(
        linear_drift(0.1, -0.1), quadratic_variance(0.04, 0.04), **shared
    )
    assert dataset[dims.VOLUME].dims == reference[dims.VOLUME].dims
    assert dataset[dims.VOLUME].dtype == reference[dims.VOLUME].dtype
    assert dataset[dims.VOLUME].attrs == reference[dims.VOLUME].attrs
    assert set(dataset.data_vars) == set(reference.data_vars)
    assert set(dataset.coords) == set(reference.coords)
    for name in reference.coords:
        assert dataset[name].dims == reference[name].dims
        assert dataset[name].attrs == reference[name].attrs
        assert dataset[name].dtype.kind == reference[name].dtype.kind
    assert dataset.attrs.keys() == reference.attrs.keys()
    for key in (dims.ATTR_SOURCE, dims.ATTR_DATA_KIND, dims.ATTR_VERSION):
        assert dataset.attrs[key] == reference.attrs[key]
    np.testing.assert_array_equal(dataset[dims.TIME_DAYS].values, shared["times_days"])
    assert all(spine.startswith("m7s") for spine in dataset[dims.SPINE].values)
    report = IngestionReport.from_json(dataset.attrs[dims.ATTR_INGESTION_REPORT])
    report.check_accounted()
    assert report.rows_kept == dataset.sizes[dims.SPINE]
    # Each spine is present over one contiguous run of sessions.
    present = ~np.isnan(dataset[dims.VOLUME].values)
    starts = np.diff(present.astype(int), axis=1, prepend=0) == 1
    np.testing.assert_array_equal(starts.sum(axis=1), 1)


def test_written_example_reads_back_with_the_two_photon_reader(tmp_path):
    options = bistable_truth() | {"burn_in_days": 20.0}
    dataset, truth = simulate_sde_time_series(
        **options, n_spines=60, random_seed=1, measurement_cv=0.05, labels={"animal_id": "m1"}
    )
    csv_path, json_path = write_example(dataset, truth, tmp_path / "bistable.csv", "test")
    back = read_two_photon(csv_path)
    np.testing.assert_array_equal(back[dims.SPINE].values, dataset[dims.SPINE].values)
    np.testing.assert_allclose(back[dims.VOLUME].values, dataset[dims.VOLUME].values, rtol=1e-4)
    record = json.loads(json_path.read_text())
    assert record["truth"]["curves"] == truth["curves"]
    assert record["truth"]["description"].startswith("bistable")


def test_bad_arguments_raise_config_error():
    options = dict(LINEAR, n_spines=3, times_days=[0.0, 1.0], burn_in_days=0.0)
    with pytest.raises(ConfigError, match="strictly increasing"):
        simulate_sde_time_series(**(options | {"times_days": [0.0, 2.0, 2.0]}))
    with pytest.raises(ConfigError, match="functions"):
        simulate_sde_time_series(**(options | {"drift": 0.1}))
    with pytest.raises(ConfigError, match="initial"):
        simulate_sde_time_series(**options, initial=[1.0])
    with pytest.raises(ConfigError, match="one value per size"):
        simulate_sde_time_series(**(options | {"drift": lambda w: np.zeros(7)}))
    with pytest.raises(ConfigError, match="non-finite"):
        simulate_sde_time_series(**(options | {"drift": lambda w: np.full_like(w, np.nan)}))
    with pytest.raises(ConfigError, match="unknown label"):
        simulate_sde_time_series(**options, labels={"genotype": "KO"})
    with pytest.raises(ConfigError, match="c and d"):
        quadratic_variance(-0.1, 0.0)
