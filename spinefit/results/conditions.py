"""The condition layout of a result: labels, reference, per-condition fits, LOO records."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.results.names import (
    CONDITION_GROUP,
    LABEL_ATTR,
    MODEL_ATTR,
    POSTERIOR_GROUP,
)

REFERENCE_PREFERENCE = ("wt", "wild-type", "wildtype", "control", "ctrl", "baseline", "pyr")
"""Labels chosen as the default reference (case-insensitive, in this order) when present."""


def condition_labels(tree: xr.DataTree) -> list[str]:
    """Return the condition labels of a result, or raise ConfigError if it has none."""
    if POSTERIOR_GROUP not in tree.children:
        raise ConfigError("the result has no posterior group; is it a spinefit result?")
    posterior = tree[POSTERIOR_GROUP]
    if dims.CONDITION not in posterior.dims:
        model = tree.attrs.get(MODEL_ATTR, "this model")
        raise ConfigError(
            f"the result has no '{dims.CONDITION}' dim ({model} was fitted to one condition); "
            "fit by condition (a 'condition' column, --by COL, or several files with --label)"
        )
    return [str(v) for v in posterior[dims.CONDITION].values]


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


def condition_fits(tree: xr.DataTree) -> dict[str, xr.DataTree]:
    """Return the full per-condition results of a by-condition fit, keyed by label."""
    if CONDITION_GROUP not in tree.children:
        return {}
    return {
        str(node.attrs.get(LABEL_ATTR)): node for node in tree[CONDITION_GROUP].children.values()
    }


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
