"""The latent size grid's node count, ``grid_points="auto"``: fine enough for the noise found.

The latent-process likelihood sums the emission density, a Gaussian of SD
e (:func:`~spinefit.models.killed_grid.emission_sd`: τ with a 2% floor, less the variance
the cell average adds) in log size, over nodes h apart. Such a sum is smooth in the grid's
position only while e is not small against h: by Poisson summation its relative ripple is
about 2·exp(−2π²(e/h)²), and because θ moves every node at once, the ripples of all
observations add up in θ. On noise-free data (800 spines, 8 sessions 8 days apart, the
profile of the log-likelihood over θ with every other parameter at the truth) the ripple
was 6.2 nats at e/h ≈ 0.25 (G = 48), 1.6 at 0.35, 0.7 at 0.38 and no more than the
profile's own curvature (< 0.5 nats) from e/h ≈ 0.45; at G = 48 NUTS then saw several modes
of θ (R-hat 1.06, bulk ESS 30) and at G = 96 none (ARCHITECTURE.md, Sampling). The ripple
grows with the data, though more slowly than the number of spines: at G = 48 it was 1.9,
6.2 and 12.8 nats for 200, 800 and 3200 spines, at G = 64 0.5, 1.6 and 4.0.

``"auto"`` therefore starts on :data:`BASE_GRID_POINTS` nodes and reads τ and θ from a
pilot: the run's first draws after warm-up (posterior medians). When the noise is too
small for the grid, the model is rebuilt with enough nodes for e ≥
:data:`MIN_NOISE_PER_CELL` · h (at most :data:`MAX_GRID_POINTS`) and sampled afresh from a
pilot draw; the warm-up on the coarse grid is the price. Data with τ above about half a
cell (0.04 at a typical span of 3.7 in log size) keep 48 nodes and pay nothing. The robust
start's optimum is no guide: on the noise-free long-interval data it sat at τ = 0.31,
b = −0.44 (truth −0.02) while the posterior had τ ≈ 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spinefit.errors import ConfigError
from spinefit.models.killed_grid import emission_sd
from spinefit.models.latent_likelihood import prepare_for_config

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from spinefit.models.latent_likelihood import LatentData
    from spinefit.sampling.settings import SamplerSettings

AUTO = "auto"
"""``grid_points`` value that lets a pilot of the fit choose the node count."""
BASE_GRID_POINTS = 48
"""Nodes of an ``"auto"`` grid unless the noise found needs more."""
MIN_GRID_POINTS = 16
MAX_GRID_POINTS = 400
"""Bounds of ``grid_points`` (a finer grid costs O(G²) per likelihood evaluation)."""
MIN_NOISE_PER_CELL = 0.5
"""An ``"auto"`` grid has emission SD e ≥ this many cell widths h (see module doc)."""
GRID_STEP = 8
"""An ``"auto"`` node count is a multiple of this."""


def check_grid_points(value: Any) -> int | str:
    """Return ``value`` as a node count in [16, 400] or :data:`AUTO`, else raise ConfigError."""
    if value == AUTO:
        return AUTO
    try:
        points = int(value)
    except (TypeError, ValueError):
        points = -1
    if not MIN_GRID_POINTS <= points <= MAX_GRID_POINTS:
        raise ConfigError(
            f"grid_points must be '{AUTO}' or a number between {MIN_GRID_POINTS} and "
            f"{MAX_GRID_POINTS}, got {value!r}"
        )
    return points


def grid_points_of(config: Mapping[str, Any]) -> int:
    """Return the node count a config builds with (:data:`BASE_GRID_POINTS` for ``"auto"``)."""
    points = config["grid_points"]
    return BASE_GRID_POINTS if points == AUTO else int(points)


def needed_grid_points(span: float, tau: float, points: int) -> int:
    """Return the nodes needed for noise τ found on a grid of ``points`` nodes.

    Parameters
    ----------
    span : float
        ln(top/θ): the grid's extent in log size.
    tau : float
        Measurement noise τ (log size) estimated on the coarse grid. The grid's own quantisation
        error, h²/12 in variance, is taken off it: on noise-free data a coarse grid's τ
        settled near h/√12 (with the emission's quadrature floor; kept as a margin that can
        only add nodes).
    points : int
        Nodes of the grid τ was found on.

    Returns
    -------
    int
        ``points`` when its emission SD e is at least :data:`MIN_NOISE_PER_CELL` · h, else
        the smallest multiple of :data:`GRID_STEP` above it where it is, up to
        :data:`MAX_GRID_POINTS`.
    """
    cell = span / points
    data_tau = math.sqrt(max(tau**2 - cell**2 / 12.0, 0.0))
    needed = points
    while needed < MAX_GRID_POINTS and (
        emission_sd(data_tau, span / needed) < MIN_NOISE_PER_CELL * span / needed
    ):
        needed = GRID_STEP * (needed // GRID_STEP + 1)
    return int(min(needed, MAX_GRID_POINTS))


def grid_for_pilot(
    config: Mapping[str, Any], reference: LatentData, values: Mapping[str, float]
) -> int:
    """Return the node count an ``"auto"`` grid needs for a pilot's estimates.

    Parameters
    ----------
    config : mapping
        ``grid_points`` (the nodes the pilot ran on), ``noise``, and ``measurement_cv``
        and ``detection_threshold`` (fixed values, or None when estimated).
    reference : LatentData
        The prepared data (size unit and log top of the grid).
    values : mapping
        The pilot's posterior medians of ``measurement_cv`` and ``detection_threshold``
        when the model estimates them.

    Returns
    -------
    int
        The current count when it suffices or the noise is additive (other units).
    """
    points = grid_points_of(config)
    if config["noise"] == "additive":
        return points
    tau = config["measurement_cv"]
    tau = float(values["measurement_cv"]) if tau is None else float(tau)
    theta = config["detection_threshold"]
    if theta is None:
        theta = float(values["detection_threshold"])
    span = reference.log_top - math.log(float(theta) / reference.scale)
    return needed_grid_points(span, tau, points)


def sample_with_grid_choice(
    spine_model: Any, data: xr.Dataset, settings: SamplerSettings
) -> xr.DataTree:
    """Build, sample and post-process a latent model whose ``grid_points`` is ``"auto"``.

    The model is built on :data:`BASE_GRID_POINTS` nodes; after a pilot of its first draws
    it is rebuilt with the nodes :func:`grid_for_pilot` asks for, if more. The chosen count
    replaces ``"auto"`` in ``spine_model.config``, so the saved result records it. A plain
    ``pm.sample`` run (no robustness option) has no pilot and keeps the base grid.

    Parameters
    ----------
    spine_model : SpineModel
        A latent drift–diffusion model (``build``, ``postprocess``, ``config``).
    data : xarray.Dataset
        The prepared data.
    settings : SamplerSettings
        Sampler settings.

    Returns
    -------
    xarray.DataTree
        As :meth:`SpineModel.sample` returns it.
    """
    from spinefit.models.base import sample_model

    config = spine_model.config
    config["grid_points"] = BASE_GRID_POINTS
    reference = prepare_for_config(data, config)  # size unit and top of the fit's grid
    built = {"model": spine_model.build(data)}

    def refine(values: Mapping[str, float]) -> tuple[pm.Model, str] | None:
        points = grid_for_pilot(config, reference, values)
        if points <= config["grid_points"]:
            return None
        note = (
            f"grid_points auto: the pilot's noise (τ = {values['measurement_cv']:.3g}) is "
            f"under half a cell of {config['grid_points']} nodes; re-fitted on {points}"
        )
        config["grid_points"] = points
        built["model"] = spine_model.build(data)
        return built["model"], note

    tree = sample_model(built["model"], settings, refine=refine)
    return spine_model.postprocess(tree, data, built["model"])


class AutoGridSampling:
    """Mixin of the latent drift–diffusion models: ``sample`` honours ``grid_points="auto"``.

    Put it before :class:`~spinefit.models.base.SpineModel` in the bases; the model needs
    a ``latent`` property and a ``config`` with ``grid_points``.
    """

    def sample(self, data: xr.Dataset, settings: SamplerSettings) -> xr.DataTree:
        """Sample; a latent fit with ``grid_points="auto"`` chooses its grid from a pilot."""
        if self.latent and self.config["grid_points"] == AUTO:
            return sample_with_grid_choice(self, data, settings)
        return super().sample(data, settings)


__all__ = [
    "AUTO",
    "AutoGridSampling",
    "BASE_GRID_POINTS",
    "GRID_STEP",
    "MAX_GRID_POINTS",
    "MIN_GRID_POINTS",
    "MIN_NOISE_PER_CELL",
    "check_grid_points",
    "grid_for_pilot",
    "grid_points_of",
    "needed_grid_points",
    "sample_with_grid_choice",
]
