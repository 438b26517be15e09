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
from spinefit.stats import HDI_PROB, _hdi

__all__ = ["HUMAN_NAMES", "compare", "sentences"]

HUMAN_NAMES: dict[str, str] = {
    "a": "drift intercept a",
    "b": "drift slope b",
    "c": "σ² additive coefficient c",
    "d": "σ² multiplicative coefficient d",
    "elimination_per_day": "elimination rate",
    "formation_per_day": "formation rate",
    "drift": "drift μ(w)",
    "diffusion": "diffusion σ(w)",
}
"""Plain-language names of parameters and curves, used in sentences and reports."""

LOO_ATTR = "loo"
REFERENCE_ATTR = "reference_condition"
N_GRID = 50


def condition_labels(tree: xr.DataTree) -> list[str]:
    """Return the condition labels of a result, or raise ConfigError if it has none."""
    if "posterior" not in tree.children:
        raise ConfigError("the result has no posterior group; is it a spinefit result?")
    posterior = tree["posterior"]
    if dims.CONDITION not in posterior.dims:
        model = tree.attrs.get("spinefit_model", "this model")
        raise ConfigError(
            f"the result has no '{dims.CONDITION}' dim ({model} fits one condition); "
            "fit with --model drift-diffusion-conditions to compare conditions"
        )
    return [str(v) for v in posterior[dims.CONDITION].values]


def _reference(tree: xr.DataTree, labels: list[str], reference: str | None) -> str:
    if reference is None:
        reference = tree["posterior"].attrs.get(REFERENCE_ATTR) or sorted(labels)[0]
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


def _curve_draws(posterior: xr.Dataset, grid: np.ndarray) -> dict[str, xr.DataArray]:
    """μ(w) = a + b w and σ(w) = √(c + d w²) per draw and condition (linear family)."""
    w = xr.DataArray(grid, dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
    a, b, c, d = (posterior[v] for v in "abcd")
    return {"drift": a + b * w, "diffusion": np.sqrt(c + d * w**2)}


def _default_grid(tree: xr.DataTree) -> np.ndarray | None:
    if "data" not in tree.children or dims.VOLUME not in tree["data"]:
        return None
    volume = tree["data"][dims.VOLUME].values
    present = volume[np.isfinite(volume)]
    if present.size == 0:
        return None
    return np.linspace(float(present.min()), float(present.max()), N_GRID)


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
        the first label in sorted order).
    rope : float or dict, optional
        Half-width of the region of practical equivalence around 0, in each quantity's
        own units; a dict gives one per parameter/curve name.
    grid : sequence of float, optional
        Sizes at which the curves are contrasted (default: 50 points over observed sizes).

    Returns
    -------
    dict
        ``{"reference", "conditions", "hdi_prob", "contrasts": {param: {label: stats}},
        "curves": {"drift"|"diffusion": {"w": [...], label: stats}}, "loo"}`` where stats
        are ``diff_mean``, ``hdi_low``, ``hdi_high``, ``prob_positive``, ``prob_rope``
        (None without a ROPE); ``loo`` is None when the fit did not compute it.

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
    for name, var in posterior.data_vars.items():
        extra = [d for d in var.dims if d not in dims.SAMPLE_DIMS]
        if extra != [dims.CONDITION]:
            continue
        contrasts[str(name)] = {
            label: difference_stats(
                var.sel({dims.CONDITION: label}) - var.sel({dims.CONDITION: reference}),
                _rope_of(rope, str(name)),
            )
            for label in others
        }

    curves: dict[str, Any] = {}
    grid_values = np.asarray(grid, dtype=float) if grid is not None else _default_grid(tree)
    if grid_values is not None and all(v in contrasts for v in "abcd"):
        for key, draws in _curve_draws(posterior, grid_values).items():
            curves[key] = {dims.SIZE_GRID: [float(v) for v in grid_values]} | {
                label: difference_stats(
                    draws.sel({dims.CONDITION: label}) - draws.sel({dims.CONDITION: reference}),
                    _rope_of(rope, key),
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
