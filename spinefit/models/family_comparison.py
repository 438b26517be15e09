"""PSIS-LOO comparison of SDE families fitted to the same time series.

The fitted model stores each unit's log-likelihood, the other families are fitted with the
same likelihood options and sampler settings, and their PSIS-LOO (Vehtari et al. 2017,
Stat Comput 27:1413) are compared on the same units in the same order:

* latent likelihood: one unit per spine (its sizes and fates after its first session,
  ``spine_log_likelihood``); formation counts are not per spine and are left out;
* moments likelihood: one unit per transition (``w_end``).

Differences are taken against the best family with the SE of the pointwise differences.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

FAMILY_COMPARISON_ATTR = "family_comparison"
"""Posterior attr holding the comparison (JSON)."""
SPINE_LOG_LIKELIHOOD = "spine_log_likelihood"


def pointwise_loo(tree: xr.DataTree, model: Any = None):
    """Return the pointwise PSIS-LOO of a fit (ArviZ ELPDData).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit whose posterior holds ``spine_log_likelihood`` (latent likelihood), or with
        the PyMC ``model`` that made it (moments likelihood, ``w_end``).
    model : pymc.Model, optional
        Needed for the moments likelihood.
    """
    import arviz_stats

    posterior = tree["posterior"].to_dataset()
    if SPINE_LOG_LIKELIHOOD in posterior:
        log_lik = posterior[[SPINE_LOG_LIKELIHOOD]]
        idata = xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik})
        return arviz_stats.loo(idata, var_name=SPINE_LOG_LIKELIHOOD, pointwise=True)
    import pymc as pm

    with_ll = pm.compute_log_likelihood(
        tree.copy(), model=model, var_names=["w_end"], progressbar=False
    )
    return arviz_stats.loo(with_ll, var_name="w_end", pointwise=True)


def comparison_table(loos: dict[str, Any]) -> dict[str, Any]:
    """Return the stored comparison of several families' pointwise LOO.

    Parameters
    ----------
    loos : dict
        ``{family: ELPDData}`` on the same units in the same order.

    Returns
    -------
    dict
        ``best`` (the family with the highest elpd_loo), ``units`` ("spine" or
        "transition" count ``n``) and per family ``elpd_loo``, ``se``, ``p_loo``,
        ``elpd_diff`` (this family − best, ≤ 0), ``se_diff`` and ``max_pareto_k``.
    """
    best = max(loos, key=lambda name: float(loos[name].elpd))
    best_i = np.asarray(loos[best].elpd_i).ravel()
    families = {}
    for name, loo in loos.items():
        elpd_i = np.asarray(loo.elpd_i).ravel()
        diff = elpd_i - best_i
        families[name] = {
            "elpd_loo": float(loo.elpd),
            "se": float(loo.se),
            "p_loo": float(loo.p),
            "elpd_diff": float(diff.sum()),
            "se_diff": float(np.sqrt(diff.size * np.var(diff))),
            "max_pareto_k": float(np.max(loo.pareto_k)),
        }
    return {"best": best, "n": int(best_i.size), "families": families}


def compare_families(
    fitted: xr.DataTree,
    fitted_model: Any,
    data: xr.Dataset,
    model: Any,
    others: list[str],
) -> dict[str, Any]:
    """Fit ``others`` families like ``model`` and compare all by PSIS-LOO.

    Parameters
    ----------
    fitted : xarray.DataTree
        The model's own fit (with pointwise log-likelihood, see module docstring).
    fitted_model : pymc.Model
        Its PyMC model.
    data : xarray.Dataset
        The data it was fitted to.
    model : DriftDiffusion
        The fitted model (config and sampler settings are reused).
    others : list of str
        Families to fit besides the model's own.

    Returns
    -------
    dict
        :func:`comparison_table` of all families.
    """
    from spinefit.models.base import sample_model

    loos = {model.family.name: pointwise_loo(fitted, fitted_model)}
    for name in others:
        if name in loos:
            continue
        config = dict(model.config) | {
            "family": name,
            "family_options": {},
            "compare_families": [],
            "pointwise": True,
        }
        other = type(model)(config)
        pymc_model = other.build(data)
        loos[name] = pointwise_loo(sample_model(pymc_model, model.settings), pymc_model)
    return comparison_table(loos)


def read_comparison(posterior: xr.Dataset | xr.DataTree) -> dict[str, Any] | None:
    """Return the stored family comparison of a result, or None."""
    text = posterior.attrs.get(FAMILY_COMPARISON_ATTR)
    return json.loads(text) if text else None
