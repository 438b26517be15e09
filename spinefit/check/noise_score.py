r"""Is the latent likelihood's measurement noise unbiased at the truth? Its mean score says.

For data simulated the way the experiment produces them
(:func:`spinefit.simulate.synthetic.simulate_time_series`), the score
:math:`\partial \ln L / \partial\tau` at the true parameters has mean 0 over data sets when
the likelihood is right. A negative mean means the likelihood prefers a smaller noise
than the simulation's: something in the model adds noise of its own.

:func:`noise_scores` evaluates the score (a central difference over ±5% of τ) per data
set on the fit's grid and on a grid :data:`REFERENCE_FACTOR` times finer. The mean of
the fine grid's score tests the likelihood; the paired difference is the grid's own
error, which :data:`spinefit.models.killed_grid.CELL_VARIANCE` takes off the emission.
The study that set it (ARCHITECTURE.md, "Is the likelihood itself biased in τ?") found,
before the correction, a mean score of −44.7 ± 18.6 at τ = 0.1 (20 sets of 800 sites),
half of it the 2% floor then added in quadrature and half the cell average.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.latent_likelihood import forward, prepare_latent
from spinefit.models.latent_process import numpy_dynamics
from spinefit.simulate.synthetic import simulate_time_series

STEP = 0.05
"""Relative half-step of the central difference in τ."""
REFERENCE_FACTOR = 8
"""The reference grid has this many times the fit grid's nodes."""


def truth_draw(truth: dict[str, Any], noise_sd: float) -> dict[str, float]:
    """Return the simulation's truth as one draw of the latent model, with noise ``noise_sd``."""
    return {
        "a": truth["a"],
        "b": truth["b"],
        "c": truth["c"],
        "d": truth["d"],
        "detection_threshold": truth["threshold"],
        "measurement_cv": noise_sd,
        "birth_median": float(np.exp(truth["new_size_mu"])),
        "birth_log_sd": truth["new_size_sigma"],
        "loss_per_day": 0.0,
    }


def noise_scores(
    measurement_cv: float,
    seeds: Sequence[int],
    *,
    n_sites: int = 800,
    grid_points: int = 48,
) -> dict[str, Any]:
    """Return the score in τ at the truth for every seed, on the fit's and a fine grid.

    Parameters
    ----------
    measurement_cv : float
        The simulation's τ (> 0).
    seeds : sequence of int
        One simulated data set each.
    n_sites : int
        Sites per data set.
    grid_points : int
        Live grid nodes G of the fit (the reference has :data:`REFERENCE_FACTOR` · G).

    Returns
    -------
    dict
        ``spacing`` (h of each data set's fit grid), ``score`` and ``reference`` (lists of
        scores, 1/unit of τ).
    """
    fit = DriftDiffusion({"grid_points": grid_points})
    fine = DriftDiffusion({"grid_points": REFERENCE_FACTOR * grid_points})
    result: dict[str, list[float]] = {"spacing": [], "score": [], "reference": []}
    for seed in seeds:
        data, truth = simulate_time_series(
            n_spines=n_sites, random_seed=int(seed), measurement_cv=measurement_cv
        )
        ld = prepare_latent(data)
        result["spacing"].append(float(_dynamics(fit, ld, truth, measurement_cv).op.h))
        result["score"].append(_score(fit, ld, truth, measurement_cv))
        result["reference"].append(_score(fine, ld, truth, measurement_cv))
    return result


def _score(model: DriftDiffusion, ld, truth: dict[str, Any], noise_sd: float) -> float:
    low, high = noise_sd * (1 - STEP), noise_sd * (1 + STEP)
    up = _log_lik(model, ld, truth, high)
    down = _log_lik(model, ld, truth, low)
    return (up - down) / (high - low)


def _dynamics(model: DriftDiffusion, ld, truth: dict[str, Any], noise_sd: float):
    draw = truth_draw(truth, noise_sd)
    return numpy_dynamics(draw, ld, model.config, model.family_in_size_units)


def _log_lik(model: DriftDiffusion, ld, truth: dict[str, Any], noise_sd: float) -> float:
    dyn = _dynamics(model, ld, truth, noise_sd)
    return float(sum(forward(dyn, block)[0].sum() for block in ld.blocks))


def score_table(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return the mean and standard error of the scores and of their paired difference.

    Keys ``score`` (the fit grid), ``reference`` (the fine grid) and ``grid_error``
    (score − reference), each with ``mean`` and ``se``.
    """
    values = {
        "score": np.asarray(result["score"]),
        "reference": np.asarray(result["reference"]),
    }
    values["grid_error"] = values["score"] - values["reference"]
    return {name: _mean_and_error(v) for name, v in values.items()}


def _mean_and_error(values: np.ndarray) -> dict[str, float]:
    error = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return {"mean": float(values.mean()), "se": float(error)}
