"""Validation of the flexible (spline) drift on data simulated as experiments produce them.

Two cases, each a simulated time series with killing at the detection threshold, births,
measurement noise and the default irregular sessions
(:func:`spinefit.simulate.general.simulate_sde_time_series`):

* **bistable**: :func:`spinefit.simulate.general.bistable_truth`, the shape that STDP plus
  intrinsic dynamics gives (Kasai et al. 2021; the review's Fig. 3B): two stable sizes and
  an unstable one between them, so :math:`w f(w)` has a second peak at large sizes;
* **linear**: the default Kesten truth of the bundled demo.

Each is fitted with ``family="spline"`` (latent likelihood) and compared by PSIS-LOO with
the linear family; the record says whether the fixed points are recovered, whether the
truth's μ(w) lies in the band, which family LOO prefers and whether the posterior
predictive w·f(w) has the second peak.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from spinefit import dims
from spinefit.models.base import SamplerSettings
from spinefit.simulate.general import bistable_truth, linear_truth, simulate_sde_time_series
from spinefit.simulate.synthetic import DEFAULT_TRUTH

CASES = ("bistable", "linear")


def case_truth(case: str) -> dict[str, Any]:
    """Return the simulator's keyword arguments and the true fixed points of a case."""
    if case == "bistable":
        return bistable_truth() | {"fixed_points": [(0.4, True), (0.9, False), (1.6, True)]}
    t = DEFAULT_TRUTH
    return linear_truth() | {
        "description": "linear: the demo's Kesten truth",
        "fixed_points": [(-t["a"] / t["b"], True)],
    }


def second_peak(grid: np.ndarray, log_size_density: np.ndarray) -> bool:
    """Return whether w·f(w) on a geometric grid has two local maxima of note.

    A maximum counts if it is at least 20% of the highest and the curve dips by at least
    10% of the lower of the two maxima between them.
    """
    y = np.asarray(log_size_density, dtype=float)
    peaks = [i for i in range(1, y.size - 1) if y[i] >= y[i - 1] and y[i] > y[i + 1]]
    peaks = [i for i in peaks if y[i] >= 0.2 * y.max()]
    for i, j in zip(peaks, peaks[1:], strict=False):
        if y[i : j + 1].min() < 0.9 * min(y[i], y[j]):
            return True
    return False


def family_case(
    case: str,
    seed: int,
    *,
    n_sites: int = 300,
    measurement_cv: float = 0.1,
    settings: SamplerSettings | None = None,
) -> dict[str, Any]:
    """Simulate one case, fit the spline family, compare with the linear one, check the PPC.

    Returns
    -------
    dict
        ``case``, ``seed``, ``seconds``, the true and fitted ``fixed_points``,
        ``stable_recovered`` (every true fixed point lies in the HDI of a fitted one of the
        same stability with probability > 0.5), ``n_fixed_points`` (fitted with probability
        > 0.5), ``drift_coverage`` (share of grid points whose 94% band holds the true
        μ(w)), the LOO table, ``ppc_second_peak`` and the fit's diagnostics.
    """
    from spinefit.check.latent import latent_stationary_check
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.stats import count_divergences, curve_stats

    truth = case_truth(case)
    options = {k: v for k, v in truth.items() if k != "fixed_points"}
    data, _ = simulate_sde_time_series(
        **options, n_spines=n_sites, random_seed=seed, measurement_cv=measurement_cv
    )
    settings = settings or SamplerSettings(
        draws=400, tune=400, chains=2, random_seed=seed, progressbar=False
    )
    start = time.perf_counter()
    model = DriftDiffusion({"family": "spline", "compare_families": ["linear"]})
    tree = model.fit(data, settings)
    seconds = time.perf_counter() - start

    summary = model.summarize(tree)
    fitted = [p for p in summary["fixed_points"] if p["probability"] > 0.5]
    recovered = all(
        any(
            p["stable"] == stable and p["hdi_low"] <= w <= p["hdi_high"] and p["probability"] > 0.5
            for p in fitted
        )
        for w, stable in truth["fixed_points"]
    )
    observed = data[dims.VOLUME].to_numpy()
    observed = observed[np.isfinite(observed)]
    grid = np.geomspace(np.quantile(observed, 0.02), np.quantile(observed, 0.98), 30)
    drift = curve_stats(model.curves(tree["posterior"].to_dataset(), grid)["drift"], dims.SIZE_GRID)
    true_drift = truth["drift"](grid)
    inside = (np.asarray(drift["hdi_low"]) <= true_drift) & (
        true_drift <= np.asarray(drift["hdi_high"])
    )
    check = latent_stationary_check(tree, model, draws=100, random_seed=seed)
    return {
        "case": case,
        "seed": seed,
        "seconds": seconds,
        "true_fixed_points": truth["fixed_points"],
        "fixed_points": summary["fixed_points"],
        "stable_recovered": bool(recovered),
        "n_fixed_points": len(fitted),
        "drift_coverage": float(inside.mean()),
        "family_comparison": summary.get("family_comparison"),
        "ppc_second_peak": second_peak(
            check[dims.SIZE_GRID].to_numpy(), check["log_size_density_mean"].to_numpy()
        ),
        "data_second_peak": second_peak(*_log_size_histogram(observed)),
        "divergences": count_divergences(tree),
        "max_r_hat": max(
            (r for v in summary["parameters"].values() if np.isfinite(r := v.get("r_hat", 0.0))),
            default=float("nan"),
        ),
    }


def _log_size_histogram(observed: np.ndarray, bins: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Return bin centres and the density of log size (w·f(w)) of observed sizes."""
    counts, edges = np.histogram(np.log(observed), bins=bins, density=True)
    return np.exp(0.5 * (edges[1:] + edges[:-1])), counts
