r"""The killed, noisy latent size process as a PyMC likelihood, and its numpy twin for draws.

Parameters beyond the drift and diffusion (see :mod:`spinefit.models.latent_likelihood`
for the likelihood itself):

* :math:`\theta` (``detection_threshold``): a spine is eliminated when its true size first
  falls to :math:`\theta`. Prior: :math:`\ln(\theta / y_{min}) \sim N(-0.3, 0.3)`, i.e.
  below the smallest observed size :math:`y_{min}` (measurement noise lets a few observed
  sizes fall below it); ``-o detection_threshold=X`` fixes it (volume units).
* :math:`\theta_d` (``detection_limit``, volume units, given, default none): with it, a
  spine is seen at a session only if its measured size is at least :math:`\theta_d`, so an
  absent spine may be alive and unseen (:mod:`spinefit.models.latent_detection_kernel`),
  and the prior of :math:`\theta` becomes :math:`\ln(\theta / \theta_d) \sim N(-0.5, 0.5)`;
  formations are first sightings, thinned by the chance that a newborn is seen.
* :math:`\tau` (``measurement_cv``): SD of :math:`\ln(y/w)` (multiplicative noise, ≈ the
  CV of repeated measurements) or of :math:`y - w` in units of the median size (additive).
  Prior HalfNormal(0.2); ``-o measurement_cv=X`` fixes it.
* the birth-size law of new spines, log-normal above :math:`\theta`: median
  ``birth_median`` (volume units, prior centred on the first sizes of new spines) and log
  SD ``birth_log_sd`` ~ LogNormal(ln 0.5, 0.5) (central 95%: 0.19–1.33), used as
  sqrt(σ_b² + 0.05²) (the grid cannot resolve a narrower law). The prior keeps σ_b away
  from 0: where few spines form, a narrow law sitting at or below θ (its newborns killed
  at once) made a funnel with the formation rate, and HalfNormal(1) gave 712 divergent
  draws of 4000 on issue 12's noise-free 8-day case (ARCHITECTURE.md);
* ``formation_per_day``: spines born above :math:`\theta` per present spine per day,
  Gamma(1, 1); the observed formations per interval are Poisson with mean
  :math:`\lambda_b n \Delta t S_b(\Delta t)` (only survivors are seen);
* ``loss_per_day``: a size-independent hazard for spines lost for other reasons,
  HalfNormal(0.1).
* with ``turnover_counts="overdispersed"``, ``formation_overdispersion`` φ ~ HalfNormal(1):
  formation counts are negative binomial with variance :math:`m + \varphi m^2`.

Derived: ``elimination_per_day``, the steady-state flux of live spines through
:math:`\theta` plus the loss, per present spine; ``threshold_elimination_share``, the part
of it that the size dynamics explain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.models.grid_choice import grid_points_of
from spinefit.models.killed_grid import (
    NUMPY,
    grid_operator,
    lognormal_nodes,
    pytensor_namespace,
)
from spinefit.models.latent_likelihood import (
    LatentData,
    dynamics,
    formation_log_likelihood,
    formation_terms,
)

THRESHOLD_PRIOR = (-0.3, 0.3)
"""Mean and SD of the prior of ln(θ / smallest observed size)."""
THRESHOLD_BELOW_LIMIT_PRIOR = (-0.5, 0.5)
"""Mean and SD of the prior of ln(θ / detection limit), when a detection limit is given."""
NOISE_PRIOR_SD = 0.2
"""HalfNormal scale of τ."""
BIRTH_SPREAD_PRIOR = (float(np.log(0.5)), 0.5)
"""Log-mean and log-SD of the LogNormal prior of the birth law's log SD σ_b."""
LOSS_PRIOR_SD = 0.1
"""HalfNormal scale of the size-independent loss hazard (per day)."""
OVERDISPERSION_PRIOR_SD = 1.0
"""HalfNormal scale of φ, the negative-binomial overdispersion of formation counts."""

DRAW_PARAMETERS = (
    "detection_threshold",
    "measurement_cv",
    "birth_median",
    "birth_log_sd",
    "formation_per_day",
    "loss_per_day",
)
"""Latent parameters a posterior draw is rebuilt from (:func:`numpy_dynamics`)."""

LATENT_PARAMETERS = (*DRAW_PARAMETERS, "elimination_per_day", "threshold_elimination_share")
"""Posterior variables the latent likelihood adds (reported next to a, b, c, d)."""


def draw_names(family_parameters: Sequence[str]) -> list[str]:
    """Names of the posterior variables a latent-process draw is rebuilt from."""
    return [*family_parameters, *DRAW_PARAMETERS]


SizeFunction = Callable[[Any], Any]


@dataclass
class LatentPart:
    r"""Spines that share one set of dynamics (the whole data, a condition, an animal).

    Attributes
    ----------
    ld : LatentData
        Their prepared time series (all parts share s and the grid top).
    drift, variance : callable
        :math:`\mu(x)`, :math:`\sigma^2(x)` in units of s (PyTensor).
    turnover_index : int
        Which turnover group (birth law, formation rate, loss) the part belongs to.
    spine_rows : ndarray, optional
        Positions of the part's spines in the whole data (for pointwise likelihoods).
    formation_log_offset, loss_log_offset : scalar or tensor
        The part's own deviation (log scale) from its turnover group's formation rate and
        loss hazard, e.g. an animal's offset within its condition (0: none).
    """

    ld: LatentData
    drift: SizeFunction
    variance: SizeFunction
    turnover_index: int = 0
    spine_rows: np.ndarray | None = None
    formation_log_offset: Any = 0.0
    loss_log_offset: Any = 0.0


def add_latent_likelihood(
    ld: LatentData,
    drift: SizeFunction,
    variance: SizeFunction,
    config: dict[str, Any],
    pointwise: bool = False,
) -> None:
    r"""Add the latent-process parameters and likelihood for one population (see module doc).

    Parameters
    ----------
    ld : LatentData
        The prepared time series.
    drift, variance : callable
        :math:`\mu(x)` and :math:`\sigma^2(x)` of PyTensor parameters, in units of the
        median size s (x = w/s).
    config : dict
        ``detection_threshold`` (None or volume units), ``measurement_cv`` (None or a
        number), ``noise``, ``grid_points`` and optionally ``turnover_counts``
        (``"poisson"`` or ``"overdispersed"``).
    """
    part = LatentPart(ld, drift, variance, spine_rows=np.arange(ld.n_spines))
    add_grouped_latent_likelihood([part], ld, config, pointwise=pointwise)


def add_grouped_latent_likelihood(
    parts: list[LatentPart],
    reference: LatentData,
    config: dict[str, Any],
    turnover_dim: str | None = None,
    pointwise: bool = False,
) -> None:
    """Add the latent likelihood of several parts with shared θ and τ.

    Parameters
    ----------
    parts : list of LatentPart
        Groups of spines with their own dynamics.
    reference : LatentData
        The whole data, prepared once: gives s, the grid top, the smallest observed size
        and the sizes of new spines for the priors.
    config : dict
        As for :func:`add_latent_likelihood`.
    turnover_dim : str, optional
        Model dim of the turnover groups (e.g. ``condition``); None for one group.
        ``formation_per_day``, ``loss_per_day``, the birth law and the derived
        ``elimination_per_day`` and ``threshold_elimination_share`` carry it.
    pointwise : bool
        Also store each spine's log-likelihood (sizes and fates after its first session;
        formation counts excluded) as ``spine_log_likelihood`` (dim ``spine``), for LOO.
        Parts must then carry ``spine_rows``, the spines' positions in the whole data.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from spinefit.models.latent_op import block_log_likelihood
    from spinefit.sampling.compiled_cache import data

    # Every number taken from the data goes through `data`: a container inside
    # compiled_cache.reuse() (batch rows, calibration replicates), a constant otherwise.
    s = data("latent_size_unit", reference.scale)
    log_top = data("latent_log_top", reference.log_top)
    prior = config.get("prior_scales") or {}  # fixed prior centres (volume units)
    log_min = reference.log_min_observed
    if prior:
        log_min = float(np.log(prior["min_size"] / reference.scale))
    limit = config.get("detection_limit")
    if limit == "auto":
        raise ValueError("detection_limit 'auto' must be resolved from the data before building")
    log_limit = None
    if limit is not None:  # a container too: batch rows may differ in their limits
        log_limit = pt.log(data("latent_detection_limit", float(limit))) - pt.log(s)
    fixed_threshold = config.get("detection_threshold")
    if fixed_threshold is None and log_limit is not None:
        offset = pm.Normal("threshold_log_offset", *THRESHOLD_BELOW_LIMIT_PRIOR)
        log_threshold = log_limit + offset
    elif fixed_threshold is None:
        offset = pm.Normal("threshold_log_offset", *THRESHOLD_PRIOR)
        log_threshold = data("latent_log_min_observed", log_min) + offset
    else:
        log_threshold = np.log(float(fixed_threshold)) - pt.log(s)
    pm.Deterministic("detection_threshold", pt.exp(log_threshold) * s)

    fixed_noise = config.get("measurement_cv")
    if fixed_noise is None:
        noise_sd = pm.HalfNormal("measurement_cv", NOISE_PRIOR_SD)
    else:
        noise_sd = pt.as_tensor(max(float(fixed_noise), 1e-6))
        pm.Deterministic("measurement_cv", noise_sd)

    centre = reference.birth_prior_centre
    if prior:
        centre = float(np.log(prior["birth_median"] / reference.scale))
    centre = data("latent_birth_prior_centre", centre)
    shape = {"dims": turnover_dim} if turnover_dim else {}
    birth_log_mean = pm.Normal("birth_log_mean", centre, 1.0, **shape)
    birth_log_sd = pm.LogNormal("birth_log_sd", *BIRTH_SPREAD_PRIOR, **shape)
    pm.Deterministic("birth_median", pt.exp(birth_log_mean) * s, **shape)
    birth_rate = pm.Gamma("formation_per_day", alpha=1.0, beta=1.0, **shape)
    loss = pm.HalfNormal("loss_per_day", LOSS_PRIOR_SD, **shape)
    dispersion = None
    if config.get("turnover_counts", "poisson") == "overdispersed":
        phi = pm.HalfNormal("formation_overdispersion", OVERDISPERSION_PRIOR_SD)
        dispersion = 1.0 / pt.maximum(phi, 1e-6)

    def per_group(value, k):
        return value[k] if turnover_dim else value

    xp = pytensor_namespace()
    total = 0.0
    if pointwise:
        per_spine = pt.zeros(reference.n_spines)
    n_groups = max(part.turnover_index for part in parts) + 1
    flux = [[] for _ in range(n_groups)]
    threshold_flux = [[] for _ in range(n_groups)]
    weights = [
        sum(float(p.ld.n_spines) for p in parts if p.turnover_index == k) for k in range(n_groups)
    ]
    for p, part in enumerate(parts):
        k = part.turnover_index
        part_loss = per_group(loss, k) * xp.exp(part.loss_log_offset)
        op = grid_operator(
            part.drift,
            part.variance,
            log_threshold,
            log_top,
            grid_points_of(config),
            part_loss,
            xp,
        )
        birth = lognormal_nodes(op, per_group(birth_log_mean, k), per_group(birth_log_sd, k))
        dyn = dynamics(op, birth, noise_sd)
        total = total + data(f"latent_{p}_log_jacobian", part.ld.log_jacobian)
        for b, block in enumerate(part.ld.blocks):
            name = f"latent_{p}_{b}"
            log_lik, log_survival = block_log_likelihood(dyn, block, part.ld.noise, name, log_limit)
            total = total + log_lik.sum()
            if pointwise:
                rows = part.spine_rows[block.rows]
                per_spine = pt.set_subtensor(per_spine[rows], log_lik + block.log_jacobian_rows)
            total = total + formation_log_likelihood(
                block,
                log_survival,
                per_group(birth_rate, k) * xp.exp(part.formation_log_offset),
                xp,
                dispersion,
                {
                    key: data(f"{name}_formation_{key}", value)
                    for key, value in formation_terms(block, log_limit is not None).items()
                },
            )
        # Steady-state flux of this part's live spines, weighted by its share of the group's
        # spines (exactly 1 for a group of one part, so one data set's counts stay out of
        # the graph).
        live = dyn.initial * op.delta
        weight = float(part.ld.n_spines) / weights[k]
        flux[k].append(weight * (live @ op.killing_rate))
        threshold_flux[k].append(weight * live[0] * (op.killing_rate[0] - part_loss))
    pm.Potential("latent_log_likelihood", total)
    if pointwise:
        pm.Deterministic("spine_log_likelihood", per_spine, dims=dims.SPINE)

    elimination = [pt.add(*f) if len(f) > 1 else f[0] for f in flux]
    through = [pt.add(*f) if len(f) > 1 else f[0] for f in threshold_flux]
    if turnover_dim:
        pm.Deterministic("elimination_per_day", pt.stack(elimination), dims=turnover_dim)
        pm.Deterministic(
            "threshold_elimination_share",
            pt.stack(through) / pt.stack(elimination),
            dims=turnover_dim,
        )
    else:
        pm.Deterministic("elimination_per_day", elimination[0])
        pm.Deterministic("threshold_elimination_share", through[0] / elimination[0])


def numpy_dynamics(draw: dict[str, float], ld: LatentData, config: dict[str, Any], family):
    """Rebuild the grid and laws of one posterior draw in numpy.

    Parameters
    ----------
    draw : dict
        Scalar posterior values (a, b, c, d, ..., and the latent parameters).
    ld : LatentData
        Prepared data (gives s and the top of the grid).
    config : dict
        Model configuration.
    family : callable
        ``family(draw, s) -> (drift, variance)`` in units of s (numpy).

    Returns
    -------
    Dynamics
    """
    s = ld.scale
    drift, variance = family(draw, s)
    op = grid_operator(
        drift,
        variance,
        np.log(draw["detection_threshold"] / s),
        ld.log_top,
        grid_points_of(config),
        draw["loss_per_day"],
        NUMPY,
    )
    birth = lognormal_nodes(op, np.log(draw["birth_median"] / s), draw["birth_log_sd"])
    return dynamics(op, birth, max(draw["measurement_cv"], 1e-6))


def draw_dicts(posterior: xr.Dataset, names: list[str], n: int | None, random_seed: int = 0):
    """Return up to ``n`` posterior draws (chosen at random, seeded) as dicts.

    Scalar variables become floats, vector variables (e.g. spline coefficients) 1-D arrays.
    """
    stacked = posterior[names].stack(_sample=dims.SAMPLE_DIMS)
    total = stacked.sizes["_sample"]
    if n is None or n >= total:
        chosen = np.arange(total)
    else:
        chosen = np.sort(np.random.default_rng(random_seed).choice(total, n, replace=False))
    values = {name: stacked[name].transpose("_sample", ...).to_numpy()[chosen] for name in names}
    draws = [
        {name: float(v[i]) if v.ndim == 1 else v[i] for name, v in values.items()}
        for i in range(chosen.size)
    ]
    return draws, chosen


def elimination_probabilities(
    draws: list[dict[str, Any]],
    ld: LatentData,
    config: dict[str, Any],
    family,
    grid: np.ndarray,
    interval_days: float,
) -> np.ndarray:
    """Return P(eliminated within ``interval_days`` | true size) per draw (rows) and size.

    ``draws``, ``ld``, ``config`` and ``family`` are those of :func:`numpy_dynamics`;
    ``grid`` holds true sizes in volume units.
    """
    return np.stack(
        [
            elimination_probability(
                numpy_dynamics(draw, ld, config, family), ld.scale, grid, interval_days
            )
            for draw in draws
        ]
    )


def elimination_probability(dyn, scale: float, grid: np.ndarray, interval_days: float):
    """Return P(eliminated within ``interval_days`` | true size w) on a size grid (volume units)."""
    killed = dyn.op.killed_within(interval_days)
    log_w = np.log(np.asarray(grid, dtype=float) / scale)
    below = log_w <= dyn.op.z[0] - dyn.op.h
    value = np.interp(log_w, dyn.op.z, killed)
    return np.where(below, 1.0, value)
