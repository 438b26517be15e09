"""Contrasts between conditions, computed on a posterior DataTree only (never refitting).

For every scalar quantity with a ``condition`` dim (``a``, ``b``, ``c``, ``d``, turnover
rates, σ at the median size, ...) the posterior of the difference *condition − reference*
is summarised by its mean, 94% HDI and the probability that it is positive; positive
quantities are also contrasted as a ratio *condition / reference*. A region of practical
equivalence (ROPE) applies per quantity (:mod:`spinefit.comparison.rope`).

Multiplicity. A model declares a few *primary* quantities (posterior attr
``primary_contrasts``); only they give findings, and a primary difference is a finding
when the joint 94% region over all primary contrasts excludes "no difference"
(:func:`spinefit.comparison.bands.simultaneous_band` on the differences, or log ratios of
positive quantities), so the chance of any false finding stays near 6% however many
primary quantities there are. Every other quantity is secondary. Curves (μ(w), σ(w), the
stationary density) are contrasted with simultaneous 94% bands and reported as contiguous
size ranges. Results without a declared set treat every contrasted scalar as primary.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.comparison.bands import contiguous_ranges, simultaneous_band
from spinefit.comparison.rope import Rope, as_rope, rope_text
from spinefit.errors import ConfigError
from spinefit.models import model_of
from spinefit.results import condition_labels, default_reference
from spinefit.results.names import (
    CONTRAST_VARS_ATTR,
    LOO_ATTR,
    POSTERIOR_GROUP,
    PRIMARY_ATTR,
    REFERENCE_ATTR,
)
from spinefit.stats import HDI_PROB, _hdi, observed_size_grid

__all__ = [
    "HUMAN_NAMES",
    "compare",
    "compare_lines",
    "compare_with_draws",
    "secondary_sentences",
    "sentences",
]

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
    "mu_at_median": "drift μ at the median size",
    "sigma_at_median": "diffusion σ at the median size",
    "set_point": "set point −a/b",
    "relaxation_days": "relaxation time −1/b",
    "elimination_prob_4d": "probability that a median-sized spine is eliminated within 4 days",
}
"""Plain-language names of parameters and curves, used in sentences and reports."""


def _reference(tree: xr.DataTree, labels: list[str], reference: str | None) -> str:
    if reference is None:
        reference = tree[POSTERIOR_GROUP].attrs.get(REFERENCE_ATTR) or default_reference(labels)
    reference = str(reference)
    if reference not in labels:
        raise ConfigError(f"unknown reference condition '{reference}'; labels: {', '.join(labels)}")
    return reference


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
    return {key: _plain(v) for key, v in values.items()}


def _plain(value):
    if value is None:
        return None
    arr = np.asarray(getattr(value, "values", value), dtype=float)
    return float(arr) if arr.ndim == 0 else [float(x) for x in arr]


def contrast_stats(
    other: xr.DataArray, reference: xr.DataArray, name: str, rope: Rope
) -> tuple[dict[str, Any], xr.DataArray]:
    """Return the summary of one scalar contrast and the draws its finding is judged on.

    Positive quantities (every draw > 0 in both conditions) also get the ratio
    *other / reference*: its posterior median, 94% HDI and P(ratio > 1); their finding is
    judged on the log ratio, others on the difference.

    Returns
    -------
    stats : dict
        ``diff_mean``, ``hdi_low``, ``hdi_high``, ``prob_positive``, ``prob_rope``, ``rope``
        (the ROPE that applied: kind and value, or None), ``positive``, ``direction``
        ("larger"/"smaller"/None: the 94% HDI of the judged contrast excludes 0) and, for
        positive quantities, ``ratio_median``, ``ratio_hdi_low``, ``ratio_hdi_high``,
        ``prob_ratio_above_1``.
    judged : xarray.DataArray
        Draws of the difference or the log ratio.
    """
    diff = other - reference
    positive = bool((other > 0).all() and (reference > 0).all())
    applied = rope.for_quantity(name, positive)
    half_width = applied["value"] if applied and applied["kind"] == "difference" else None
    stats = difference_stats(diff, half_width) | {"rope": applied, "positive": positive}
    judged = diff
    low, high = stats["hdi_low"], stats["hdi_high"]
    if positive:
        judged = np.log(other) - np.log(reference)
        log_low, log_high = (float(v) for v in _hdi(judged))
        stats |= {
            "ratio_median": float(np.exp(judged.median())),
            "ratio_hdi_low": float(np.exp(log_low)),
            "ratio_hdi_high": float(np.exp(log_high)),
            "prob_ratio_above_1": float((judged > 0).mean()),
        }
        if applied and applied["kind"] == "ratio":
            stats["prob_rope"] = float((abs(judged) < np.log(applied["value"])).mean())
        low, high = log_low, log_high
    stats["direction"] = "larger" if low > 0 else "smaller" if high < 0 else None
    return stats, judged


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


def compare(
    tree: xr.DataTree,
    *,
    reference: str | None = None,
    rope: Rope | dict[str, float] | None = None,
    grid: list[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Contrast every condition with the reference, for each quantity and curve.

    The JSON-ready part of :func:`compare_with_draws` (same parameters and result).
    """
    return compare_with_draws(tree, reference=reference, rope=rope, grid=grid)[0]


def compare_with_draws(
    tree: xr.DataTree,
    *,
    reference: str | None = None,
    rope: Rope | dict[str, float] | None = None,
    grid: list[float] | np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, xr.DataArray]]:
    """Contrast every condition with the reference, for each quantity and curve.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result whose posterior has a ``condition`` dim (e.g. from
        ``drift-diffusion-conditions``).
    reference : str, optional
        Label differences are taken against (default: the one recorded at fit time, else
        see :func:`default_reference`).
    rope : Rope or dict, optional
        Regions of practical equivalence: a :class:`~spinefit.comparison.rope.Rope`, or
        ``{name: half-width}`` in each quantity's own units.
    grid : sequence of float, optional
        Sizes at which the curves are contrasted (default: 50 points over observed sizes).

    Returns
    -------
    result : dict
        ``reference``, ``conditions``, ``hdi_prob``, ``rope``, ``primary`` (names),
        ``contrasts`` (``{name: {label: stats}}``, see :func:`contrast_stats`, plus
        ``role``, ``joint_low``/``joint_high`` and ``finding`` for primary rows),
        ``curves`` (``{key: {"w": [...], label: stats}}`` with simultaneous bands in
        ``hdi_low``/``hdi_high``, pointwise ones in ``pointwise_low``/``pointwise_high``,
        and ``ranges``), ``examined`` (how many contrasts of each kind) and ``loo``.
    curve_draws : dict
        The model's curves per draw and condition the curve contrasts were computed from
        (:meth:`~spinefit.models.base.SpineModel.contrast_curves`), for the report.

    Raises
    ------
    ConfigError
        If the result has no condition dim or ``reference`` is not one of its labels.
    """
    labels = condition_labels(tree)
    reference = _reference(tree, labels, reference)
    rope = as_rope(rope)
    posterior = tree[POSTERIOR_GROUP].to_dataset()
    others = [label for label in labels if label != reference]

    contrasts: dict[str, dict[str, Any]] = {}
    judged: dict[tuple[str, str], xr.DataArray] = {}
    chosen = json.loads(posterior.attrs.get(CONTRAST_VARS_ATTR, "null")) or list(posterior)
    for name in chosen:
        if name not in posterior:
            continue
        for public, item in _condition_items(str(name), posterior[name]):
            contrasts[public] = {}
            for label in others:
                stats, draws = contrast_stats(
                    item.sel({dims.CONDITION: label}),
                    item.sel({dims.CONDITION: reference}),
                    public,
                    rope,
                )
                contrasts[public][label] = stats
                judged[(public, label)] = draws
    declared = json.loads(posterior.attrs.get(PRIMARY_ATTR, "null"))
    primary = [n for n in (declared if declared is not None else contrasts) if n in contrasts]
    _mark_primary(contrasts, judged, primary)

    curves: dict[str, Any] = {}
    curve_sets: dict[str, xr.DataArray] = {}
    grid_values = np.asarray(grid, dtype=float) if grid is not None else observed_size_grid(tree)
    if grid_values is not None:
        curve_sets = model_of(tree).contrast_curves(tree, grid_values)
    for key, draws in curve_sets.items():
        curves[key] = {dims.SIZE_GRID: [float(v) for v in grid_values]} | {
            label: curve_contrast(
                draws.sel({dims.CONDITION: label}) - draws.sel({dims.CONDITION: reference}),
                grid_values,
                rope.absolute.get(key),
            )
            for label in others
        }

    loo_text = tree[POSTERIOR_GROUP].attrs.get(LOO_ATTR)
    n_rows = len(others)
    return {
        "reference": reference,
        "conditions": labels,
        "hdi_prob": HDI_PROB,
        "rope": rope.as_dict(),
        "primary": primary,
        "contrasts": contrasts,
        "curves": curves,
        "examined": {
            "primary": len(primary) * n_rows,
            "secondary": (len(contrasts) - len(primary)) * n_rows,
            "curves": len(curves) * n_rows,
        },
        "loo": json.loads(loo_text) if loo_text else None,
    }, curve_sets


def _mark_primary(
    contrasts: dict[str, dict[str, Any]],
    judged: dict[tuple[str, str], xr.DataArray],
    primary: list[str],
) -> None:
    """Set ``role`` on every row, and the joint 94% region and ``finding`` on primary rows."""
    keys = [key for key in judged if key[0] in primary]
    for name, by_label in contrasts.items():
        for stats in by_label.values():
            stats["role"] = "primary" if name in primary else "secondary"
            stats["finding"] = False
    if not keys:
        return
    matrix = np.column_stack([judged[key].values.reshape(-1) for key in keys])
    _, low, high, q = simultaneous_band(matrix, HDI_PROB)
    for (name, label), lo, hi in zip(keys, low, high, strict=True):
        stats = contrasts[name][label]
        stats |= {
            "joint_low": float(lo),
            "joint_high": float(hi),
            "joint_scale": "log ratio" if stats["positive"] else "difference",
            "joint_multiplier": q,
            "finding": bool(lo > 0 or hi < 0),
        }


def curve_contrast(diff: xr.DataArray, grid: np.ndarray, rope: float | None) -> dict[str, Any]:
    """Return the contrast of a curve: simultaneous 94% band, pointwise HDI and ranges.

    ``hdi_low``/``hdi_high`` hold the simultaneous band (it covers the whole curve with
    94% posterior probability), ``pointwise_low``/``pointwise_high`` the pointwise HDI;
    ``ranges`` gives the contiguous size ranges where the simultaneous band lies above
    (``larger``) or below (``smaller``) 0.
    """
    stats = difference_stats(diff, rope)
    stats["pointwise_low"], stats["pointwise_high"] = stats["hdi_low"], stats["hdi_high"]
    matrix = diff.transpose(*dims.SAMPLE_DIMS, dims.SIZE_GRID).values.reshape(-1, grid.size)
    _, low, high, _ = simultaneous_band(matrix, HDI_PROB)
    stats |= {
        "hdi_low": [float(v) for v in low],
        "hdi_high": [float(v) for v in high],
        "band": "simultaneous",
        "ranges": {
            "larger": contiguous_ranges(grid, low > 0),
            "smaller": contiguous_ranges(grid, high < 0),
        },
    }
    return stats


def _fmt(*values: float) -> list[str]:
    """Format numbers with a shared number of decimals (two significant digits of the largest)."""
    largest = max((abs(v) for v in values if v and math.isfinite(v)), default=1.0)
    decimals = max(0, 1 - math.floor(math.log10(largest)))
    return [f"{v:.{decimals}f}" for v in values]


def _row_text(name: str, label: str, reference: str, s: dict[str, Any], percent: int) -> str:
    """One contrast in words: direction, the ratio or difference with its HDI, and the ROPE."""
    human = HUMAN_NAMES.get(name, name)
    direction = s["direction"] or ("larger" if s["diff_mean"] > 0 else "smaller")
    if s.get("positive"):
        ratio, low, high = _fmt(s["ratio_median"], s["ratio_hdi_low"], s["ratio_hdi_high"])
        prob = s["prob_ratio_above_1"]
        numbers = f"ratio {ratio}, {percent}% HDI {low}–{high}, "
    else:
        mean, low, high = _fmt(s["diff_mean"], s["hdi_low"], s["hdi_high"])
        prob = s["prob_positive"]
        numbers = f"difference {mean}, {percent}% HDI {low}–{high}, "
    numbers += f"P>0 = {prob:.3f}" if direction == "larger" else f"P<0 = {1 - prob:.3f}"
    if s.get("prob_rope") is not None:
        numbers += f", P({rope_text(s['rope'])}) = {s['prob_rope']:.3f}"
    return f"{human} is {direction} in {label} than {reference} ({numbers})"


def sentences(result: dict[str, Any]) -> list[str]:
    """Return one plain-language sentence per primary finding.

    A primary contrast is a finding when the joint 94% region over all primary contrasts
    excludes no difference (see the module docstring).

    Parameters
    ----------
    result : dict
        The output of :func:`compare`.

    Returns
    -------
    list of str
        E.g. "σ² multiplicative coefficient d is larger in KO than WT (ratio 1.52, 94%
        HDI 1.21–1.90, P>0 = 0.999)".
    """
    reference = result["reference"]
    percent = round(100 * result.get("hdi_prob", HDI_PROB))
    n_primary = result.get("examined", {}).get("primary", 0)
    out = []
    for name, by_label in result["contrasts"].items():
        for label, s in by_label.items():
            if s.get("finding"):
                out.append(
                    _row_text(name, label, reference, s, percent)
                    + f"; joint {percent}% region of the {n_primary} primary contrasts"
                )
    return out


def secondary_sentences(result: dict[str, Any]) -> list[str]:
    """Return the secondary differences: scalar HDIs and curve ranges excluding 0.

    These are not corrected for multiplicity across quantities (curves are, along their
    size axis, by their simultaneous bands); read them as exploratory.
    """
    reference = result["reference"]
    percent = round(100 * result.get("hdi_prob", HDI_PROB))
    out = []
    for name, by_label in result["contrasts"].items():
        for label, s in by_label.items():
            if s.get("role", "primary") == "secondary" and s["direction"]:
                out.append(_row_text(name, label, reference, s, percent))
    for key, curve in result.get("curves", {}).items():
        human = HUMAN_NAMES.get(key, key)
        for label, s in curve.items():
            if label == dims.SIZE_GRID:
                continue
            for direction in ("larger", "smaller"):
                ranges = s.get("ranges", {}).get(direction, [])
                if ranges:
                    # Each end on its own two significant digits: a range 0.05–13 must
                    # not print as 0–13.
                    spans = " and ".join(f"{lo:.2g}–{hi:.2g}" for lo, hi in ranges)
                    out.append(
                        f"{human} is {direction} in {label} than {reference} for sizes "
                        f"{spans} (simultaneous {percent}% band of the difference)"
                    )
    return out


def examined_sentence(result: dict[str, Any]) -> str:
    """Return how many contrasts were examined and which give findings."""
    n = result.get("examined", {})
    primary = ", ".join(HUMAN_NAMES.get(p, p) for p in result.get("primary", [])) or "none"
    return (
        f"{n.get('primary', 0) + n.get('secondary', 0)} scalar contrasts and "
        f"{n.get('curves', 0)} curve contrasts were examined. Findings come only from the "
        f"{n.get('primary', 0)} primary contrasts ({primary}), judged jointly; the others "
        "are secondary and not corrected for multiplicity."
    )


def compare_lines(result: dict[str, Any]) -> list[str]:
    """Return the text the ``compare`` command prints: one line per contrast, then words."""
    reference = result["reference"]
    lines = []
    for name, by_label in result["contrasts"].items():
        for label, s in by_label.items():
            text = (
                f"{name:<22}{label} - {reference}: {s['diff_mean']:.4g} "
                f"[{s['hdi_low']:.4g}, {s['hdi_high']:.4g}]  P>0={s['prob_positive']:.3f}"
            )
            if s.get("positive"):
                text += (
                    f"  ratio {s['ratio_median']:.4g} "
                    f"[{s['ratio_hdi_low']:.4g}, {s['ratio_hdi_high']:.4g}]"
                )
            if s.get("rope"):
                text += f"  P({rope_text(s['rope'])})={s['prob_rope']:.3f}"
            role = s.get("role", "primary")
            lines.append(text + f"  [{role}{', finding' if s.get('finding') else ''}]")
    found = sentences(result)
    lines.append("Findings (primary contrasts, judged jointly):")
    lines += [f"  {line}" for line in found] or ["  none"]
    secondary = secondary_sentences(result)
    if secondary:
        lines.append("Secondary (not corrected for multiplicity):")
        lines += [f"  {line}" for line in secondary]
    lines.append(examined_sentence(result))
    loo = result.get("loo")
    if loo:
        lines.append(
            f"LOO elpd_diff (by condition - pooled) = {loo['elpd_diff']:.1f} ± {loo['se']:.1f}"
            + (f"; pooled = {loo['pooled_model']}" if loo.get("pooled_model") else "")
        )
    return lines
