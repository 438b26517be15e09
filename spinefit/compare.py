"""Contrasts between conditions, computed on a posterior DataTree only (never refitting).

For every scalar parameter with a ``condition`` dim (``a``, ``b``, ``c``, ``d``, turnover
rates, ...) and for the drift μ(w) and diffusion σ(w) curves, the posterior of the
difference *condition − reference* is summarised by its mean, 94% HDI, the probability
that it is positive and, given a region of practical equivalence (ROPE) half-width, the
probability that it lies inside ±ROPE.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.families import SDEFamily, family_of_result, get_family
from spinefit.stats import HDI_PROB, _hdi, observed_size_grid

__all__ = ["HUMAN_NAMES", "compare", "curve_draws", "default_reference", "sentences"]

HUMAN_NAMES: dict[str, str] = {
    "a": "drift intercept a",
    "b": "drift slope b",
    "c": "σ² additive coefficient c",
    "d": "σ² multiplicative coefficient d",
    "elimination_per_day": "elimination rate",
    "formation_per_day": "formation rate",
    "drift": "drift μ(w)",
    "diffusion": "diffusion σ(w)",
    "stationary": "stationary density p(w)",
    "intrinsic_fraction": "intrinsic fraction σ²_silenced(w)/σ²_control(w)",
    "intrinsic_fraction_mean": "mean intrinsic fraction",
    "activity_dependent_fraction": "activity-dependent fraction",
    "activity_independent_fraction": "activity-independent fraction",
    "connection_shared_fraction": "share of size variance common to a connection",
    "connection_unshared_fraction": "share of size variance not common to a connection",
    "group_shared_fraction": "share of variance common to a group",
    "group_unshared_fraction": "share of variance not common to a group",
    "weight_large": "weight of the large component",
}
"""Plain-language names of parameters and curves, used in sentences and reports."""

LOO_ATTR = "loo"
CONTRAST_VARS_ATTR = "contrast_vars"
"""Posterior attr (JSON list): the variables to contrast; without it, every variable."""
REFERENCE_ATTR = "reference_condition"
STATIONARY_POINTS = 400
"""Points of the fine grid on which stationary densities are normalised."""
REFERENCE_PREFERENCE = ("wt", "wild-type", "wildtype", "control", "ctrl", "baseline", "pyr")
"""Labels chosen as the default reference (case-insensitive, in this order) when present."""


def condition_labels(tree: xr.DataTree) -> list[str]:
    """Return the condition labels of a result, or raise ConfigError if it has none."""
    if "posterior" not in tree.children:
        raise ConfigError("the result has no posterior group; is it a spinefit result?")
    posterior = tree["posterior"]
    if dims.CONDITION not in posterior.dims:
        model = tree.attrs.get("spinefit_model", "this model")
        raise ConfigError(
            f"the result has no '{dims.CONDITION}' dim ({model} was fitted to one condition); "
            "fit by condition (a 'condition' column, --by COL, or several files with --label)"
        )
    return [str(v) for v in posterior[dims.CONDITION].values]


def loo_record(loo_pooled: Any, loo_by_condition: Any) -> dict[str, float]:
    """Return the stored LOO comparison of a pooled and a by-condition fit.

    Parameters
    ----------
    loo_pooled, loo_by_condition : arviz ELPDData
        Pointwise PSIS-LOO of the two fits on the same units in the same order.

    Returns
    -------
    dict
        ``pooled``, ``by_condition`` (elpd_loo), ``se_pooled``, ``se_by_condition``,
        ``elpd_diff`` (by condition − pooled; positive favours condition-specific
        parameters), ``se`` (SE of that difference, from the pointwise differences) and
        ``max_pareto_k`` of both.
    """
    diff = np.asarray(loo_by_condition.elpd_i) - np.asarray(loo_pooled.elpd_i)
    return {
        "pooled": float(loo_pooled.elpd),
        "by_condition": float(loo_by_condition.elpd),
        "se_pooled": float(loo_pooled.se),
        "se_by_condition": float(loo_by_condition.se),
        "elpd_diff": float(diff.sum()),
        "se": float(np.sqrt(diff.size * np.var(diff))),
        "max_pareto_k": float(max(np.max(loo_pooled.pareto_k), np.max(loo_by_condition.pareto_k))),
    }


def default_reference(labels: list[str]) -> str:
    """Return the default reference: a WT/control-like label if present, else the first sorted.

    Parameters
    ----------
    labels : list of str
        Condition labels.

    Returns
    -------
    str
        The first label matching :data:`REFERENCE_PREFERENCE` (case-insensitive), else
        ``sorted(labels)[0]``.
    """
    lowered = {str(label).lower(): str(label) for label in labels}
    for candidate in REFERENCE_PREFERENCE:
        if candidate in lowered:
            return lowered[candidate]
    return sorted(str(label) for label in labels)[0]


def _reference(tree: xr.DataTree, labels: list[str], reference: str | None) -> str:
    if reference is None:
        reference = tree["posterior"].attrs.get(REFERENCE_ATTR) or default_reference(labels)
    reference = str(reference)
    if reference not in labels:
        raise ConfigError(f"unknown reference condition '{reference}'; labels: {', '.join(labels)}")
    return reference


def _rope_of(rope: float | dict[str, float] | None, name: str) -> float | None:
    if isinstance(rope, dict):
        return rope.get(name)
    return rope


def difference_stats(diff: xr.DataArray, rope: float | None) -> dict[str, Any]:
    """Return mean, 94% HDI, P(diff > 0) and P(|diff| < rope) of draws of a difference.

    Parameters
    ----------
    diff : xarray.DataArray
        Draws with dims ``(chain, draw)`` plus optionally one curve dim.
    rope : float or None
        Half-width of the region of practical equivalence, in the quantity's units.

    Returns
    -------
    dict
        Floats for a scalar difference, lists along the extra dim otherwise.
    """
    low, high = _hdi(diff)
    sample = list(dims.SAMPLE_DIMS)
    values = {
        "diff_mean": diff.mean(sample),
        "hdi_low": low,
        "hdi_high": high,
        "prob_positive": (diff > 0).mean(sample),
        "prob_rope": (abs(diff) < rope).mean(sample) if rope is not None else None,
    }

    def plain(v):
        if v is None:
            return None
        arr = np.asarray(v.values, dtype=float)
        return float(arr) if arr.ndim == 0 else [float(x) for x in arr]

    return {key: plain(v) for key, v in values.items()}


def _condition_items(name: str, var: xr.DataArray) -> list[tuple[str, xr.DataArray]]:
    """Split a posterior variable with a condition dim into contrastable scalars.

    A variable whose only non-sample dim is ``condition`` is one item; one extra dim (e.g.
    a mixture ``component``) gives ``name[label]`` items; anything else is not contrasted.
    """
    extra = [d for d in var.dims if d not in dims.SAMPLE_DIMS and d != dims.CONDITION]
    if dims.CONDITION not in var.dims or len(extra) > 1:
        return []
    if not extra:
        return [(name, var)]
    return [
        (f"{name}[{value}]", var.sel({extra[0]: value})) for value in var[extra[0]].values.tolist()
    ]


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


def intrinsic_fraction_draws(
    tree: xr.DataTree, posterior: xr.Dataset, grid: np.ndarray
) -> xr.DataArray | None:
    """Return σ²_silenced(w)/σ²_control(w) per draw and condition, or None if not a silenced fit.

    Applies to variance-split fits with ``design="silenced"`` fitted by condition, whose
    ``c`` and ``d`` carry both a ``condition`` and a ``treatment`` dim.
    """
    if not all(
        v in posterior and {dims.CONDITION, dims.TREATMENT} <= set(posterior[v].dims) for v in "cd"
    ):
        return None
    config = json.loads(tree.attrs.get("spinefit_config", "{}"))
    config = config.get("model_config", config)
    control = str(config.get("control_label", "control"))
    silenced = str(config.get("silenced_label", "silenced"))
    labels = [str(v) for v in posterior[dims.TREATMENT].values]
    if control not in labels or silenced not in labels:
        return None
    w = xr.DataArray(grid, dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
    c, d = posterior["c"], posterior["d"]

    def variance(label: str) -> xr.DataArray:
        pick = {dims.TREATMENT: label}
        return c.sel(pick, drop=True) + d.sel(pick, drop=True) * w**2

    return variance(silenced) / variance(control)


def compare(
    tree: xr.DataTree,
    *,
    reference: str | None = None,
    rope: float | dict[str, float] | None = None,
    grid: list[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Contrast every condition with the reference, for each parameter and curve.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result whose posterior has a ``condition`` dim (e.g. from
        ``drift-diffusion-conditions``).
    reference : str, optional
        Label differences are taken against (default: the one recorded at fit time, else
        see :func:`default_reference`).
    rope : float or dict, optional
        Half-width of the region of practical equivalence around 0, in each quantity's
        own units; a dict gives one per parameter/curve name.
    grid : sequence of float, optional
        Sizes at which the curves are contrasted (default: 50 points over observed sizes).

    Returns
    -------
    dict
        ``{"reference", "conditions", "hdi_prob", "contrasts": {param: {label: stats}},
        "curves": {"drift"|"diffusion"|"stationary": {"w": [...], label: stats}},
        "loo"}`` where stats are ``diff_mean``, ``hdi_low``, ``hdi_high``,
        ``prob_positive``, ``prob_rope`` (None without a ROPE); ``loo`` is None when the
        fit did not compute it.

    Raises
    ------
    ConfigError
        If the result has no condition dim or ``reference`` is not one of its labels.
    """
    labels = condition_labels(tree)
    reference = _reference(tree, labels, reference)
    posterior = tree["posterior"].to_dataset()
    others = [label for label in labels if label != reference]

    contrasts: dict[str, dict[str, Any]] = {}
    chosen = json.loads(posterior.attrs.get(CONTRAST_VARS_ATTR, "null")) or list(posterior)
    for name in chosen:
        var = posterior[name]
        for public, item in _condition_items(str(name), var):
            contrasts[public] = {
                label: difference_stats(
                    item.sel({dims.CONDITION: label}) - item.sel({dims.CONDITION: reference}),
                    _rope_of(rope, public),
                )
                for label in others
            }

    curves: dict[str, Any] = {}
    grid_values = np.asarray(grid, dtype=float) if grid is not None else observed_size_grid(tree)
    if grid_values is not None and all(v in contrasts for v in "abcd"):
        draws_by_key = curve_draws(posterior, grid_values, family_of_result(tree))
        for key, draws in draws_by_key.items():
            curves[key] = {dims.SIZE_GRID: [float(v) for v in grid_values]} | {
                label: difference_stats(
                    draws.sel({dims.CONDITION: label}) - draws.sel({dims.CONDITION: reference}),
                    _rope_of(rope, key),
                )
                for label in others
            }

    if grid_values is not None:
        fraction = intrinsic_fraction_draws(tree, posterior, grid_values)
        if fraction is not None:
            curves["intrinsic_fraction"] = {dims.SIZE_GRID: [float(v) for v in grid_values]} | {
                label: difference_stats(
                    fraction.sel({dims.CONDITION: label})
                    - fraction.sel({dims.CONDITION: reference}),
                    _rope_of(rope, "intrinsic_fraction"),
                )
                for label in others
            }

    loo_text = tree["posterior"].attrs.get(LOO_ATTR)
    return {
        "reference": reference,
        "conditions": labels,
        "hdi_prob": HDI_PROB,
        "rope": rope,
        "contrasts": contrasts,
        "curves": curves,
        "loo": json.loads(loo_text) if loo_text else None,
    }


def _fmt(*values: float) -> list[str]:
    """Format numbers with a shared number of decimals (two significant digits of the largest)."""
    largest = max((abs(v) for v in values if v and math.isfinite(v)), default=1.0)
    decimals = max(0, 1 - math.floor(math.log10(largest)))
    return [f"{v:.{decimals}f}" for v in values]


def sentences(result: dict[str, Any]) -> list[str]:
    """Return one plain-language sentence per contrast whose 94% HDI excludes 0.

    Parameters
    ----------
    result : dict
        The output of :func:`compare`.

    Returns
    -------
    list of str
        E.g. "σ² multiplicative coefficient d is larger in KO than WT (difference 0.021,
        94% HDI 0.012–0.030, P>0 = 0.999)". Curves get one sentence per condition giving
        the size range over which the band excludes 0.
    """
    reference = result["reference"]
    percent = round(100 * result.get("hdi_prob", HDI_PROB))
    out = []
    for name, by_label in result["contrasts"].items():
        human = HUMAN_NAMES.get(name, name)
        for label, s in by_label.items():
            if s["hdi_low"] > 0:
                direction, prob = "larger", f"P>0 = {s['prob_positive']:.3f}"
            elif s["hdi_high"] < 0:
                direction, prob = "smaller", f"P<0 = {1 - s['prob_positive']:.3f}"
            else:
                continue
            mean, low, high = _fmt(s["diff_mean"], s["hdi_low"], s["hdi_high"])
            text = (
                f"{human} is {direction} in {label} than {reference} (difference {mean}, "
                f"{percent}% HDI {low}–{high}, {prob}"
            )
            if s.get("prob_rope") is not None:
                text += f", P(inside ROPE) = {s['prob_rope']:.3f}"
            out.append(text + ")")
    for key, curve in result.get("curves", {}).items():
        w = np.asarray(curve[dims.SIZE_GRID])
        human = HUMAN_NAMES.get(key, key)
        for label, s in curve.items():
            if label == dims.SIZE_GRID:
                continue
            for direction, mask in (
                ("larger", np.asarray(s["hdi_low"]) > 0),
                ("smaller", np.asarray(s["hdi_high"]) < 0),
            ):
                if mask.any():
                    low, high = _fmt(float(w[mask].min()), float(w[mask].max()))
                    out.append(
                        f"{human} is {direction} in {label} than {reference} for sizes "
                        f"{low}–{high} ({percent}% HDI of the difference excludes 0 "
                        f"at {int(mask.sum())} of {len(w)} grid points)"
                    )
    return out
