r"""Posterior predictive checks of a latent-process drift–diffusion fit.

For each posterior draw the fitted killed process gives, on the likelihood's own grid
(:mod:`spinefit.models.killed_grid`):

* the steady-state distribution of live spines with births at the fitted birth-size law,
  convolved with the fitted measurement noise: the predicted distribution of *observed*
  sizes, compared with the data by KS and Wasserstein distances and by the bimodality of
  the log sizes, with posterior predictive p-values (as in
  :func:`spinefit.check.ppc.stationary_check`). Draws without a stationary density (tail
  exponent :math:`\alpha \le 0`), whose steady state on the grid is an artefact of its
  reflecting top, are left out and counted;
* the turnover seen at the imaging intervals: the probability that a present spine is gone
  at the next session (absorption through :math:`\theta` at any time in the interval, or
  loss) and the expected formations that survive to be seen, per present spine-day at
  risk, against the same ratios of the counted events;
* the probability integral transform (PIT) of every present → present observation under
  its one-step predictive distribution (the forward filter's prediction, averaged over
  draws), which is uniform when the model is right.

With a detection limit (``-o detection_limit``) the predicted sizes are cut at the limit,
a spine dead or unseen at the next session counts as eliminated, and formations are first
sightings. The PIT still uses the filter without the limit (a gap ends a track), and its
predictive distribution is not cut at the limit, so sizes just above the limit get PIT
values a little too low there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy import stats as sps

from spinefit import dims
from spinefit.check.stationary import (
    QUANTILE_PROBS,
    _as_dataset,
    _turnover_counts,
    density_cdf,
    draws_with_stationary_density,
    observed_sizes,
    pick_draws,
    replicate_statistics,
)
from spinefit.errors import DataError
from spinefit.models.killed_grid import emission_sd, log_emission
from spinefit.models.latent_likelihood import (
    forward,
    prepare_for_config,
    resolve_detection_limit,
)
from spinefit.models.latent_op import unseen_probability
from spinefit.models.latent_process import draw_dicts, draw_names, numpy_dynamics
from spinefit.results.names import DATA_GROUP

PIT_OBSERVATION = "pit_observation"
"""Dim of the PIT values (one per present → present observation)."""


def latent_stationary_check(
    tree: xr.DataTree,
    model: Any,
    *,
    draws: int = 200,
    random_seed: int = 0,
    n_grid: int = 400,
    replicate_size: int | None = None,
    pit_draws: int = 50,
) -> xr.Dataset:
    """Compare a latent-process fit's predicted sizes, turnover and one-step predictions with data.

    Parameters
    ----------
    tree : xarray.DataTree
        A drift–diffusion result fitted with the latent likelihood.
    model : DriftDiffusion
        The model rebuilt from the result (its config and family).
    draws : int
        Posterior draws picked for the densities and turnover; those without a stationary
        density are then left out (attr ``n_draws_without_stationary_density``).
    random_seed : int
        Seed of the choice of draws and of the replicate samples.
    n_grid : int
        Points of the common size grid (geometric, from half the smallest to twice the
        largest observed size).
    replicate_size : int, optional
        Size of each replicate sample (default: the number of observed sizes).
    pit_draws : int
        Draws averaged in the one-step predictive distribution of the PIT.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`spinefit.check.ppc.stationary_check` plus ``pit`` (PIT values)
        and ``pit_ks_p_value`` (KS test of uniformity).

    Raises
    ------
    DataError
        If the data have fewer than 10 present sizes, or no picked draw has a stationary
        density.
    """
    data = tree[DATA_GROUP].to_dataset()
    resolve_detection_limit(model.config, data)  # a config without the key: as the fit did
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    observed, _ = observed_sizes(data)
    if observed.size < 10:
        raise DataError(
            f"only {observed.size} present sizes; the stationary check needs at least 10",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    noise = model.config["noise"]
    ld = prepare_for_config(data, model.config)
    posterior = tree["posterior"].to_dataset()
    names = draw_names(model.family.parameter_names)
    rng_choice, rng_replicates = np.random.default_rng(np.random.SeedSequence(random_seed)).spawn(2)
    picked_draws, chosen = draw_dicts(posterior, names, draws, int(rng_choice.integers(2**31)))
    with_density = draws_with_stationary_density(
        model.family,
        pick_draws(posterior[model.family.parameter_names], chosen),
        float(observed[-1]),
        source=data.attrs.get(dims.ATTR_SOURCE),
    )
    n_without_density = int(chosen.size - with_density.sum())
    picked_draws = [draw for draw, keep in zip(picked_draws, with_density, strict=True) if keep]
    chosen = chosen[with_density]
    grid = np.geomspace(0.5 * observed[0], 2.0 * observed[-1], n_grid)
    log_grid = np.log(grid / ld.scale)
    family = model.family_in_size_units
    limit = model.config.get("detection_limit")
    log_limit = None if limit is None else float(np.log(limit / ld.scale))
    detected = np.ones(n_grid) if limit is None else (grid >= limit).astype(float)

    density = np.empty((len(picked_draws), n_grid))
    elimination = np.empty(len(picked_draws))
    formation = np.empty(len(picked_draws))
    birth = np.zeros(n_grid)
    for k, draw in enumerate(picked_draws):
        dyn = numpy_dynamics(draw, ld, model.config, family)
        op = dyn.op
        live = dyn.initial * op.delta
        emission = np.exp(log_emission(op, log_grid, dyn.noise_sd, noise))
        jacobian = grid if noise == "multiplicative" else np.full(n_grid, ld.scale)
        density[k] = (emission @ live) / jacobian * detected
        newborn = dyn.birth * op.delta  # sums to < 1: births on the threshold node die at once
        birth += (emission @ (newborn / newborn.sum())) / jacobian * detected
        elimination[k], formation[k] = _interval_turnover(
            dyn, ld, draw["formation_per_day"], log_limit
        )
    birth /= len(picked_draws)

    cdf = density_cdf(density, grid)
    n_replicate = observed.size if replicate_size is None else int(replicate_size)
    replicates = replicate_statistics(observed, grid, cdf, n_replicate, rng_replicates)
    probs = np.asarray(QUANTILE_PROBS)
    predicted_quantiles = np.stack([np.interp(probs, row, grid) for row in cdf])
    stacked = posterior.stack(_sample=dims.SAMPLE_DIMS).isel(_sample=chosen)
    picked = xr.Dataset(
        {
            name: (dims.DRAW, stacked[name].to_numpy())
            for name in ("elimination_per_day", "formation_per_day")
        }
    )
    dataset = _as_dataset(
        grid=grid,
        units=units,
        density=density,
        reinsertion=birth,
        elimination=elimination,
        formation=formation,
        picked=picked,
        chain_of=stacked["chain"].to_numpy(),
        draw_of=stacked["draw"].to_numpy(),
        replicates=replicates,
        observed=observed,
        observed_quantiles=np.quantile(observed, probs),
        predicted_quantiles=predicted_quantiles,
        counts=_counts(data, ld, limit is not None),
    )
    pit = one_step_pit(posterior, ld, model, pit_draws, random_seed)
    dataset["pit"] = (
        PIT_OBSERVATION,
        pit,
        {"units": "1", "long_name": "one-step predictive CDF at each present → present size"},
    )
    dataset["pit_ks_p_value"] = (
        (),
        float(sps.kstest(pit, "uniform").pvalue) if pit.size else np.nan,
        {"units": "1", "long_name": "KS test of PIT uniformity"},
    )
    birth_medians = np.array([d["birth_median"] for d in picked_draws])
    dataset.attrs.update(
        {
            "likelihood": "latent",
            "family": model.config["family"],
            "volume_units": units,
            "random_seed": int(random_seed),
            "hdi_prob": 0.94,
            "replicate_size": n_replicate,
            "detection_threshold": float(np.mean([d["detection_threshold"] for d in picked_draws])),
            "new_size_log_mean": float(np.mean(np.log(birth_medians))),
            "new_size_log_sd": float(np.mean([d["birth_log_sd"] for d in picked_draws])),
            "new_size_source": "fitted birth-size law (posterior mean), before killing",
            "n_new_spines": int(ld.new_log_sizes.size),
            "n_draws_without_stationary_density": n_without_density,
            "turnover_definition": (
                "per present spine-day at risk, as seen at the imaging intervals: predicted "
                "= expected eliminations (absorption within each interval) and surviving "
                "formations over spine-days; observed = counted events over spine-days"
                + (
                    ""
                    if limit is None
                    else f"; detection limit {limit:g}: a spine dead or unseen at the next "
                    "session counts as eliminated, first sightings as formations, and sizes "
                    "below the limit are not observed"
                )
            ),
            "detection_limit": np.nan if limit is None else float(limit),
        }
    )
    return dataset


def _counts(data: xr.Dataset, ld, detection: bool) -> dict[str, float]:
    """Return the counted turnover; with a detection limit, formations are first sightings."""
    counts = _turnover_counts(data)
    if detection:
        formed = int(sum(block.first_seen.sum() for block in ld.blocks))
        days = counts["spine_days_at_risk"]
        counts["formations"] = formed
        counts["formation_per_day_crude"] = formed / days if days > 0 else np.nan
    return counts


def _interval_turnover(
    dyn, ld, birth_rate: float, log_limit: float | None = None
) -> tuple[float, float]:
    """Return expected eliminations and seen formations per present spine-day.

    Over the data's intervals, for spines at risk distributed as the steady state. With a
    detection limit (log, units of s) the spines at risk are the seen ones, a spine counts
    as eliminated when it is dead or unseen at the next session, and a formation when a
    newborn survives and is seen.
    """
    op = dyn.op
    seen = np.ones(op.delta.shape)
    if log_limit is not None:
        sd = float(emission_sd(dyn.noise_sd, op.h, ld.noise == "additive"))
        seen = 1.0 - unseen_probability(op.z, log_limit, sd, ld.noise)
    at_risk = dyn.initial * seen
    at_risk = at_risk / float(at_risk @ op.delta)
    eliminated = formed = spine_days = 0.0
    for block in ld.blocks:
        for k, n in enumerate(block.present_start):
            t = float(block.intervals[block.interval_index[k]])
            propagator, killed, born, log_survival = dyn.interval(t)
            alive_unseen = float(((at_risk @ propagator) * (1.0 - seen)) @ op.delta)
            eliminated += n * (float((at_risk * op.delta) @ killed) + alive_unseen)
            seen_newborn = float((born * op.delta) @ seen)
            formed += n * t * birth_rate * float(np.exp(log_survival)) * seen_newborn
            spine_days += n * t
    if spine_days <= 0:
        return np.nan, np.nan
    return eliminated / spine_days, formed / spine_days


def one_step_pit(
    posterior: xr.Dataset, ld, model: Any, n_draws: int = 50, random_seed: int = 0
) -> np.ndarray:
    """Return the PIT of every present → present size under the posterior one-step predictive.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a latent-process fit.
    ld : LatentData
        The prepared data.
    model : DriftDiffusion
        The fitted model (config and family).
    n_draws : int
        Posterior draws averaged.
    random_seed : int
        Seed of the choice of draws.

    Returns
    -------
    numpy.ndarray
        PIT values in [0, 1], blocks in order, spines then sessions within a block.
    """
    names = draw_names(model.family.parameter_names)
    picked, _ = draw_dicts(posterior, names, n_draws, random_seed)
    total = None
    for draw in picked:
        dyn = numpy_dynamics(draw, ld, model.config, model.family_in_size_units)
        values = []
        for block in ld.blocks:
            _, _, pit = forward(dyn, block, ld.noise, pit=True)
            values.append(pit[np.isfinite(pit)])
        values = np.concatenate(values) if values else np.zeros(0)
        total = values if total is None else total + values
    return total / len(picked) if total is not None else np.zeros(0)
