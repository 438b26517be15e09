r"""Is the latent likelihood's measurement noise unbiased at the truth? Its mean score says.

For data simulated the way the experiment produces them
(:func:`spinefit.simulate.synthetic.simulate_time_series`), the score
:math:`\partial \ln L / \partial\tau` at the true parameters has mean 0 over data sets when
the likelihood is right. A negative mean means the likelihood prefers a smaller noise
than the simulation's: something in the model adds noise of its own. Two candidates are
built in (:mod:`spinefit.models.killed_grid`):

* the emission's noise floor, :math:`\sqrt{\tau^2 + 0.02^2}`;
* the cell average of the emission (the true size uniform over a node's cell), which
  adds about :math:`h^2/12` to the variance of every observation (h the node spacing).

:func:`noise_scores` evaluates the score (a central difference over ±5% of τ) per data set,
with τ replaced by :math:`\sqrt{\tau^2 - v}` for each correction's variance v, so the
paired differences show how much of the mean score each candidate explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.killed_grid import NOISE_FLOOR
from spinefit.models.latent_likelihood import forward, prepare_latent
from spinefit.models.latent_process import numpy_dynamics
from spinefit.simulate.synthetic import simulate_time_series

CORRECTIONS = ("none", "floor", "floor+cell")
"""Variance taken off τ² before the likelihood: nothing, the floor², floor² + h²/12."""
STEP = 0.05
"""Relative half-step of the central difference in τ."""


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


def corrected(noise_sd: float, spacing: float, correction: str) -> float:
    """Return τ with the correction's variance taken off (floored at 1e-6)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {CORRECTIONS}")
    variance = 0.0
    if correction != "none":
        variance += NOISE_FLOOR**2
    if correction == "floor+cell":
        variance += spacing**2 / 12.0
    return float(np.sqrt(max(noise_sd**2 - variance, 1e-12)))


def noise_scores(
    measurement_cv: float,
    seeds: Sequence[int],
    *,
    n_sites: int = 800,
    grid_points: int | None = None,
) -> dict[str, Any]:
    """Return the score in τ at the truth for every seed and correction.

    Parameters
    ----------
    measurement_cv : float
        The simulation's τ (> 0).
    seeds : sequence of int
        One simulated data set each.
    n_sites : int
        Sites per data set.
    grid_points : int, optional
        Live grid nodes G (default: the model's default).

    Returns
    -------
    dict
        ``spacing`` (h of each data set's grid) and, per correction, the list of scores
        (1/unit of τ).
    """
    model = DriftDiffusion({"grid_points": grid_points} if grid_points else {})
    scores: dict[str, list[float]] = {name: [] for name in CORRECTIONS}
    spacings = []
    for seed in seeds:
        data, truth = simulate_time_series(
            n_spines=n_sites, random_seed=int(seed), measurement_cv=measurement_cv
        )
        ld = prepare_latent(data)
        spacing = _dynamics(model, ld, truth, measurement_cv).op.h
        spacings.append(float(spacing))
        low, high = measurement_cv * (1 - STEP), measurement_cv * (1 + STEP)
        for name in CORRECTIONS:
            up = _log_lik(model, ld, truth, corrected(high, spacing, name))
            down = _log_lik(model, ld, truth, corrected(low, spacing, name))
            scores[name].append((up - down) / (high - low))
    return {"spacing": spacings, **scores}


def _dynamics(model: DriftDiffusion, ld, truth: dict[str, Any], noise_sd: float):
    draw = truth_draw(truth, noise_sd)
    return numpy_dynamics(draw, ld, model.config, model.family_in_size_units)


def _log_lik(model: DriftDiffusion, ld, truth: dict[str, Any], noise_sd: float) -> float:
    dyn = _dynamics(model, ld, truth, noise_sd)
    return float(sum(forward(dyn, block)[0].sum() for block in ld.blocks))


def score_table(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return, per correction, the mean score, its standard error and the paired shift."""
    base = np.asarray(result["none"])
    table = {}
    for name in CORRECTIONS:
        values = np.asarray(result[name])
        error = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
        table[name] = {
            "mean": float(values.mean()),
            "se": float(error),
            "shift_vs_none": float((values - base).mean()),
        }
    return table
