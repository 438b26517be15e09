"""Curves of a fitted SDE family per posterior draw: μ(w), σ(w) and the stationary density."""

from __future__ import annotations

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.families import get_family
from spinefit.families.base import SDEFamily

STATIONARY_POINTS = 400
"""Points of the fine grid on which stationary densities are normalised."""


def curve_draws(
    posterior: xr.Dataset, grid: np.ndarray, family: SDEFamily | None = None
) -> dict[str, xr.DataArray]:
    """Return μ(w), σ(w) and the stationary density per draw and condition.

    The stationary density is that of the fitted SDE with reflecting walls at both ends of
    ``grid`` (no turnover), normalised over the grid, so conditions are compared on the
    same size range.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior with the family's parameters (``a``, ``b``, ``c``, ``d``, ...) and, for
        families that are not scale-free, the ``size_scale`` attr.
    grid : numpy.ndarray
        Strictly increasing sizes.
    family : SDEFamily, optional
        The fitted family (default: linear); see :func:`spinefit.families.family_of_result`.

    Returns
    -------
    dict
        ``{"drift", "diffusion", "stationary"}`` DataArrays with the posterior's dims plus
        ``w``.
    """
    from spinefit.simulate.stationary import stationary_density

    family = family or get_family("linear")
    scale = float(posterior.attrs.get("size_scale", 1.0))
    curves = family.curves(posterior, grid, scale)
    # The density is computed on a fine grid over the same range and read off at ``grid``,
    # so a coarse user grid does not coarsen the normalising integral.
    fine = np.linspace(grid.min(), grid.max(), STATIONARY_POINTS)
    on_fine = family.curves(posterior, fine, scale)
    density = xr.apply_ufunc(
        lambda mu, sigma: stationary_density(mu, sigma, fine),
        on_fine["drift"],
        np.sqrt(on_fine["variance"]),
        input_core_dims=[[dims.SIZE_GRID], [dims.SIZE_GRID]],
        output_core_dims=[["w_fine"]],
    )
    w = xr.DataArray(grid, dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
    stationary = density.assign_coords(w_fine=fine).interp(w_fine=w).drop_vars("w_fine")
    return {
        "drift": curves["drift"],
        "diffusion": np.sqrt(curves["variance"]),
        "stationary": stationary,
    }
