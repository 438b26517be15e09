r"""Simultaneous credible bands for curves and vectors of contrasts, and contiguous ranges.

A pointwise 94% band excludes 0 somewhere along a 50-point curve far more often than 6% of
the time when nothing differs. The simultaneous band

.. math::

    \bar D(w) \pm q\, s(w),\qquad q = \text{94\% quantile of } \max_w |D(w) - \bar D(w)|/s(w)

over posterior draws :math:`D` covers the whole curve with 94% posterior probability
(Krivobokova, Kneib & Claeskens 2010), so "the band excludes 0 somewhere" has a
family-wise meaning. The same construction over a handful of scalar contrasts gives a
joint region for primary quantities.
"""

from __future__ import annotations

import numpy as np

from spinefit.stats import HDI_PROB


def simultaneous_band(
    draws: np.ndarray, prob: float = HDI_PROB
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Return mean, lower, upper of the simultaneous band of ``draws`` and its multiplier.

    Parameters
    ----------
    draws : ndarray (n_draws, n_points)
        Posterior draws of a curve or of a vector of contrasts.
    prob : float
        Joint posterior probability of the band.

    Returns
    -------
    mean, low, high : ndarray (n_points,)
    q : float
        The multiplier of the pointwise SD (≥ the pointwise normal quantile).
    """
    draws = np.asarray(draws, dtype=float)
    mean = draws.mean(axis=0)
    sd = draws.std(axis=0)
    safe = np.where(sd > 0, sd, 1.0)
    excess = np.max(np.abs(draws - mean) / safe, axis=1)
    q = float(np.quantile(excess, prob))
    return mean, mean - q * sd, mean + q * sd, q


def contiguous_ranges(grid: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Return ``[(first, last), ...]`` grid values of every run of True in ``mask``."""
    grid = np.asarray(grid, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(float(grid[a]), float(grid[b])) for a, b in zip(starts, stops, strict=True)]
