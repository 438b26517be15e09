r"""Posterior predictive checks of a drift–diffusion fit against the observed sizes and turnover.

A fitted :math:`dw = \mu(w)\,dt + \sigma(w)\,dB` predicts, for each posterior draw, the
stationary size distribution of a population in which spines are eliminated when they reach
the detection threshold and new spines appear with the sizes newly formed spines are seen
with (Yasumatsu et al. 2008, J Neurosci 28:13592). :func:`moments_stationary_check` compares that
prediction with the data in three ways:

1. the predictive stationary density :math:`f(w)` per draw on a size grid (and
   :math:`w f(w)`, the density of :math:`\ln w`, for semilog plots where heavy tails show),
   with its posterior mean and 94% HDI band;
2. the predicted turnover (elimination per present spine per day from the steady-state flux
   through the threshold; formation equals it in the steady state) against the fitted
   turnover rates and the raw event counts;
3. the Kolmogorov–Smirnov and Wasserstein-1 distances between the observed size distribution
   and the predicted one, each with a posterior predictive p-value: per draw a replicate
   sample of the observed size is drawn from that draw's density and its distance to the
   density is compared with the observed data's distance;
4. Sarle's bimodality coefficient of the log sizes (observed, and of each draw's
   replicate sample), with the share of replicates at least as bimodal as the data.

A draw whose stationary density does not exist (tail exponent :math:`\alpha \le 0`, read
at :data:`~spinefit.families.dynamics.TAIL_FACTOR` times the largest observed size: sizes
grow without bound) is left out of the density, quantiles and p-values and counted in the
attr ``n_draws_without_stationary_density``. On the finite grid the reflecting top would
otherwise make a density for it, piled up against the wall.

The observed sizes pool all present spine-sessions, so one spine contributes several,
correlated values. Replicates are independent draws, so the p-values are conservative in
the direction of rejecting: a well-specified model can still give small p-values on long,
strongly autocorrelated series. ``replicate_size`` (e.g. the number of spines) gives a
less strict check.

The heavy lifting is numpy on ``(draw, w)`` arrays; xarray only wraps the result.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.families.base import SDEFamily
from spinefit.families.dynamics import TAIL_FACTOR
from spinefit.families.tails import (
    BIMODALITY_THRESHOLD,
    bimodality_coefficient,
    has_stationary_density,
    tail_exponent,
)
from spinefit.io.transitions import turnover_intervals
from spinefit.results.names import (
    CONFIG_ATTR,
    DATA_GROUP,
    INPUT_HASH_ATTR,
    MODEL_ATTR,
    RESULT_PATH_ATTR,
)
from spinefit.simulate.stationary import stationary_density, stationary_elimination_rate
from spinefit.stats import HDI_PROB

__all__ = ["QUANTILE_PROBS", "moments_stationary_check", "ppc_summary"]

OBSERVATION = "observation"
"""Dim of the observed sizes (one per present spine-session)."""
QUANTILE = "quantile"
"""Dim of the quantile comparison."""
PARTICLE_DRAW = "particle_draw"
"""Dim of the draws cross-checked with the particle simulator."""

QUANTILE_PROBS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""Probabilities at which observed and predicted quantiles are compared (where a fit fails)."""

MIN_NEW_SPINES = 5
"""Fewer newly appearing spines than this: the new-size log-normal uses all sizes instead."""


def moments_stationary_check(
    tree: xr.DataTree,
    model: Any,
    *,
    draws: int = 200,
    random_seed: int = 0,
    n_grid: int = 500,
    grid_max_factor: float = 3.0,
    replicate_size: int | None = None,
    n_particles: int | None = None,
    particle_draws: int = 4,
    particle_dt: float = 0.01,
) -> xr.Dataset:
    r"""Compare a drift–diffusion result's predicted stationary sizes and turnover with data.

    Parameters
    ----------
    tree : xarray.DataTree
        A drift–diffusion result, moments likelihood (``posterior`` with a, b, c, d
        [, the family's parameters], ``elimination_per_day``, ``formation_per_day``; and
        the ``data`` group). :func:`spinefit.check.ppc.stationary_check` sends latent
        fits to :func:`spinefit.check.latent.latent_stationary_check` instead.
    model : DriftDiffusion
        The model of ``tree`` (:func:`spinefit.models.model_of`).
    draws : int
        Number of posterior draws picked (at random without replacement; all draws if
        fewer are available); those without a stationary density are then left out.
    random_seed : int
        Seed for the choice of draws, the replicate samples and the particle simulation.
    n_grid : int
        Number of size-grid points, geometrically spaced from the detection threshold (the
        smallest observed size) to ``grid_max_factor`` times the largest observed size. The
        top of the grid is a reflecting wall.
    grid_max_factor : float
        See ``n_grid``; > 1.
    replicate_size : int, optional
        Size of each replicate sample. Default: the number of observed sizes.
    n_particles : int, optional
        If given, also simulate ``n_particles`` sites with
        :func:`spinefit.simulate.particles.simulate_paths` for ``particle_draws`` of the
        draws (linear family only) as a cross-check of the Fokker–Planck density and rate.
    particle_draws : int
        Number of draws cross-checked with particles.
    particle_dt : float
        Euler–Maruyama step of the particle simulation, in days.

    Returns
    -------
    xarray.Dataset
        Dims ``draw`` (the selected draws; coords ``posterior_chain``, ``posterior_draw``
        say which), ``w`` (the size grid), ``observation``, ``quantile`` and, with particles,
        ``particle_draw``. Main variables: ``density`` and ``log_size_density``
        (:math:`w f(w)`) per draw with ``*_mean``, ``*_hdi_low``, ``*_hdi_high``;
        ``reinsertion_density``; ``elimination_per_day_predicted``,
        ``formation_per_day_predicted`` and the fitted ``elimination_per_day``,
        ``formation_per_day`` at the same draws; raw counts; ``ks_observed``,
        ``ks_replicate``, ``wasserstein_observed``, ``wasserstein_replicate`` per draw and
        ``ks_p_value``, ``wasserstein_p_value``; ``bimodality_observed`` (Sarle's
        coefficient of the log observed sizes), ``bimodality_replicate`` per draw and
        ``bimodality_p_value``; observed and predicted quantiles. Every variable has a
        ``units`` attr. Draws without a stationary density are left out of ``draw``; the
        attr ``n_draws_without_stationary_density`` counts them.

    Raises
    ------
    ConfigError
        If the result is not a drift–diffusion result or an option is out of range.
    DataError
        If the data group has too few present sizes, or no chosen draw has a stationary
        density.
    """
    if draws < 1:
        raise ConfigError(f"draws must be >= 1, got {draws}")
    if n_grid < 10:
        raise ConfigError(f"n_grid must be >= 10, got {n_grid}")
    if not grid_max_factor > 1:
        raise ConfigError(f"grid_max_factor must be > 1, got {grid_max_factor}")
    data = tree[DATA_GROUP].to_dataset()
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    observed, new_sizes = observed_sizes(data)
    if observed.size < 10:
        raise DataError(
            f"only {observed.size} present sizes; the stationary check needs at least 10",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    threshold = float(observed[0])
    grid = np.geomspace(threshold, grid_max_factor * float(observed[-1]), n_grid)

    log_mu, log_sd, new_size_note = _log_normal_fit(new_sizes, observed)
    reinsertion = _log_normal_pdf(grid, log_mu, log_sd)

    rng_choice, rng_replicates, rng_particles = np.random.default_rng(
        np.random.SeedSequence(random_seed)
    ).spawn(3)
    posterior = tree["posterior"].to_dataset()
    sample = posterior.stack(_sample=dims.SAMPLE_DIMS)
    n_total = sample.sizes["_sample"]
    chosen = np.sort(rng_choice.choice(n_total, size=min(draws, n_total), replace=False))
    picked = pick_draws(posterior, chosen)
    with_density = draws_with_stationary_density(model.family, picked, float(observed[-1]))
    n_without_density = int(chosen.size - with_density.sum())
    chosen = chosen[with_density]
    picked = picked.isel({dims.DRAW: np.flatnonzero(with_density)})
    curves = model.curves(picked, grid)
    drift = curves["drift"].transpose(dims.DRAW, dims.SIZE_GRID).to_numpy()
    diffusion = curves["diffusion"].transpose(dims.DRAW, dims.SIZE_GRID).to_numpy()

    density = stationary_density(
        drift, diffusion, grid, boundary="absorbing", threshold=threshold, reinsertion=reinsertion
    )
    elimination = stationary_elimination_rate(
        drift, diffusion, grid, threshold=threshold, reinsertion=reinsertion
    )
    cdf = density_cdf(density, grid)

    n_replicate = observed.size if replicate_size is None else int(replicate_size)
    if n_replicate < 1:
        raise ConfigError(f"replicate_size must be >= 1, got {replicate_size}")
    replicates = replicate_statistics(observed, grid, cdf, n_replicate, rng_replicates)

    probs = np.asarray(QUANTILE_PROBS)
    predicted_quantiles = np.stack([np.interp(probs, row, grid) for row in cdf])
    observed_quantiles = np.quantile(observed, probs)

    counts = _turnover_counts(data)
    dataset = _as_dataset(
        grid=grid,
        units=units,
        density=density,
        reinsertion=reinsertion,
        elimination=elimination,
        picked=picked,
        chain_of=sample["chain"].to_numpy()[chosen],
        draw_of=sample["draw"].to_numpy()[chosen],
        replicates=replicates,
        observed=observed,
        observed_quantiles=observed_quantiles,
        predicted_quantiles=predicted_quantiles,
        counts=counts,
    )
    dataset.attrs.update(
        {
            "detection_threshold": threshold,
            "volume_units": units,
            "new_size_log_mean": log_mu,
            "new_size_log_sd": log_sd,
            "new_size_source": new_size_note,
            "n_new_spines": int(new_sizes.size),
            "n_draws_without_stationary_density": n_without_density,
            "replicate_size": n_replicate,
            "random_seed": int(random_seed),
            "hdi_prob": HDI_PROB,
            "family": model.config["family"],
            RESULT_PATH_ATTR: str(tree.attrs.get(RESULT_PATH_ATTR, "")),
            INPUT_HASH_ATTR: str(tree.attrs.get(INPUT_HASH_ATTR, "")),
            MODEL_ATTR: str(model.name),
            CONFIG_ATTR: json.dumps(model.config),
        }
    )
    if n_particles is not None:
        if not model.family.exact_linear_moments:
            raise ConfigError("the particle cross-check simulates the linear family only")
        particles = _particle_check(
            picked,
            grid,
            cdf,
            elimination,
            threshold=threshold,
            log_mu=log_mu,
            log_sd=log_sd,
            n_particles=int(n_particles),
            n_draws=min(int(particle_draws), density.shape[0]),
            dt=particle_dt,
            rng=rng_particles,
        )
        attrs = dataset.attrs | particles.attrs
        dataset = dataset.merge(particles)
        dataset.attrs = attrs
    return dataset


# --------------------------------------------------------------------------- posterior draws


def pick_draws(posterior: xr.Dataset, chosen: NDArray[np.intp]) -> xr.Dataset:
    """Return the posterior draws at positions ``chosen`` of the stacked (chain, draw).

    Parameters
    ----------
    posterior : xarray.Dataset
        The ``posterior`` group.
    chosen : numpy.ndarray
        Positions in the chain-major stack of all draws.

    Returns
    -------
    xarray.Dataset
        The variables along one ``draw`` dim without coords, with the posterior's attrs
        (``size_scale``).
    """
    sample = posterior.stack(_sample=dims.SAMPLE_DIMS).isel(_sample=chosen)
    picked = sample.drop_vars(["_sample", *dims.SAMPLE_DIMS]).rename({"_sample": dims.DRAW})
    picked.attrs = dict(posterior.attrs)
    return picked


def draws_with_stationary_density(
    family: SDEFamily, draws: xr.Dataset, largest_size: float, source: str | None = None
) -> NDArray[np.bool_]:
    r"""Return which draws have a stationary size density (tail exponent :math:`\alpha > 0`).

    :math:`\alpha` is read with :func:`spinefit.families.tails.tail_exponent` from the
    family's :math:`\mu(w)` and :math:`\sigma^2(w)` at
    :data:`~spinefit.families.dynamics.TAIL_FACTOR` times ``largest_size``, as in the
    summary's ``tail``. For the linear family :math:`\alpha = 1 - 2b/d`, so draws with
    :math:`b \ge d/2` have none.

    Parameters
    ----------
    family : SDEFamily
        The fitted family.
    draws : xarray.Dataset
        Family parameters (volume units) along ``draw``; attr ``size_scale`` (s of the fit,
        1 if absent).
    largest_size : float
        The largest observed size (volume units).
    source : str, optional
        Named in the error.

    Returns
    -------
    numpy.ndarray
        Bool per draw.

    Raises
    ------
    DataError
        If no draw has a stationary density.
    """
    scale = float(draws.attrs.get("size_scale", 1.0))
    far = TAIL_FACTOR * float(largest_size)

    def curve(key: str):
        def values(w):
            out = family.curves(draws, np.atleast_1d(w), scale)[key]
            return out.transpose(dims.DRAW, dims.SIZE_GRID).to_numpy()

        return values

    alpha = tail_exponent(curve("drift"), curve("variance"), far)[:, 0]
    has_density = has_stationary_density(alpha)
    if not has_density.any():
        raise DataError(
            f"none of the {alpha.size} posterior draws checked has a stationary size density "
            f"(tail exponent α ≤ 0 at {far:.3g}, {TAIL_FACTOR:g} × the largest observed "
            "size): the fitted sizes grow without bound, so there is no predicted size "
            "distribution to check",
            source=source,
        )
    return has_density


# --------------------------------------------------------------------------- numpy layer


def observed_sizes(data: xr.Dataset) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return all present sizes (sorted) and the first sizes of newly appearing spines.

    A spine *appears* at a session where it is present after being absent at the previous
    session (in time order); spines present at the first session are not counted, since
    their appearance was not observed.

    Parameters
    ----------
    data : xarray.Dataset
        A time series with ``volume(spine, session)`` and ``time_days(session)``; absent
        spines are NaN (or 0).

    Returns
    -------
    observed, new_sizes : numpy.ndarray
        Sorted sizes of all present spine-sessions; sizes of newly appeared spines.
    """
    ordered = data.sortby(dims.TIME_DAYS)
    volume = ordered[dims.VOLUME].transpose(dims.SPINE, dims.SESSION).to_numpy().astype(float)
    present = np.isfinite(volume) & (volume > 0)
    appeared = present[:, 1:] & ~present[:, :-1]
    return np.sort(volume[present]), volume[:, 1:][appeared]


def density_cdf(density: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray:
    """Cumulative distribution of densities on a grid (trapezoid rule), ending at exactly 1.

    Parameters
    ----------
    density : numpy.ndarray
        Shape ``(..., n_grid)``, non-negative.
    grid : numpy.ndarray
        Shape ``(n_grid,)``.

    Returns
    -------
    numpy.ndarray
        Same shape; the CDF at the grid points, linear in between.
    """
    pieces = 0.5 * np.diff(grid) * (density[..., 1:] + density[..., :-1])
    cdf = np.zeros(density.shape)
    np.cumsum(pieces, axis=-1, out=cdf[..., 1:])
    return cdf / cdf[..., -1:]


def distances_to_cdf(
    sorted_sample: NDArray[np.float64], grid: NDArray[np.float64], cdf: NDArray[np.float64]
) -> tuple[float, float]:
    r"""Return the KS and Wasserstein-1 distances between a sample and a gridded distribution.

    The distribution's CDF :math:`F` is linear between grid points (a piecewise-constant
    density is not assumed, only linear interpolation of the CDF), so both distances are
    exact for that :math:`F`: KS is evaluated on both sides of every sample point, and
    :math:`W_1 = \int |F_n - F|\,dw` is integrated piece by piece between the merged grid
    and sample points, where :math:`F_n` is constant and :math:`F` linear.

    Parameters
    ----------
    sorted_sample : numpy.ndarray
        Sample, sorted ascending, shape ``(n,)``.
    grid, cdf : numpy.ndarray
        Grid and CDF values on it, shape ``(n_grid,)``.

    Returns
    -------
    ks, wasserstein : float
        Sup-distance of the CDFs (dimensionless) and W1 (in size units).
    """
    n = sorted_sample.size
    at_sample = np.interp(sorted_sample, grid, cdf)
    rank = np.arange(1, n + 1) / n
    ks = max(float(np.max(rank - at_sample)), float(np.max(at_sample - (rank - 1.0 / n))))

    points = np.sort(np.concatenate([grid, sorted_sample]))
    model_cdf = np.interp(points, grid, cdf)
    empirical = np.searchsorted(sorted_sample, points[:-1], side="right") / n
    gap_start = model_cdf[:-1] - empirical
    gap_end = model_cdf[1:] - empirical
    width = np.diff(points)
    total = np.abs(gap_start) + np.abs(gap_end)
    same_sign = gap_start * gap_end >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = (gap_start**2 + gap_end**2) / (2.0 * total)
    pieces = np.where(same_sign, 0.5 * total, crossing) * width
    return ks, float(np.sum(pieces))


def replicate_statistics(
    observed: NDArray[np.float64],
    grid: NDArray[np.float64],
    cdf: NDArray[np.float64],
    n_replicate: int,
    rng: np.random.Generator,
) -> dict[str, NDArray[np.float64]]:
    """Statistics of the observed sample and of one replicate sample per draw.

    Per draw: the KS and Wasserstein-1 distances of the observed sample and of a replicate
    to that draw's CDF, and Sarle's bimodality coefficient of the replicate's log sizes.
    Replicates are drawn by inverse-CDF sampling of the piecewise-linear CDF, so they come
    from exactly the distribution the distances are measured against.

    Parameters
    ----------
    observed : numpy.ndarray
        Observed sizes (> 0), sorted ascending.
    grid : numpy.ndarray
        Size grid (> 0), shape ``(n_grid,)``.
    cdf : numpy.ndarray
        CDF per draw, shape ``(n_draw, n_grid)``.
    n_replicate : int
        Size of each replicate sample.
    rng : numpy.random.Generator
        Source of the replicate samples (one block of uniforms per draw, in draw order).

    Returns
    -------
    dict
        ``ks_observed``, ``ks_replicate``, ``wasserstein_observed``,
        ``wasserstein_replicate`` and ``bimodality_replicate``, each of shape
        ``(n_draw,)``, and ``bimodality_observed`` (0-d: it does not depend on the draw).
    """
    n_draw = cdf.shape[0]
    out = {
        key: np.empty(n_draw)
        for key in (
            "ks_observed",
            "ks_replicate",
            "wasserstein_observed",
            "wasserstein_replicate",
            "bimodality_replicate",
        )
    }
    for k in range(n_draw):
        replicate = np.sort(np.interp(rng.random(n_replicate), cdf[k], grid))
        out["ks_observed"][k], out["wasserstein_observed"][k] = distances_to_cdf(
            observed, grid, cdf[k]
        )
        out["ks_replicate"][k], out["wasserstein_replicate"][k] = distances_to_cdf(
            replicate, grid, cdf[k]
        )
        out["bimodality_replicate"][k] = bimodality_coefficient(np.log(replicate))
    out["bimodality_observed"] = bimodality_coefficient(np.log(observed))
    return out


def hdi_numpy(values: NDArray[np.float64], prob: float = HDI_PROB) -> tuple[NDArray, NDArray]:
    """Shortest interval holding ``prob`` of the draws along axis 0 (as in ArviZ).

    Parameters
    ----------
    values : numpy.ndarray
        Draws along the first axis, any trailing shape.
    prob : float
        Probability mass of the interval.

    Returns
    -------
    low, high : numpy.ndarray
        Bounds with the trailing shape of ``values``.
    """
    ordered = np.sort(values, axis=0)
    n = ordered.shape[0]
    inside = max(int(math.floor(prob * n)), 0)
    if inside >= n - 1 or n < 2:
        return ordered[0], ordered[-1]
    widths = ordered[inside:] - ordered[: n - inside]
    start = np.argmin(widths, axis=0)[np.newaxis]
    low = np.take_along_axis(ordered, start, axis=0)[0]
    high = np.take_along_axis(ordered, start + inside, axis=0)[0]
    return low, high


def _log_normal_fit(
    new_sizes: NDArray[np.float64], observed: NDArray[np.float64]
) -> tuple[float, float, str]:
    """Maximum-likelihood log-normal of new-spine sizes (all sizes if too few appeared)."""
    if new_sizes.size >= MIN_NEW_SPINES and np.std(np.log(new_sizes)) > 0:
        logs, note = np.log(new_sizes), "first observed sizes of newly appearing spines"
    else:
        logs = np.log(observed)
        note = (
            f"all present sizes (only {new_sizes.size} newly appearing spines, "
            f"fewer than {MIN_NEW_SPINES})"
        )
    return float(np.mean(logs)), float(np.std(logs)), note


def _log_normal_pdf(grid: NDArray[np.float64], log_mu: float, log_sd: float) -> NDArray:
    z = (np.log(grid) - log_mu) / log_sd
    return np.exp(-0.5 * z**2) / (grid * log_sd * math.sqrt(2.0 * math.pi))


def _turnover_counts(data: xr.Dataset) -> dict[str, float]:
    table = turnover_intervals(data)
    spine_days = float((table["present_start"] * table["dt_days"]).sum())
    eliminated = int(table["eliminated"].sum())
    formed = int(table["formed"].sum())
    return {
        "eliminations": eliminated,
        "formations": formed,
        "spine_days_at_risk": spine_days,
        # Events per present-spine-day: the Poisson MLE of the model's formation rate, and a
        # crude (first-order in λΔt, so low) estimate of its elimination rate.
        "elimination_per_day_crude": eliminated / spine_days if spine_days > 0 else np.nan,
        "formation_per_day_crude": formed / spine_days if spine_days > 0 else np.nan,
    }


def _particle_check(
    picked: xr.Dataset,
    grid: NDArray[np.float64],
    cdf: NDArray[np.float64],
    elimination: NDArray[np.float64],
    *,
    threshold: float,
    log_mu: float,
    log_sd: float,
    n_particles: int,
    n_draws: int,
    dt: float,
    rng: np.random.Generator,
) -> xr.Dataset:
    """Simulate particles for the first ``n_draws`` draws; compare with the density and rate."""
    from spinefit.simulate.particles import simulate_paths

    ks = np.empty(n_draws)
    rate = np.empty(n_draws)
    observe_days = 200.0
    for k in range(n_draws):
        a, b, c, d = (float(picked[name].values[k]) for name in "abcd")
        # Long enough for the slowest of relaxation (1/|b|) and renewal (1/r) to forget the
        # log-normal start; capped so a near-critical draw cannot stall the check.
        burn_in = min(max(100.0, 10.0 / max(abs(b), 1e-9), 10.0 / elimination[k]), 2000.0)
        sizes, _, eliminated = simulate_paths(
            a,
            b,
            c,
            d,
            n_spines=n_particles,
            times_days=[0.0, observe_days],
            dt=dt,
            threshold=threshold,
            formation_rate=1.0,
            new_size_mu=log_mu,
            new_size_sigma=log_sd,
            burn_in_days=burn_in,
            random_seed=int(rng.integers(2**31)),
            return_events=True,
        )
        alive = np.isfinite(sizes)
        spine_days = 0.5 * (alive[:, 0].sum() + alive[:, 1].sum()) * observe_days
        rate[k] = eliminated[:, 1].sum() / spine_days if spine_days > 0 else np.nan
        final = np.sort(sizes[:, 1][alive[:, 1]])
        ks[k] = distances_to_cdf(final, grid, cdf[k])[0] if final.size else np.nan
    return xr.Dataset(
        {
            "particle_ks": (
                PARTICLE_DRAW,
                ks,
                {"units": "1", "long_name": "KS distance of simulated particles to the density"},
            ),
            "particle_elimination_per_day": (
                PARTICLE_DRAW,
                rate,
                {"units": dims.PER_DAY, "long_name": "elimination rate of simulated particles"},
            ),
            "particle_elimination_per_day_predicted": (
                PARTICLE_DRAW,
                elimination[:n_draws],
                {"units": dims.PER_DAY, "long_name": "Fokker–Planck elimination rate"},
            ),
        },
        coords={PARTICLE_DRAW: np.arange(n_draws)},
        attrs={"n_particles": n_particles, "particle_dt": dt},
    )


# --------------------------------------------------------------------------- xarray layer


def _as_dataset(
    *,
    grid: NDArray[np.float64],
    units: str,
    density: NDArray[np.float64],
    reinsertion: NDArray[np.float64],
    elimination: NDArray[np.float64],
    picked: xr.Dataset,
    chain_of: NDArray,
    formation: NDArray[np.float64] | None = None,
    draw_of: NDArray,
    replicates: dict[str, NDArray[np.float64]],
    observed: NDArray[np.float64],
    observed_quantiles: NDArray[np.float64],
    predicted_quantiles: NDArray[np.float64],
    counts: dict[str, float],
) -> xr.Dataset:
    """Wrap the numpy results with dims, coords and units."""
    draw, w = dims.DRAW, dims.SIZE_GRID
    per_size = f"1/{units}"
    log_density = density * grid
    variables: dict[str, tuple] = {
        "density": ((draw, w), density, {"units": per_size, "long_name": "stationary density"}),
        "log_size_density": (
            (draw, w),
            log_density,
            {"units": "1", "long_name": "w·f(w): stationary density of ln w"},
        ),
        "reinsertion_density": (
            w,
            reinsertion / np.trapezoid(reinsertion, grid),
            {"units": per_size, "long_name": "log-normal density of new-spine sizes"},
        ),
        "elimination_per_day_predicted": (
            draw,
            elimination,
            {"units": dims.PER_DAY, "long_name": "steady-state elimination per present spine"},
        ),
        "formation_per_day_predicted": (
            draw,
            elimination if formation is None else formation,
            {"units": dims.PER_DAY, "long_name": "steady-state formation per present spine"},
        ),
        "observed_size": (
            OBSERVATION,
            observed,
            {"units": units, "long_name": "sizes of all present spine-sessions"},
        ),
        "observed_quantile": (QUANTILE, observed_quantiles, {"units": units}),
        "predicted_quantile": ((draw, QUANTILE), predicted_quantiles, {"units": units}),
    }
    for name, values in (("density", density), ("log_size_density", log_density)):
        low, high = hdi_numpy(values)
        attrs = variables[name][2]
        variables[f"{name}_mean"] = (w, values.mean(axis=0), dict(attrs))
        variables[f"{name}_hdi_low"] = (w, low, dict(attrs))
        variables[f"{name}_hdi_high"] = (w, high, dict(attrs))
    for name in ("elimination_per_day", "formation_per_day"):
        if name in picked:
            variables[name] = (
                draw,
                picked[name].to_numpy(),
                {"units": dims.PER_DAY, "long_name": "fitted turnover rate (posterior)"},
            )
    for stat in ("ks", "wasserstein"):
        unit = "1" if stat == "ks" else units
        for kind, label in (("observed", "observed data"), ("replicate", "replicate sample")):
            variables[f"{stat}_{kind}"] = (
                draw,
                replicates[f"{stat}_{kind}"],
                {"units": unit, "long_name": f"distance of {label}"},
            )
        p_value = float(np.mean(replicates[f"{stat}_replicate"] >= replicates[f"{stat}_observed"]))
        variables[f"{stat}_p_value"] = (
            (),
            p_value,
            {"units": "1", "long_name": "fraction of draws with replicate distance >= observed"},
        )
    bimodality_observed = float(replicates["bimodality_observed"])
    bimodality_replicate = replicates["bimodality_replicate"]
    variables["bimodality_observed"] = (
        (),
        bimodality_observed,
        {"units": "1", "long_name": "Sarle's bimodality coefficient of ln(observed size)"},
    )
    variables["bimodality_replicate"] = (
        draw,
        bimodality_replicate,
        {"units": "1", "long_name": "Sarle's bimodality coefficient of ln(replicate size)"},
    )
    variables["bimodality_p_value"] = (
        (),
        float(np.mean(bimodality_replicate >= bimodality_observed)),
        {"units": "1", "long_name": "fraction of draws with replicate bimodality >= observed"},
    )
    for key, value in counts.items():
        unit = "1" if key in ("eliminations", "formations") else dims.PER_DAY
        if key == "spine_days_at_risk":
            unit = dims.DAY
        variables[key] = ((), value, {"units": unit})
    return xr.Dataset(
        variables,
        coords={
            draw: np.arange(density.shape[0]),
            w: (w, grid, {"units": units, "long_name": "spine size"}),
            "posterior_chain": (draw, np.asarray(chain_of)),
            "posterior_draw": (draw, np.asarray(draw_of)),
            OBSERVATION: np.arange(observed.size),
            QUANTILE: (QUANTILE, np.asarray(QUANTILE_PROBS), {"units": "1"}),
        },
    )


# --------------------------------------------------------------------------- summary


def _interval(values: NDArray[np.float64]) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": None, "hdi_low": None, "hdi_high": None}
    low, high = hdi_numpy(values)
    return {"mean": float(values.mean()), "hdi_low": float(low), "hdi_high": float(high)}


def _floats(values: Any) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in np.asarray(values).ravel()]


def ppc_summary(ds: xr.Dataset) -> dict[str, Any]:
    """Return the JSON-ready summary of a :func:`spinefit.check.ppc.stationary_check` Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        The output of :func:`spinefit.check.ppc.stationary_check` (or the same read back
        from netCDF).

    Returns
    -------
    dict
        ``{"stationary": {"w", "mean", "hdi_low", "hdi_high", "log_size_density",
        "units", "ks", "wasserstein", "bimodality", "quantiles"}, "turnover":
        {"elimination_per_day": {"predicted", "observed"}, "formation_per_day": {...},
        "counts"}, "settings"}``. Distances give ``observed`` (posterior mean of the
        observed data's distance), its HDI, ``replicate`` (mean replicate distance) and
        ``p_value``; ``bimodality`` gives the observed coefficient, the replicates' mean
        and HDI, ``p_value`` and the ``threshold`` above which it suggests two modes.
        ``settings`` counts the ``draws`` used and the ``draws_without_stationary_density``
        left out.
    """
    units = ds.attrs.get("volume_units", dims.DEFAULT_VOLUME_UNITS)
    stationary: dict[str, Any] = {
        "w": _floats(ds[dims.SIZE_GRID].values),
        "mean": _floats(ds["density_mean"].values),
        "hdi_low": _floats(ds["density_hdi_low"].values),
        "hdi_high": _floats(ds["density_hdi_high"].values),
        "log_size_density": {
            "mean": _floats(ds["log_size_density_mean"].values),
            "hdi_low": _floats(ds["log_size_density_hdi_low"].values),
            "hdi_high": _floats(ds["log_size_density_hdi_high"].values),
        },
        "units": {"w": units, "density": f"1/{units}", "log_size_density": "1"},
    }
    for stat in ("ks", "wasserstein"):
        observed = _interval(ds[f"{stat}_observed"].values)
        stationary[stat] = {
            "observed": observed["mean"],
            "observed_hdi_low": observed["hdi_low"],
            "observed_hdi_high": observed["hdi_high"],
            "replicate": float(np.mean(ds[f"{stat}_replicate"].values)),
            "p_value": float(ds[f"{stat}_p_value"]),
            "units": ds[f"{stat}_observed"].attrs["units"],
        }
    if "bimodality_observed" in ds:  # checks saved before the statistic existed lack it
        replicate = _interval(ds["bimodality_replicate"].values)
        stationary["bimodality"] = {
            "observed": float(ds["bimodality_observed"]),
            "replicate": replicate["mean"],
            "replicate_hdi_low": replicate["hdi_low"],
            "replicate_hdi_high": replicate["hdi_high"],
            "p_value": float(ds["bimodality_p_value"]),
            "threshold": BIMODALITY_THRESHOLD,
            "units": "1",
        }
    stationary["quantiles"] = {
        "prob": _floats(ds[QUANTILE].values),
        "observed": _floats(ds["observed_quantile"].values),
        "predicted": [
            _interval(ds["predicted_quantile"].isel({QUANTILE: i}).values)
            for i in range(ds.sizes[QUANTILE])
        ],
    }

    turnover: dict[str, Any] = {}
    for name in ("elimination_per_day", "formation_per_day"):
        observed = _interval(ds[name].values) if name in ds else {}
        observed["crude"] = float(ds[f"{name}_crude"])
        turnover[name] = {
            "predicted": _interval(ds[f"{name}_predicted"].values),
            "observed": observed,
            "units": dims.PER_DAY,
        }
    turnover["counts"] = {
        "eliminations": int(ds["eliminations"]),
        "formations": int(ds["formations"]),
        "spine_days_at_risk": float(ds["spine_days_at_risk"]),
    }
    out: dict[str, Any] = {
        "stationary": stationary,
        "turnover": turnover,
        "settings": {
            "draws": int(ds.sizes[dims.DRAW]),
            "random_seed": int(ds.attrs.get("random_seed", 0)),
            "replicate_size": int(ds.attrs.get("replicate_size", 0)),
            "draws_without_stationary_density": int(
                ds.attrs.get("n_draws_without_stationary_density", 0)
            ),
            "n_observed": int(ds.sizes[OBSERVATION]),
            "detection_threshold": float(ds.attrs["detection_threshold"]),
            "new_size_log_mean": float(ds.attrs["new_size_log_mean"]),
            "new_size_log_sd": float(ds.attrs["new_size_log_sd"]),
            "new_size_source": str(ds.attrs.get("new_size_source", "")),
            "family": str(ds.attrs.get("family", "")),
        },
    }
    if "pit" in ds:
        out["one_step_pit"] = {
            "n": int(ds["pit"].size),
            "ks_p_value": float(ds["pit_ks_p_value"]),
            "deciles": _floats(np.quantile(ds["pit"].values, np.linspace(0.1, 0.9, 9))),
        }
        out["settings"]["likelihood"] = str(ds.attrs.get("likelihood", ""))
    if "particle_ks" in ds:
        out["particles"] = {
            "ks": _floats(ds["particle_ks"].values),
            "elimination_per_day": _floats(ds["particle_elimination_per_day"].values),
            "elimination_per_day_predicted": _floats(
                ds["particle_elimination_per_day_predicted"].values
            ),
            "n_particles": int(ds.attrs.get("n_particles", 0)),
        }
    return _json_safe(out)


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None so the output is standard JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
