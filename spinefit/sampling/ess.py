"""The ESS target: how many draws per chain the next round needs.

Rounds also go on while the largest R-hat exceeds 1.01 (the threshold of the convergence
warnings): once the chains are known to share one mode, an R-hat just above it is Monte
Carlo noise, which shrinks roughly as 1/ESS. On the long-interval drift–diffusion tests
one fit in six ended at R-hat 1.012 with bulk ESS above 400.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

CAP_FACTOR = 4
"""Sampling is extended to at most this many times the requested draws per chain."""
SAFETY = 1.15
"""Ask for 15% more draws than a linear extrapolation of ESS predicts: ESS estimates
are noisy, and a round that falls just short costs another pause and check."""
MIN_ROUND_FRACTION = 0.25
"""A round adds at least this fraction of the requested draws."""


RHAT_LIMIT = 1.01
"""Largest R-hat accepted, as in :func:`spinefit.stats.convergence_problems`."""


def _finite_values(result: xr.Dataset) -> np.ndarray:
    values = [np.asarray(result[name].values, dtype=float).ravel() for name in result.data_vars]
    flat = np.concatenate(values) if values else np.array([])
    return flat[np.isfinite(flat)]


def min_bulk_ess(posterior: xr.Dataset) -> float:
    """Return the smallest bulk ESS over every element of every posterior variable.

    Undefined values (constant quantities) are ignored; ``inf`` when none is defined.
    """
    import arviz_stats

    finite = _finite_values(arviz_stats.ess(posterior, method="bulk"))
    return float(finite.min()) if finite.size else math.inf


def max_rhat(posterior: xr.Dataset) -> float:
    """Return the largest R-hat over every element of every posterior variable (1 if none)."""
    import arviz_stats

    finite = _finite_values(arviz_stats.rhat(posterior))
    return float(finite.max()) if finite.size else 1.0


def ess_needed(ess: float, rhat: float, target: float) -> float:
    """Return the ESS to aim for: ``target``, or more if R-hat is above :data:`RHAT_LIMIT`.

    Assumes R-hat − 1 shrinks as 1/ESS.
    """
    if rhat <= RHAT_LIMIT or not np.isfinite(rhat):
        return target
    return max(target, ess * (rhat - 1.0) / (RHAT_LIMIT - 1.0))


def cap_draws(draws: int) -> int:
    """Return the most draws per chain the ESS target may ask for."""
    return CAP_FACTOR * draws


def next_draws(current: int, ess: float, target: float, requested: int) -> int:
    """Return the draws per chain to reach ``target``, assuming ESS grows linearly.

    Parameters
    ----------
    current : int
        Draws per chain so far.
    ess : float
        Smallest bulk ESS at ``current``.
    target : float
        ESS wanted.
    requested : int
        Draws per chain the user asked for (sets the cap and the smallest round).

    Returns
    -------
    int
        At least ``current`` plus a quarter of ``requested``, at most the cap.
    """
    needed = current * target / max(ess, 1.0) * SAFETY
    smallest = current + max(1, math.ceil(MIN_ROUND_FRACTION * requested))
    return int(min(cap_draws(requested), max(smallest, math.ceil(needed))))
