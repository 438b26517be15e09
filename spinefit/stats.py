"""Posterior summaries of named parameters and curves, on plain xarray objects.

These are the building blocks of every model's JSON summary, kept free of model
knowledge so they can be tested on seeded fake posteriors without MCMC.
"""

from __future__ import annotations

import json
from typing import Any

import arviz_stats
import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.dims import SAMPLE_DIMS

HDI_PROB = 0.94
HDI_LOW = f"{HDI_PROB:.0%} HDI low"
"""Column label of an HDI's lower end (an HDI is not a pair of quantiles)."""
HDI_HIGH = f"{HDI_PROB:.0%} HDI high"
"""Column label of an HDI's upper end."""
N_GRID = 50
"""Points of the default size grid on which curves are reported."""


EDGE_SHARE = 0.01
"""At most this share of the draws may lie between a closed HDI's end and the support's end."""
EDGE_LEVEL = 0.01
"""Closing is refused when so few draws lie below the HDI's end that a density there of
half the density just inside it has a Poisson probability under this."""


def _close(samples: xr.DataArray, end: xr.DataArray, support: float) -> xr.DataArray:
    """Return the HDI's ``end``, moved to the support's end where the draws allow it.

    With distances from the support's end, the gap between it and ``end`` must hold at
    most :data:`EDGE_SHARE` of the draws, and not clearly fewer than half the draws of a
    window of the same width just inside the HDI (the density must not fall off towards
    the support's end). Works for either end of the support.
    """
    from scipy.stats import poisson

    gap = abs(end - support)
    distance = abs(samples - support)
    beyond = (distance < gap).sum(SAMPLE_DIMS)
    inside = ((distance >= gap) & (distance < 2 * gap)).sum(SAMPLE_DIMS)
    total = int(np.prod([samples.sizes[d] for d in SAMPLE_DIMS]))
    falls_off = xr.apply_ufunc(poisson.cdf, beyond, inside / 2.0) < EDGE_LEVEL
    return xr.where((beyond <= EDGE_SHARE * total) & ~falls_off, float(support), end)


def _hdi(samples: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the 94% HDI's ends, closed at the support's ends where the density stays up.

    A parameter whose posterior density does not fall off towards the end of its support
    (τ of noise-free data, a loss rate of 0) has its HDI from that end, but the narrowest
    interval of the draws stops at the smallest draw, which is never the end itself: a
    truth of exactly 0 would never be covered. Where the variable's attrs give the
    support (:data:`spinefit.dims.ATTR_SUPPORT_LOW` / ``ATTR_SUPPORT_HIGH``, set by the
    sampler from the prior's transform), the end moves to the support's end when at most
    :data:`EDGE_SHARE` of the draws lie in between and they are not clearly fewer than
    half those in a window of the same width just inside the HDI (:func:`_close`). The
    interval then holds at most that share more of the posterior than 94%. A density with
    a cliff just below the HDI (a spread parameter below its floor, where only the prior
    is left) falls off, and its HDI stays open.
    """
    bounds = arviz_stats.hdi(samples, prob=HDI_PROB, dim=list(SAMPLE_DIMS))
    low, high = bounds.sel(ci_bound="lower"), bounds.sel(ci_bound="upper")
    if (support := samples.attrs.get(dims.ATTR_SUPPORT_LOW)) is not None:
        low = _close(samples, low, support)
    if (support := samples.attrs.get(dims.ATTR_SUPPORT_HIGH)) is not None:
        high = _close(samples, high, support)
    return low, high


def stats_of(samples: xr.DataArray, diagnostics: bool = True) -> dict[str, float]:
    """Return mean, sd, 94% HDI and (optionally) R-hat and bulk ESS of a scalar quantity.

    Parameters
    ----------
    samples : xarray.DataArray
        Draws with dims ``(chain, draw)`` only.
    diagnostics : bool
        Include ``r_hat`` and ``ess_bulk``.

    Returns
    -------
    dict
        ``{"mean", "sd", "hdi_low", "hdi_high"[, "r_hat", "ess_bulk"]}`` as floats.
    """
    low, high = _hdi(samples)
    out = {
        "mean": float(samples.mean()),
        "sd": float(samples.std()),
        "hdi_low": float(low),
        "hdi_high": float(high),
    }
    if diagnostics:
        out["r_hat"] = float(arviz_stats.rhat(samples))
        out["ess_bulk"] = float(arviz_stats.ess(samples, method="bulk"))
    return out


def draw_correlation(first: xr.DataArray, second: xr.DataArray) -> float | None:
    """Return the Pearson correlation of two scalar quantities over all draws.

    Returns None when either is constant (a fixed parameter) or not finite.
    """
    x, y = np.ravel(first.values), np.ravel(second.values)
    if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def parameter_stats(
    posterior: xr.Dataset, names: dict[str, str] | list[str]
) -> dict[str, dict[str, float]]:
    """Summarise scalar posterior variables under their public names.

    Parameters
    ----------
    posterior : xarray.Dataset
        The ``posterior`` group.
    names : dict or list
        Either variable names, or ``{public_name: variable_name}``. A variable with one
        extra dim is expanded as ``public_name[label]`` for each coordinate label.

    Returns
    -------
    dict
        ``{public_name: stats}`` with the keys of :func:`stats_of`.
    """
    mapping = {n: n for n in names} if isinstance(names, list) else names
    out: dict[str, dict[str, float]] = {}
    for public, var in mapping.items():
        da = posterior[var]
        extra = [d for d in da.dims if d not in SAMPLE_DIMS]
        if not extra:
            out[public] = stats_of(da)
            continue
        stacked = da.stack(_item=extra)
        for i in range(stacked.sizes["_item"]):
            label = stacked["_item"].values[i]
            label = "-".join(str(v) for v in label) if isinstance(label, tuple) else str(label)
            out[f"{public}[{label}]"] = stats_of(stacked.isel(_item=i).drop_vars("_item"))
    return out


def curve_stats(samples: xr.DataArray, x_dim: str) -> dict[str, list[float]]:
    """Return pointwise mean and 94% HDI of a curve.

    Parameters
    ----------
    samples : xarray.DataArray
        Draws with dims ``(chain, draw, x_dim)``; the ``x_dim`` coordinate holds x.
    x_dim : str
        Name of the curve's abscissa dim (e.g. ``"w"``).

    Returns
    -------
    dict
        ``{x_dim: [...], "mean": [...], "hdi_low": [...], "hdi_high": [...]}``.
    """
    low, high = _hdi(samples)
    return {
        x_dim: [float(v) for v in samples[x_dim].values],
        "mean": [float(v) for v in samples.mean(SAMPLE_DIMS).values],
        "hdi_low": [float(v) for v in low.values],
        "hdi_high": [float(v) for v in high.values],
    }


def sampler_diagnostics(tree: xr.DataTree, var_names: list[str] | None = None) -> dict[str, Any]:
    """Return divergences, max R-hat, min bulk ESS and chains in different modes.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result with ``posterior`` and ``sample_stats``.
    var_names : list of str, optional
        Restrict R-hat/ESS/modes to these variables (default: all posterior variables).

    Returns
    -------
    dict
        ``divergences``, ``max_r_hat``, ``min_ess_bulk`` and ``chains_in_different_modes``
        (the chain groups in words, or None; see :mod:`spinefit.sampling.modes`).
    """
    from spinefit.sampling.modes import check_posterior

    posterior = tree["posterior"].to_dataset()
    if var_names is not None:
        posterior = posterior[var_names]
    rhat = arviz_stats.rhat(posterior)
    ess = arviz_stats.ess(posterior, method="bulk")
    max_rhat = _finite_extreme(rhat, np.max)
    min_ess = _finite_extreme(ess, np.min)
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    modes = check_posterior(posterior, stats)
    return {
        "divergences": count_divergences(tree),
        "max_r_hat": max_rhat,
        "min_ess_bulk": min_ess,
        "chains_in_different_modes": modes.describe() if modes.different_modes else None,
    }


def count_divergences(tree: xr.DataTree) -> int:
    """Return the number of divergent transitions of a fit (0 without sampler statistics).

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result; its ``sample_stats`` group may be missing or lack ``diverging``.

    Returns
    -------
    int
    """
    if "sample_stats" not in tree.children:
        return 0
    diverging = tree["sample_stats"].to_dataset().get("diverging")
    return 0 if diverging is None else int(diverging.sum())


def _finite_extreme(values: xr.Dataset, extreme) -> float:
    """Return ``extreme`` (np.max or np.min) of the finite values of every variable.

    A constant quantity (a fixed parameter kept as a Deterministic) has NaN R-hat and ESS;
    it says nothing about convergence and must not hide the others (Python's ``max``
    keeps a NaN that comes first). NaN when no value is finite.
    """
    finite = np.concatenate([np.ravel(values[v].values) for v in values.data_vars] or [[]])
    finite = finite[np.isfinite(finite)]
    return float(extreme(finite)) if finite.size else float("nan")


def convergence_problems(diagnostics: dict[str, Any]) -> list[str]:
    """Return plain-language warnings for failed convergence checks (empty when fine)."""
    problems = []
    if diagnostics["divergences"] > 0:
        problems.append(
            f"{diagnostics['divergences']} divergent transitions: the posterior may be biased; "
            "increase --tune or reparametrise"
        )
    if diagnostics["max_r_hat"] > 1.01:
        problems.append(
            f"max R-hat {diagnostics['max_r_hat']:.3f} > 1.01: chains disagree; run longer"
        )
    if diagnostics["min_ess_bulk"] < 400:
        problems.append(
            f"min bulk ESS {diagnostics['min_ess_bulk']:.0f} < 400: too few effective draws "
            "for stable 94% intervals; increase --draws (--ess-target extends to at most "
            "4x --draws)"
        )
    if diagnostics.get("chains_in_different_modes"):
        problems.append(
            f"chains in different modes: {diagnostics['chains_in_different_modes']}; the "
            "summaries average the modes and are not valid (a multimodal posterior or a "
            "stuck chain: try another --seed or more --chains)"
        )
    return problems


CONVERGENCE_WARNINGS_ATTR = "convergence_warnings"
"""Root attr of a saved result: JSON list of the fit's convergence warnings."""


def convergence_warnings(tree: xr.DataTree) -> list[str]:
    """Return the plain-language convergence warnings stored with (or computed for) a result."""
    stored = tree.attrs.get(CONVERGENCE_WARNINGS_ATTR)
    if stored is not None:
        return list(json.loads(stored))
    if "posterior" not in tree.children:
        return []
    return convergence_problems(sampler_diagnostics(tree))


def observed_size_grid(tree: xr.DataTree) -> np.ndarray | None:
    """Return :data:`N_GRID` sizes spanning the observed volumes of a time-series result.

    Returns None when the result holds no ``data`` group with present volumes.
    """
    if "data" not in tree.children or dims.VOLUME not in tree["data"]:
        return None
    volume = tree["data"][dims.VOLUME].values
    present = volume[np.isfinite(volume)]
    if present.size == 0:
        return None
    return np.linspace(float(present.min()), float(present.max()), N_GRID)
