"""Wild type vs knockout time series over several animals, with known differences.

Models Fmr1-KO-like dynamics: the KO has a larger multiplicative fluctuation coefficient
``d`` and forms new spines faster, and every animal deviates from its genotype's
parameters (random offsets on ``a``, ``b`` and ``log d``), so that the unit of replication
is the animal.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.simulate.synthetic import DEFAULT_TRUTH, simulate_time_series, write_example

__all__ = ["DEFAULT_ANIMAL_SD", "simulate_wt_ko", "write_wt_ko"]

DEFAULT_ANIMAL_SD: dict[str, float] = {"a": 0.01, "b": 0.01, "log_d": 0.1}
"""SD of animal offsets around the genotype's a (size/day), b (1/day) and log d.

``log_c`` and ``log_formation`` (animal variation of the additive noise and of the formation
rate) are 0 unless given."""

GENOTYPES = ("WT", "KO")


def simulate_wt_ko(
    *,
    n_animals_per_genotype: int = 3,
    n_sites_per_animal: int = 60,
    times_days: Sequence[float] = (0, 4, 8, 12, 16, 20),
    random_seed: int = 0,
    ko_d_factor: float = 1.6,
    ko_formation_factor: float = 1.5,
    animal_sd: Mapping[str, float] | None = None,
    base_truth: Mapping[str, float] | None = None,
    segments_per_animal: int = 1,
    segment_formation_sd: float = 0.0,
    measurement_cv: float = 0.0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Simulate WT and KO animals imaged on the same schedule.

    Parameters
    ----------
    n_animals_per_genotype : int
        Animals per genotype.
    n_sites_per_animal : int
        Spine sites simulated per animal (see :func:`simulate_time_series`).
    times_days : sequence of float
        Imaging times (days).
    random_seed : int
        Seed of the animal offsets and of every animal's simulation.
    ko_d_factor, ko_formation_factor : float
        KO's ``d`` and ``formation_rate`` relative to WT (1 and 1: no difference).
    animal_sd : mapping, optional
        SD of animal offsets on ``a``, ``b``, ``log_d`` and optionally ``log_c`` and
        ``log_formation`` (default :data:`DEFAULT_ANIMAL_SD`).
    segments_per_animal : int
        Dendritic segments per animal, each with its own formation rate (log-normal with SD
        ``segment_formation_sd`` around the animal's): turnover counts pooled over an
        animal are then overdispersed relative to Poisson.
    segment_formation_sd : float
        SD of the segments' log formation rates.
    measurement_cv : float
        Multiplicative measurement noise of every observed size (see
        :func:`~spinefit.simulate.synthetic.simulate_time_series`).
    base_truth : mapping, optional
        WT parameters overriding :data:`~spinefit.simulate.synthetic.DEFAULT_TRUTH`.

    Returns
    -------
    dataset : xarray.Dataset
        Time series with per-spine ``condition`` ("WT"/"KO") and ``animal_id`` coords.
    truth : dict
        ``genotypes`` (parameters per genotype, steady-state elimination rate, and
        ``formation_per_present_spine``, the formation rate in the units the model
        estimates), ``differences`` (KO − WT), ``animals`` (each animal's parameters)
        and the simulation settings.
    """
    rng = np.random.default_rng(random_seed)
    sd = DEFAULT_ANIMAL_SD | dict(animal_sd or {})
    wt = {key: float(v) for key, v in (DEFAULT_TRUTH | dict(base_truth or {})).items()}
    genotype_truth = {
        "WT": wt,
        "KO": wt
        | {
            "d": wt["d"] * ko_d_factor,
            "formation_rate": wt["formation_rate"] * ko_formation_factor,
        },
    }
    parts = []
    animals: dict[str, dict[str, Any]] = {}
    derived: dict[str, dict[str, float]] = {}
    for g, genotype in enumerate(GENOTYPES):
        params = genotype_truth[genotype]
        for i in range(n_animals_per_genotype):
            animal = f"{genotype.lower()}{i + 1}"
            animal_params = params | {
                "a": params["a"] + sd["a"] * rng.standard_normal(),
                "b": params["b"] + sd["b"] * rng.standard_normal(),
                "d": params["d"] * math.exp(sd["log_d"] * rng.standard_normal()),
            }
            # Drawn only when asked for, so the default datasets stay as they were.
            for key, name in (("log_c", "c"), ("log_formation", "formation_rate")):
                if sd.get(key, 0.0):
                    animal_params[name] *= math.exp(sd[key] * rng.standard_normal())
            seed = random_seed * 1000 + g * 100 + i + 1
            segment_rng = np.random.default_rng([seed, 7])
            sizes = np.diff(np.linspace(0, n_sites_per_animal, segments_per_animal + 1).round())
            for j, n_sites in enumerate(sizes.astype(int)):
                segment_params = dict(animal_params)
                if segments_per_animal > 1:
                    segment_params["formation_rate"] *= math.exp(
                        segment_formation_sd * segment_rng.standard_normal()
                    )
                dataset, full = simulate_time_series(
                    segment_params,
                    n_spines=n_sites,
                    times_days=times_days,
                    random_seed=seed if segments_per_animal == 1 else seed * 100 + j,
                    labels={dims.CONDITION_LABEL: genotype, dims.ANIMAL_ID: animal},
                    spine_id_prefix=f"{animal}-s" if segments_per_animal == 1 else f"{animal}-{j}s",
                    measurement_cv=measurement_cv,
                )
                parts.append(dataset)
            animals[animal] = {
                "condition": genotype,
                **{k: full[k] for k in "abcd"},
                "formation_rate": animal_params["formation_rate"],
            }
        _, at_mean = simulate_time_series(params, n_spines=2, times_days=(0, 1), random_seed=0)
        derived[genotype] = {
            "elimination_rate": at_mean.get("elimination_rate", float("nan")),
            # In the steady state formations balance eliminations, per present spine.
            "formation_per_present_spine": at_mean.get("elimination_rate", float("nan")),
        }
    dataset = xr.concat(parts, dim=dims.SPINE, join="outer", combine_attrs="drop")
    digest = hashlib.sha256(np.ascontiguousarray(dataset[dims.VOLUME].values).tobytes())
    dataset.attrs = {
        dims.ATTR_SOURCE: "spinefit.simulate.genotypes",
        dims.ATTR_CONTENT_HASH: f"sha256:{digest.hexdigest()}",
        dims.ATTR_VERSION: __version__,
        dims.ATTR_DATA_KIND: dims.KIND_TIME_SERIES,
    }
    genotypes = {g: genotype_truth[g] | derived[g] for g in GENOTYPES}
    differences = {
        key: genotypes["KO"][key] - genotypes["WT"][key]
        for key in ("a", "b", "c", "d", "formation_rate", "elimination_rate")
    }
    differences["formation_per_day"] = (
        genotypes["KO"]["formation_per_present_spine"]
        - genotypes["WT"]["formation_per_present_spine"]
    )
    differences["elimination_per_day"] = differences["elimination_rate"]
    truth = {
        "reference": "WT",
        "genotypes": genotypes,
        "differences": differences,
        "animals": animals,
        "animal_sd": sd,
        "n_animals_per_genotype": n_animals_per_genotype,
        "n_sites_per_animal": n_sites_per_animal,
        "times_days": [float(t) for t in times_days],
        "random_seed": random_seed,
        "ko_d_factor": ko_d_factor,
        "ko_formation_factor": ko_formation_factor,
        "segments_per_animal": segments_per_animal,
        "segment_formation_sd": segment_formation_sd,
        "measurement_cv": measurement_cv,
    }
    return dataset, truth


def write_wt_ko(directory: str | Path, **options: Any) -> list[Path]:
    """Write ``wt_ko_timeseries.csv`` (long table) and ``wt_ko_timeseries.truth.json``.

    Parameters
    ----------
    directory : str or Path
        Where to write; created if missing.
    **options
        Passed to :func:`simulate_wt_ko` (default: its defaults with ``random_seed=2016``).

    Returns
    -------
    list of Path
        The CSV and JSON written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dataset, truth = simulate_wt_ko(**({"random_seed": 2016} | options))
    return write_example(
        dataset, truth, directory / "wt_ko_timeseries.csv", f"{__name__}.simulate_wt_ko"
    )
