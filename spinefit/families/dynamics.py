"""Fixed points and tails of fitted SDE families, read from posterior draws.

Thin xarray layer over the numpy functions of :mod:`spinefit.families.fixed_points` and
:mod:`spinefit.families.tails`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.families.base import SDEFamily
from spinefit.families.fixed_points import fixed_points
from spinefit.families.tails import has_stationary_density, tail_exponent
from spinefit.stats import stats_of

FIXED_POINT_GRID = 400
"""Points of the geometric grid on which zeros of μ(w) are looked for."""
TAIL_FACTOR = 1e3
"""The tail exponent is read at this many times the largest observed size."""


def _draws(curve: xr.DataArray) -> np.ndarray:
    """Return a curve's values as (draw, w), draws of all chains stacked."""
    return curve.stack(_sample=dims.SAMPLE_DIMS).transpose("_sample", dims.SIZE_GRID).to_numpy()


def drift_fixed_points(
    family: SDEFamily, posterior: xr.Dataset, size_range: tuple[float, float], scale: float
) -> list[dict[str, Any]]:
    """Return the zeros of μ(w) in the observed size range (see :func:`fixed_points`).

    Parameters
    ----------
    family : SDEFamily
        The fitted family.
    posterior : xarray.Dataset
        One population's posterior (no condition dim).
    size_range : tuple of float
        Smallest and largest observed size (volume units).
    scale : float
        s of the fit.

    Returns
    -------
    list of dict
        ``{"w", "hdi_low", "hdi_high", "stable", "probability"}`` per fixed point.
    """
    grid = np.geomspace(size_range[0], size_range[1], FIXED_POINT_GRID)
    drift = family.curves(posterior, grid, scale)["drift"]
    return fixed_points(_draws(drift), grid)


def tail_summary(
    family: SDEFamily, posterior: xr.Dataset, largest_size: float, scale: float
) -> dict[str, Any]:
    r"""Return the stationary density's tail exponent and the draws that have no density.

    :math:`P(W > w) \sim w^{-\alpha}` with :math:`\alpha = 1 - 2b/d` for the linear family
    (and any family that is linear beyond the data, like the spline); it is evaluated
    numerically at :data:`TAIL_FACTOR` times the largest observed size. A draw with
    :math:`\alpha \le 0` has no normalisable stationary density.

    Returns
    -------
    dict
        ``alpha`` (posterior stats over the draws that have a stationary density),
        ``at_size`` (volume units) and ``share_without_stationary_density``.
    """
    far = float(largest_size) * TAIL_FACTOR

    def curve(key):
        return lambda w: _draws(family.curves(posterior, np.atleast_1d(w), scale)[key])

    alpha = tail_exponent(curve("drift"), curve("variance"), far)[:, 0]
    has_density = has_stationary_density(alpha)
    # α is summarised over the draws that have a stationary density: the others have no
    # tail to speak of, and their (negative or infinite) α would drag the mean off the HDI.
    kept = np.flatnonzero(has_density & np.isfinite(alpha))
    stats = {}
    if kept.size >= 2:
        draws = xr.DataArray(alpha[kept][np.newaxis, :], dims=dims.SAMPLE_DIMS)
        stats = stats_of(draws, diagnostics=False)
    return {
        "alpha": stats,
        "at_size": far,
        "share_without_stationary_density": float(np.mean(~has_density)),
    }
