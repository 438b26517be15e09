"""Whether the latent size grid was fine enough for the measurement noise a fit found.

The latent-process likelihood puts the true size on G nodes h apart in log size, between
ln θ and the top of the grid, and sums the emission density, of SD e
(:func:`~spinefit.models.killed_grid.emission_sd`), over them. With e under half a cell
the sum ripples as θ moves the nodes (:mod:`spinefit.models.grid_choice`), and the cell
acts like a uniform measurement error of SD h/√12 that τ and the diffusion σ(w) absorb:
on the irregular-sessions recovery data (800 sites, no noise, G = 48, h = 0.123, with the
emission's floor then added in quadrature) τ came out 0.036, exactly h/√12, and the σ
band missed the truth above w = 0.7; at G = 96 both held it (ARCHITECTURE.md, "Noise-free
data and the grid"). ``grid_points="auto"`` chooses a grid that avoids this from the
start point; :func:`grid_resolution_problem` checks the fitted posterior against the same
rule, for any grid, and names the remedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit.models.grid_choice import (
    AUTO,
    GRID_STEP,
    MIN_NOISE_PER_CELL,
    grid_points_of,
    needed_grid_points,
)
from spinefit.models.killed_grid import NOISE_FLOOR, emission_sd
from spinefit.models.latent_likelihood import prepare_for_config


def cell_width(posterior: xr.Dataset, top: float, grid_points: int) -> xr.DataArray:
    """Return the grid's cell width h per draw, in log size.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``detection_threshold`` (volume units), per draw.
    top : float
        The grid's reflecting top (volume units).
    grid_points : int
        Live nodes G.

    Returns
    -------
    xarray.DataArray
        ln(top/θ)/G per draw.
    """
    return np.log(top / posterior["detection_threshold"]) / grid_points


def grid_resolution_problem(
    posterior: xr.Dataset, top: float, config: dict[str, Any]
) -> str | None:
    """Return a plain-language warning when the emission noise is under half a grid cell.

    Parameters
    ----------
    posterior : xarray.Dataset
        A latent-process fit's posterior (``detection_threshold``, and ``measurement_cv``
        unless τ was fixed).
    top : float
        The grid's reflecting top (volume units).
    config : dict
        The model's config: ``grid_points``, ``noise`` and ``measurement_cv`` (a fixed τ is
        checked at its value; additive noise is in other units and is not checked).

    Returns
    -------
    str or None
        None when the emission SD e (:func:`~spinefit.models.killed_grid.emission_sd`),
        at the posterior medians of τ and h, is at least
        :data:`~spinefit.models.grid_choice.MIN_NOISE_PER_CELL` times h.
    """
    if config.get("noise") == "additive" or "detection_threshold" not in posterior:
        return None
    tau = config.get("measurement_cv")
    if tau is None:
        if "measurement_cv" not in posterior:
            return None
        tau = float(posterior["measurement_cv"].median())
    points = grid_points_of(config)
    cell = float(cell_width(posterior, top, points).median())
    emission = float(emission_sd(float(tau), cell))
    if emission >= MIN_NOISE_PER_CELL * cell:
        return None
    finer = max(needed_grid_points(cell * points, float(tau), points), points + GRID_STEP)
    return (
        f"the emission noise SD {emission:.3g} (τ = {tau:.3g}, floor {NOISE_FLOOR:g}) "
        f"is under {MIN_NOISE_PER_CELL:g}x the size grid's cell width h = {cell:.3g} "
        f"({points} nodes): the likelihood ripples as θ moves the nodes, and τ and σ(w) "
        f"may carry the grid's error instead of the data's; re-fit with "
        f"-o grid_points={finer} (or {AUTO}) and compare"
    )


def latent_grid_warnings(tree: xr.DataTree, config: dict[str, Any]) -> list[str]:
    """Return the grid-resolution warning of a latent-process fit, if any (see module doc).

    Parameters
    ----------
    tree : xarray.DataTree
        The fitted result, with its ``posterior`` and ``data`` groups.
    config : dict
        The model's resolved config (the grid's top follows ``grid_top`` or the data).

    Returns
    -------
    list of str
        Zero or one line.
    """
    ld = prepare_for_config(tree["data"].to_dataset(), config)
    top = ld.scale * float(np.exp(ld.log_top))
    problem = grid_resolution_problem(tree["posterior"].to_dataset(), top, config)
    return [problem] if problem else []


def latent_result_warnings(model: Any, tree: xr.DataTree) -> list[str]:
    """Warn when the latent fit's emission noise is under half the size grid's cell.

    The ``result_warnings`` of the drift–diffusion models (assigned as their method): the
    grid check for latent-process fits, nothing for the moments likelihood.
    """
    return latent_grid_warnings(tree, model.config) if model.latent else []


__all__ = [
    "cell_width",
    "grid_resolution_problem",
    "latent_grid_warnings",
    "latent_result_warnings",
]
