"""Datasets with known truth, for tests, demos and the bundled ``data/`` folder.

Each dataset is one function ``simulate_<name>(truth=None, *, ..., random_seed=0)`` that
returns ``(dataset, truth)``: the Dataset in the layout of :mod:`spinefit.io.two_photon` and a
JSON-serialisable dict holding every parameter used plus quantities derived from them.
:func:`write_demo_data` writes each registered dataset as a long CSV table with its truth as
JSON next to it.

To add a dataset (e.g. wild type vs Fmr1-KO over several animals), write its
``simulate_<name>`` function — typically by calling :func:`simulate_time_series` once per
animal and condition with ``labels`` and ``spine_id_prefix`` set, then concatenating along
``spine`` — and add one entry to ``_DEMO_DATASETS``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError
from spinefit.simulate.particles import LABEL_COORDS, simulate_particles, volume_hash
from spinefit.simulate.stationary import (
    linear_family_curves,
    stationary_density,
    stationary_elimination_rate,
)

__all__ = ["DEFAULT_TIMES_DAYS", "DEFAULT_TRUTH", "simulate_time_series", "write_demo_data"]

DEFAULT_TRUTH: dict[str, float] = {
    "a": 0.1,
    "b": -0.1,
    "c": 0.04,
    "d": 0.04,
    "threshold": 0.1,
    "formation_rate": 0.2,
    "new_size_mu": math.log(0.3),
    "new_size_sigma": 0.5,
}
"""Parameters of a spine-like process in units where the mean size is about 1.

Drift ``a + b w`` relaxes sizes towards 1 over 10 days; ``c + d w**2`` mixes additive and
multiplicative noise, giving a right-skewed stationary density (mean 1.09, CV 0.62, power-law
tail ~ w**-7). Spines below 0.1 are eliminated, about 3.6% of present spines per day, and
empty sites form new small spines (median size 0.3) at 0.2 per day, so that about 85% of sites
hold a spine in the steady state. ``c`` is larger than the purely multiplicative dynamics of
large spines would need, so that small spines do reach the threshold and turnover is in the
range reported in vivo (a few percent per day).
"""

DEFAULT_TIMES_DAYS: tuple[float, ...] = (0, 2, 4, 7, 10, 14, 18, 21)
"""Irregular imaging schedule over three weeks."""

_SIMULATION_ONLY = ("dt", "burn_in_days", "initial", "labels", "volume_units", "spine_id_prefix")
NOISE_MODELS = ("multiplicative", "additive")


def simulate_time_series(
    truth: dict[str, float] | None = None,
    *,
    n_spines: int = 300,
    times_days: Sequence[float] = DEFAULT_TIMES_DAYS,
    random_seed: int = 0,
    measurement_cv: float = 0.0,
    measurement_noise: str = "multiplicative",
    detection_limit: float | None = None,
    **kw: Any,
) -> tuple[xr.Dataset, dict[str, Any]]:
    r"""Simulate a time series of spine sizes from the default family with turnover.

    Parameters
    ----------
    truth : dict, optional
        Parameters overriding :data:`DEFAULT_TRUTH` (same keys: ``a``, ``b``, ``c``, ``d``,
        ``threshold``, ``formation_rate``, ``new_size_mu``, ``new_size_sigma``).
    n_spines : int
        Number of sites simulated (see :func:`~spinefit.simulate.particles.simulate_particles`):
        a site that loses its spine and forms a new one adds a row, and sites that hold no
        spine at any session are dropped, so the Dataset may have more or fewer spines.
    times_days : sequence of float
        Observation times in days.
    random_seed : int
        Seed of the simulation.
    measurement_cv : float
        Measurement noise of every observed size: the true size times
        :math:`e^{\varepsilon}`, :math:`\varepsilon \sim N(0, \tau^2)` with
        :math:`\tau` = ``measurement_cv`` (multiplicative), or plus :math:`N(0, \tau^2)`
        (additive, τ in volume units; a negative result is clipped to a tiny positive
        size so that a present spine stays present). Presence follows the true size.
    measurement_noise : {"multiplicative", "additive"}
        Noise model.
    detection_limit : float, optional
        Measured sizes below it are not seen: written as absent, although the spine lives
        on and may be seen again (as an imaging lab's presence cut does). Spines never seen
        are dropped. The limit is kept as the Dataset's ``detection_limit`` attr, which a
        latent fit uses by default (as it does a ``spinefit measure`` table's column).
        None: presence follows the true size.
    **kw
        Passed on to :func:`spinefit.simulate.particles.simulate_particles`: ``dt``,
        ``burn_in_days``, ``initial``, ``labels``, ``volume_units``, ``spine_id_prefix``.

    Returns
    -------
    dataset : xarray.Dataset
        The simulated time series.
    truth : dict
        JSON-serialisable: the parameters, the simulation settings (``n_sites``,
        ``times_days``, ``random_seed``, ``dt``) and derived steady-state quantities
        (``elimination_rate`` per present spine per day, ``stationary_mean_size``,
        ``occupancy`` — the expected fraction of sites holding a spine) when they exist.

    Raises
    ------
    ConfigError
        If ``truth`` has an unknown key or ``kw`` holds a parameter that belongs in ``truth``.
    """
    unknown = set(truth or {}) - set(DEFAULT_TRUTH)
    if unknown:
        raise ConfigError(
            f"unknown truth parameter(s) {sorted(unknown)}; known: {sorted(DEFAULT_TRUTH)}"
        )
    misplaced = set(kw) - set(_SIMULATION_ONLY)
    if misplaced:
        raise ConfigError(
            f"unexpected keyword(s) {sorted(misplaced)}; model parameters go in `truth`, "
            f"simulation options are {', '.join(_SIMULATION_ONLY)}"
        )
    params = {key: float(value) for key, value in (DEFAULT_TRUTH | (truth or {})).items()}
    dataset = simulate_particles(
        **params,
        n_spines=n_spines,
        times_days=times_days,
        random_seed=random_seed,
        **kw,
    )
    if measurement_noise not in NOISE_MODELS:
        raise ConfigError(
            f"unknown measurement_noise {measurement_noise!r}; use {' or '.join(NOISE_MODELS)}"
        )
    if not measurement_cv >= 0:
        raise ConfigError(f"measurement_cv must be >= 0, got {measurement_cv}")
    if measurement_cv > 0:
        dataset = _add_measurement_noise(
            dataset, measurement_cv, measurement_noise, random_seed=random_seed
        )
    if detection_limit is not None:
        if not detection_limit > 0:
            raise ConfigError(f"detection_limit must be > 0, got {detection_limit}")
        dataset = _hide_below(dataset, float(detection_limit))
        dataset.attrs[dims.ATTR_DETECTION_LIMIT] = float(detection_limit)
    full_truth: dict[str, Any] = dict(params)
    if detection_limit is not None:
        full_truth["detection_limit"] = float(detection_limit)
    full_truth.update(
        measurement_cv=float(measurement_cv),
        measurement_noise=measurement_noise,
        n_sites=n_spines,
        times_days=[float(t) for t in times_days],
        random_seed=random_seed,
        dt=float(kw.get("dt", 0.01)),
    )
    full_truth.update(_steady_state(params))
    return dataset, full_truth


def _hide_below(dataset: xr.Dataset, limit: float) -> xr.Dataset:
    """Return ``dataset`` with sizes below ``limit`` absent and never-seen spines dropped."""
    volume = dataset[dims.VOLUME].to_numpy()
    seen = np.isfinite(volume) & (volume >= limit)
    out = dataset.copy()
    out[dims.VOLUME] = (
        dataset[dims.VOLUME].dims,
        np.where(seen, volume, np.nan),
        dataset[dims.VOLUME].attrs,
    )
    out = out.isel({dims.SPINE: np.flatnonzero(seen.any(axis=1))})
    out.attrs[dims.ATTR_CONTENT_HASH] = volume_hash(out[dims.VOLUME].to_numpy())
    return out


def _add_measurement_noise(
    dataset: xr.Dataset, sd: float, noise: str, *, random_seed: int
) -> xr.Dataset:
    """Return ``dataset`` with measurement noise on every present size (seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence([random_seed, 0x6E6F697365]))
    true = dataset[dims.VOLUME].to_numpy()
    eps = rng.normal(0.0, sd, size=true.shape)
    observed = true * np.exp(eps) if noise == "multiplicative" else true + eps
    observed = np.where(np.isfinite(true), np.maximum(observed, 1e-9), np.nan)
    out = dataset.copy()
    out[dims.VOLUME] = (dataset[dims.VOLUME].dims, observed, dataset[dims.VOLUME].attrs)
    out.attrs[dims.ATTR_CONTENT_HASH] = volume_hash(observed)
    return out


def write_demo_data(directory: str | Path) -> list[Path]:
    """Write the bundled demo datasets and their truth into ``directory``.

    Each dataset is written as ``<name>.csv``, a long table with columns
    ``spine_id,time_days,volume`` followed by the label columns present (``dendrite_id``,
    ``animal_id``, ...); a session in which the spine is absent is a row with an empty
    ``volume``. Its truth goes to ``<name>.truth.json``.

    Parameters
    ----------
    directory : str or Path
        Where to write; created if missing.

    Returns
    -------
    list of Path
        The files written, CSV then JSON for each dataset.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in _DEMO_DATASETS.items():
        dataset, truth = make()
        generator = f"{make.func.__module__}.{make.func.__name__}"
        written += write_example(dataset, truth, directory / f"{name}.csv", generator)
    return written


def write_example(
    dataset: xr.Dataset, truth: dict[str, Any], csv_path: Path, generator: str
) -> list[Path]:
    """Write a simulated time series as a long CSV and its truth as JSON beside it.

    Parameters
    ----------
    dataset : xarray.Dataset
        The simulated time series.
    truth : dict
        The parameters it was simulated with.
    csv_path : Path
        Where the table goes; the truth goes to ``<stem>.truth.json`` in the same folder.
    generator : str
        Dotted name of the simulator, recorded in the JSON.

    Returns
    -------
    list of Path
        The CSV and the JSON file.
    """
    json_path = csv_path.with_name(f"{csv_path.stem}.truth.json")
    _write_long_csv(dataset, csv_path)
    record = {
        "dataset": csv_path.name,
        "generator": generator,
        "spinefit_version": __version__,
        "n_spines": int(dataset.sizes[dims.SPINE]),
        "truth": truth,
    }
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    return [csv_path, json_path]


def _demo_labels(n_spines: int, n_animals: int, dendrites_per_animal: int) -> dict[str, list]:
    """Assign sites to dendrites in contiguous blocks, and dendrites to animals."""
    n_dendrites = n_animals * dendrites_per_animal
    dendrite = np.arange(n_spines) * n_dendrites // n_spines
    return {
        dims.DENDRITE_ID: [f"d{i + 1:02d}" for i in dendrite],
        dims.ANIMAL_ID: [f"m{i // dendrites_per_animal + 1}" for i in dendrite],
    }


_DEMO_DATASETS: dict[str, partial[tuple[xr.Dataset, dict[str, Any]]]] = {
    "demo_timeseries": partial(
        simulate_time_series,
        n_spines=150,  # sites; re-occupied sites add spines, giving about 200
        random_seed=20080101,
        labels=_demo_labels(150, n_animals=2, dendrites_per_animal=4),
    ),
}
"""Demo datasets written by :func:`write_demo_data`, by file stem."""


def _steady_state(params: dict[str, float]) -> dict[str, float]:
    """Return steady-state quantities of the process, or nothing if it has no steady state."""
    a, b, c, d = params["a"], params["b"], params["c"], params["d"]
    threshold = params["threshold"]
    if not (b < 0 and math.isfinite(threshold) and threshold > 0 and c + d > 0):
        return {}
    centre = max(-a / b, threshold)
    grid = np.linspace(threshold, threshold + 60.0 * centre, 60_001)
    drift, diffusion = linear_family_curves(a, b, c, d, grid)
    new_sizes = _lognormal_pdf(grid, params["new_size_mu"], params["new_size_sigma"])
    options = {"threshold": threshold, "reinsertion": new_sizes}
    density = stationary_density(drift, diffusion, grid, boundary="absorbing", **options)
    elimination = float(stationary_elimination_rate(drift, diffusion, grid, **options))
    # New spines below the threshold are never formed, which thins the formation rate.
    seen_fraction = 0.5 * math.erfc(
        (math.log(threshold) - params["new_size_mu"]) / (math.sqrt(2) * params["new_size_sigma"])
    )
    formation = params["formation_rate"] * seen_fraction
    return {
        "elimination_rate": elimination,
        "stationary_mean_size": float(np.trapezoid(density * grid, grid)),
        "occupancy": formation / (formation + elimination) if formation > 0 else 0.0,
    }


def _lognormal_pdf(grid: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    positive = np.where(grid > 0, grid, 1.0)
    log_ratio = (np.log(positive) - mu) / sigma
    pdf = np.exp(-0.5 * log_ratio**2) / (positive * sigma * math.sqrt(2 * math.pi))
    return np.where(grid > 0, pdf, 0.0)


def _write_long_csv(dataset: xr.Dataset, path: Path) -> None:
    """Write a time-series Dataset as a long table, one row per spine and session."""
    labels = [name for name in LABEL_COORDS if name in dataset.coords]
    volume = dataset[dims.VOLUME].transpose(dims.SPINE, dims.SESSION).values
    times = dataset[dims.TIME_DAYS].values
    label_values = [dataset[name].values for name in labels]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME, *labels])
        for i, spine in enumerate(dataset[dims.SPINE].values):
            extra = [values[i] for values in label_values]
            for j, time in enumerate(times):
                size = volume[i, j]
                cell = "" if np.isnan(size) else f"{size:.5g}"
                writer.writerow([spine, f"{time:g}", cell, *extra])
