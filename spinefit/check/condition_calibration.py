"""False-positive and power studies of condition comparisons on simulated WT/KO data.

The null datasets hold two conditions drawn from one process, with animal-to-animal
variation in a, b, log c, log d and the formation rate, and dendritic segments whose
formation rates differ within an animal, so that turnover counts are overdispersed. A
calibrated comparison should then give at least one primary finding in at most ~6% of
datasets, and each quantity's 94% HDI should exclude 0 in about 6% of them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

NULL_ANIMAL_SD = {"a": 0.01, "b": 0.01, "log_d": 0.15, "log_c": 0.2, "log_formation": 0.3}
"""Animal variation of the null and power studies."""
STUDY_DATA = {
    "n_animals_per_genotype": 4,
    "n_sites_per_animal": 100,
    "times_days": (0, 4, 8, 12, 16, 20),
    "segments_per_animal": 4,
    "segment_formation_sd": 0.4,
}
"""Design of the studies: 4 animals per group of 100 sites, 6 sessions 4 days apart."""


def study_dataset(seed: int, d_ratio: float = 1.0, **overrides: Any):
    """Return one simulated WT/KO dataset and its truth (KO's d = ``d_ratio`` × WT's)."""
    from spinefit.simulate.genotypes import simulate_wt_ko

    options = STUDY_DATA | {"animal_sd": NULL_ANIMAL_SD} | overrides
    return simulate_wt_ko(random_seed=seed, ko_d_factor=d_ratio, ko_formation_factor=1.0, **options)


def run_one(
    seed: int,
    *,
    d_ratio: float = 1.0,
    likelihood: str = "moments",
    draws: int = 500,
    tune: int = 500,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit one simulated dataset by condition and return what the comparison found.

    Returns
    -------
    dict
        ``seed``, ``d_ratio``, ``primary_findings`` (names), ``excluded`` (every scalar
        quantity whose 94% HDI of the judged contrast excludes 0), ``n_scalar``, the
        ``d`` row, divergences, max R-hat and seconds.
    """
    from spinefit.compare import compare
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.stats import sampler_diagnostics

    start = time.perf_counter()
    data, _ = study_dataset(seed, d_ratio, **(data_options or {}))
    model = ConditionalDriftDiffusion(
        {
            "likelihood": likelihood,
            "loo": False,
            "reference": "WT",
            "turnover_counts": "overdispersed",
        }
    )
    settings = SamplerSettings(
        draws=draws, tune=tune, chains=2, random_seed=seed, progressbar=False, ess_target=0
    )
    tree = model.fit(data, settings)
    result = compare(tree, grid=None)
    rows = {name: by_label["KO"] for name, by_label in result["contrasts"].items()}
    diagnostics = sampler_diagnostics(tree, ["a", "b", "c", "d"])
    return {
        "seed": seed,
        "d_ratio": d_ratio,
        "likelihood": likelihood,
        "primary": result["primary"],
        "primary_findings": [n for n, r in rows.items() if r.get("finding")],
        "excluded": [n for n, r in rows.items() if r["direction"]],
        "n_scalar": len(rows),
        "d": rows["d"],
        "divergences": diagnostics["divergences"],
        "max_r_hat": diagnostics["max_r_hat"],
        "seconds": time.perf_counter() - start,
    }


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Return the share of datasets with a primary finding and per-quantity exclusion rates.

    Intervals are exact (Clopper–Pearson) 95% binomial intervals.
    """
    records = list(records)
    n = len(records)
    any_primary = sum(bool(r["primary_findings"]) for r in records)
    names = sorted({n for r in records for n in (*r["excluded"], *r["primary"])} | {"d"})
    per_quantity = {name: sum(name in r["excluded"] for r in records) for name in names}
    total_excluded = sum(len(r["excluded"]) for r in records)
    total_rows = sum(r["n_scalar"] for r in records)
    return {
        "n_datasets": n,
        "any_primary_finding": any_primary,
        "any_primary_rate": any_primary / n if n else math.nan,
        "any_primary_ci95": clopper_pearson(any_primary, n),
        "per_quantity_excluded": per_quantity,
        "pooled_quantity_rate": total_excluded / total_rows if total_rows else math.nan,
        "pooled_quantity_ci95": clopper_pearson(total_excluded, total_rows),
        "d_found": sum("d" in r["primary_findings"] for r in records),
        "divergent_fits": sum(r["divergences"] > 0 for r in records),
        "median_seconds": float(np.median([r["seconds"] for r in records])) if n else math.nan,
    }


def clopper_pearson(k: int, n: int, level: float = 0.95) -> list[float]:
    """Return the exact binomial confidence interval of k successes in n trials."""
    from scipy import stats

    if n == 0:
        return [math.nan, math.nan]
    alpha = 1.0 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return [low, high]


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line (the study can be stopped and resumed)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
