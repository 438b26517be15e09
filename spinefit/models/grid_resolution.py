"""Whether the latent size grid is fine enough for the measurement noise a fit found.

The latent-process likelihood puts the true size on G nodes between ln θ and the top of
the grid, h apart in log size. A cell of width h acts like a uniform measurement error
of SD h/√12. When the data carry less noise than that (noise-free simulations, very
precise measurements), the fitted noise τ settles near h/√12 instead of the truth and
the diffusion σ(w) absorbs the rest: on the irregular-sessions recovery data (800 sites,
no noise, G = 48) τ came out 0.036 against h/√12 = 0.036, and the σ band missed the
truth above w = 0.7; at G = 96 both held it (ARCHITECTURE.md, "Noise-free data and the
grid"). :func:`grid_resolution_problem` says so after the fit, with the remedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit.models.latent_likelihood import prepare_for_config

RESOLUTION_RATIO = 1.5
"""τ (posterior median) under this many cell SDs (h/√12) is reported."""


def cell_sd(posterior: xr.Dataset, top: float, grid_points: int) -> xr.DataArray:
    """Return h/√12 per draw: the SD of a uniform error over one cell of the grid.

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
        In log size (the units of a multiplicative τ).
    """
    h = np.log(top / posterior["detection_threshold"]) / grid_points
    return h / np.sqrt(12.0)


def grid_resolution_problem(
    posterior: xr.Dataset, top: float, config: dict[str, Any]
) -> str | None:
    """Return a plain-language warning when τ is not clearly above the grid's resolution.

    Parameters
    ----------
    posterior : xarray.Dataset
        A latent-process fit's posterior (``measurement_cv``, ``detection_threshold``).
    top : float
        The grid's reflecting top (volume units).
    config : dict
        The model's config: ``grid_points``, ``noise`` and ``measurement_cv`` (a fixed τ
        is the user's choice and is not second-guessed; additive noise is in other units
        and is not checked).

    Returns
    -------
    str or None
        None when the posterior median of τ is at least :data:`RESOLUTION_RATIO` times
        that of h/√12.
    """
    if config.get("measurement_cv") is not None or config.get("noise") == "additive":
        return None
    if "measurement_cv" not in posterior or "detection_threshold" not in posterior:
        return None
    points = int(config["grid_points"])
    resolution = float(cell_sd(posterior, top, points).median())
    tau = float(posterior["measurement_cv"].median())
    if tau >= RESOLUTION_RATIO * resolution:
        return None
    return (
        f"the measurement noise τ = {tau:.3g} is within {RESOLUTION_RATIO:g}x the size "
        f"grid's own resolution (cell width/√12 = {resolution:.3g} with {points} nodes): "
        "τ and σ(w) may carry the grid's error instead of the data's; re-fit with "
        f"-o grid_points={2 * points} and compare"
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
    """Warn when the latent fit's noise τ is near the size grid's resolution.

    The ``result_warnings`` of the drift–diffusion models (assigned as their method): the
    grid check for latent-process fits, nothing for the moments likelihood.
    """
    return latent_grid_warnings(tree, model.config) if model.latent else []


__all__ = [
    "RESOLUTION_RATIO",
    "cell_sd",
    "grid_resolution_problem",
    "latent_grid_warnings",
    "latent_result_warnings",
]
