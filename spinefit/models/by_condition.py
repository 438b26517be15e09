r"""Any model fitted per condition, with posteriors stacked on a ``condition`` dim.

For models without a hierarchical condition version (mixtures, the variance split), a
condition grouping (``--by COL``, the ``condition`` column, or several labelled input
files) fits the model once per condition, each with its own priors and its own data:

.. math::

    \theta_k \sim p(\theta),\qquad y_{k} \mid \theta_k \sim p(y_k \mid \theta_k),
    \qquad k = 1, \dots, K,

i.e. a hierarchical model with no pooling. The fits are independent given the data, so
the draws of :math:`\theta_k - \theta_{\mathrm{ref}}` are draws of the posterior of the
difference, and :mod:`spinefit.compare` reads them like those of a jointly fitted model.
With two or three conditions a pooling scale would be barely identified (see
:mod:`spinefit.models.drift_diffusion_conditions`), so no pooling is the honest default
for these snapshot models; partial pooling is used where animals give a replication
level (drift–diffusion).

Pooled vs by condition: the model is also fitted to all data at once (no condition
effects) and both are compared by PSIS-LOO on the model's units (synapses, connections or
groups, see :meth:`~spinefit.models.base.SpineModel.pointwise_log_likelihood`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.transitions import imaged_by_group
from spinefit.models.base import SamplerSettings, SpineModel
from spinefit.results import condition_fits, default_reference, loo_record
from spinefit.results.names import (
    CONDITION_GROUP,
    CONTRAST_VARS_ATTR,
    LABEL_ATTR,
    LOO_ATTR,
    PRIMARY_ATTR,
    REFERENCE_ATTR,
)
from spinefit.stats import parameter_stats

if TYPE_CHECKING:
    import pymc as pm

MAX_LOO_UNITS = 20_000
"""Above this many units the LOO comparison is skipped (memory: draws × units floats)."""


def split_labels(data: xr.Dataset, by: str) -> np.ndarray:
    """Return the condition label of every spine or synapse, or raise ConfigError."""
    dim = dims.unit_dim(data)
    if by not in data.coords or data[by].dims != (dim,):
        available = [n for n, c in data.coords.items() if c.dims == (dim,) and n != dim]
        raise ConfigError(
            f"no per-{dim} '{by}' column to group by; available: {', '.join(available) or 'none'}"
        )
    labels = data[by].values.astype(str)
    if np.any(labels == ""):
        raise DataError(
            f"{int(np.sum(labels == ''))} {dim}s have an empty '{by}' label",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    return labels


def stack_groups(trees: dict[str, xr.DataTree], group: str) -> tuple[xr.Dataset, list[str]]:
    """Stack one group of several results along ``condition``.

    Variables are kept when they have the same dims and the same non-sample coordinates in
    every result (population parameters); per-item variables (one per synapse or
    connection) differ between conditions and are dropped.

    Returns
    -------
    dataset : xarray.Dataset
        The stacked group, condition labels in the order of ``trees``.
    dropped : list of str
        Names of the variables that could not be stacked.
    """
    datasets = [tree[group].to_dataset() for tree in trees.values()]
    first = datasets[0]
    kept, dropped = [], []
    for name, var in first.data_vars.items():
        same = all(
            name in ds
            and ds[name].dims == var.dims
            and all(
                np.array_equal(ds[name][d].values, var[d].values)
                for d in var.dims
                if d in var.coords
            )
            for ds in datasets[1:]
        )
        (kept if same else dropped).append(str(name))
    labels = np.asarray([str(label) for label in trees], dtype=object)
    stacked = xr.concat(
        [ds[kept] for ds in datasets],
        dim=pd.Index(labels, name=dims.CONDITION, dtype=object),
        coords="minimal",
        compat="override",
        combine_attrs="override",
    )
    sample = [d for d in dims.SAMPLE_DIMS if d in stacked.dims]
    return stacked.transpose(*sample, ...), dropped


def reported_draws(model: SpineModel, tree: xr.DataTree) -> xr.Dataset:
    """Return the draws of the quantities a model reports, under their public names.

    Uses the model's ``summary_draws`` (mixtures) or ``parameter_names`` (others).
    """
    if hasattr(model, "summary_draws"):
        return model.summary_draws(tree)
    posterior = tree["posterior"].to_dataset()
    names = model.parameter_names(tree) if hasattr(model, "parameter_names") else []
    mapping = {n: n for n in names} if isinstance(names, list) else dict(names)
    return xr.Dataset({public: posterior[var] for public, var in mapping.items()})


def loo_pooled_vs_split(
    pooled: tuple[np.ndarray, list[str]],
    split: dict[str, tuple[np.ndarray, list[str]]],
    shape: tuple[int, int],
) -> dict[str, Any]:
    """Compare the pooled fit and the per-condition fits by PSIS-LOO on matching units.

    Parameters
    ----------
    pooled : tuple
        ``(log_lik, labels)`` of the pooled fit, ``log_lik`` of shape (draws, units).
    split : dict
        ``{condition: (log_lik, labels)}`` of the per-condition fits.
    shape : tuple of int
        ``(chains, draws)`` of every fit.

    Returns
    -------
    dict
        ``pooled``, ``by_condition`` (elpd_loo), ``se_pooled``, ``se_by_condition``,
        ``elpd_diff`` (by condition − pooled), ``se`` (of the difference), ``units``,
        ``max_pareto_k``; or ``{"skipped": reason}`` when the units do not match.
    """
    import arviz_stats

    pooled_ll, pooled_labels = pooled
    labels = [label for _, (_, unit_labels) in split.items() for label in unit_labels]
    if len(set(labels)) != len(labels) or set(labels) != set(pooled_labels):
        return {
            "skipped": "some likelihood units (connections or groups) span several "
            "conditions, so pooled and per-condition fits do not share units"
        }
    split_ll = np.concatenate([ll for ll, _ in split.values()], axis=1)
    order = pd.Index(labels).get_indexer(pooled_labels)
    split_ll = split_ll[:, order]

    def loo(log_lik: np.ndarray):
        values = log_lik.reshape(*shape, -1)
        tree = xr.DataTree.from_dict(
            {
                "posterior": xr.Dataset({"_": ((dims.CHAIN, dims.DRAW), values[..., 0])}),
                "log_likelihood": xr.Dataset({"y": ((dims.CHAIN, dims.DRAW, "unit"), values)}),
            }
        )
        return arviz_stats.loo(tree, var_name="y", pointwise=True)

    return loo_record(loo(pooled_ll), loo(split_ll)) | {"units": int(split_ll.shape[1])}


def common_draws(fits: dict[str, xr.DataTree]) -> dict[str, xr.DataTree]:
    """Cut every fit to the fewest draws per chain among them (ESS rounds differ per fit)."""
    n = min(fit["posterior"].sizes["draw"] for fit in fits.values())
    out = {}
    for label, fit in fits.items():
        fit = fit.copy()
        for name in ("posterior", "sample_stats", "log_likelihood"):
            if name in fit.children:
                cut = fit[name].to_dataset().isel(draw=slice(0, n))
                fit[name] = xr.DataTree(dataset=cut)
        out[label] = fit
    return out


def _first_draws(log_lik: np.ndarray, chains: int, draws: int) -> np.ndarray:
    """Keep the first ``draws`` per chain of a ``(chain * draw, unit)`` array."""
    per_chain = log_lik.reshape(chains, -1, log_lik.shape[1])
    return per_chain[:, :draws].reshape(-1, log_lik.shape[1])


class ByCondition(SpineModel):
    """Fit another model once per condition and stack the posteriors on ``condition``.

    Parameters
    ----------
    config : dict, optional
        ``model`` (registry name of the model fitted per condition), ``model_config``
        (its options), ``by`` (per-spine or per-synapse label, default ``condition``),
        ``reference`` (default a WT/control-like label, see
        :func:`spinefit.compare.default_reference`), ``loo`` (also fit the pooled model
        and compare by PSIS-LOO).
    """

    name = "by-condition"
    fits_conditions = True
    data_kinds = (dims.KIND_TIME_SERIES, dims.KIND_SNAPSHOT)
    default_config: dict[str, Any] = {
        "model": "mixture",
        "model_config": {},
        "by": dims.CONDITION_LABEL,
        "reference": None,
        "loo": True,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        from spinefit.models import get_model_class

        if get_model_class(self.config["model"]).fits_conditions:
            raise ConfigError(f"model '{self.config['model']}' cannot be fitted per condition")
        self.inner()  # fail early on an unknown model or option

    def inner(self) -> SpineModel:
        """Return a fresh instance of the model fitted per condition."""
        from spinefit.models import get_model_class

        return get_model_class(self.config["model"])(dict(self.config["model_config"]))

    @property
    def preferred_adaptation(self) -> str:
        """Return the per-condition model's choice (``fit`` resolves ``auto`` out here)."""
        return self.inner().preferred_adaptation

    def check_data(self, data: xr.Dataset) -> None:
        """Raise DataError unless the per-condition model accepts ``data``."""
        self.inner().check_data(data)

    def describe(self) -> dict[str, str]:
        """Return the inner model's description, marked as fitted per condition."""
        inner = self.inner().describe()
        return inner | {
            "title": f"{inner['title']} — fitted per '{self.config['by']}' (no pooling)",
            "priors": f"{inner['priors']} (the same priors, independently per condition)",
        }

    def build(self, data: xr.Dataset) -> pm.Model:
        """Not used: a per-condition fit is several models; see :meth:`sample`."""
        raise NotImplementedError("ByCondition fits one model per condition; call fit()")

    # -- fitting -------------------------------------------------------------------------
    def prepare(self, data: xr.Dataset) -> xr.Dataset:
        """Mark time-series sessions a condition did not image (see ``imaged_by_group``)."""
        if dims.unit_dim(data) != dims.SPINE:
            return data
        return imaged_by_group(data, split_labels(data, self.config["by"]))

    def sample(self, data: xr.Dataset, settings: SamplerSettings) -> xr.DataTree:
        """Fit the model per condition (seed + k for the k-th), then the pooled model.

        Returns
        -------
        xarray.DataTree
            ``posterior`` and ``sample_stats`` stacked on ``condition`` and one complete
            result per condition under ``condition_fits`` (``fit`` adds the full ``data``
            and provenance).
        """
        labels = split_labels(data, self.config["by"])
        names = sorted(str(v) for v in np.unique(labels))
        if len(names) < 2:
            raise DataError(
                f"'{self.config['by']}' has one value ({names[0]}); need two or more "
                "conditions to compare",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        reference = self.config["reference"] or default_reference(names)
        if str(reference) not in names:
            raise ConfigError(
                f"reference condition '{reference}' not in the data; labels: {', '.join(names)}"
            )
        dim = dims.unit_dim(data)
        fits: dict[str, xr.DataTree] = {}
        models: dict[str, SpineModel] = {}
        for k, label in enumerate(names):
            models[label] = self.inner()
            fits[label] = models[label].fit(
                data.isel({dim: labels == label}),
                replace(settings, random_seed=settings.random_seed + k),
            )
        fits = common_draws(fits)
        tree = self._stack(fits)
        tree["posterior"].attrs[REFERENCE_ATTR] = str(reference)
        tree["posterior"].attrs["condition_by"] = self.config["by"]
        primary = [name for name in self.inner().primary_contrasts() if name in tree["posterior"]]
        if primary:
            tree["posterior"].attrs[PRIMARY_ATTR] = json.dumps(primary)
        if self.config["loo"]:
            loo = self._loo(data, fits, models, settings)
            tree["posterior"].attrs[LOO_ATTR] = json.dumps(loo)
        return tree

    def _stack(self, fits: dict[str, xr.DataTree]) -> xr.DataTree:
        posterior, dropped = stack_groups(fits, "posterior")
        reported = {
            label: xr.DataTree.from_dict({"r": reported_draws(self.inner(), fit)})
            for label, fit in fits.items()
        }
        reported_stack, _ = stack_groups(reported, "r")
        posterior = posterior.drop_vars(
            [v for v in reported_stack.data_vars if v in posterior.data_vars]
        ).merge(reported_stack, combine_attrs="override")
        posterior.attrs["not_stacked"] = json.dumps(dropped)
        posterior.attrs[CONTRAST_VARS_ATTR] = json.dumps(list(reported_stack.data_vars))
        groups = {"posterior": posterior}
        if all("sample_stats" in tree.children for tree in fits.values()):
            groups["sample_stats"], _ = stack_groups(fits, "sample_stats")
        tree = xr.DataTree.from_dict(groups)
        for k, (label, fit) in enumerate(fits.items()):
            child = fit.copy()
            child.attrs[LABEL_ATTR] = label
            tree[f"{CONDITION_GROUP}/condition_{k}"] = child
        return tree

    def _loo(
        self,
        data: xr.Dataset,
        fits: dict[str, xr.DataTree],
        models: dict[str, SpineModel],
        settings: SamplerSettings,
    ) -> dict[str, Any]:
        split = {label: models[label].pointwise_log_likelihood(fits[label]) for label in fits}
        if any(value is None for value in split.values()):
            return {"skipped": f"model '{self.config['model']}' has no pointwise likelihood"}
        units = sum(ll.shape[1] for ll, _ in split.values())
        if units > MAX_LOO_UNITS:
            return {"skipped": f"{units} likelihood units exceed {MAX_LOO_UNITS}"}
        pooled_model = self.inner()
        pooled_tree = pooled_model.fit(data, replace(settings, random_seed=settings.random_seed))
        pooled_tree, *_ = common_draws({"": pooled_tree, **fits}).values()
        pooled = pooled_model.pointwise_log_likelihood(pooled_tree)
        shape = (settings.chains, pooled_tree["posterior"].sizes["draw"])
        split = {
            label: (_first_draws(log_lik, settings.chains, shape[1]), units)
            for label, (log_lik, units) in split.items()
        }
        return loo_pooled_vs_split(pooled, split, shape)

    # -- reading results -----------------------------------------------------------------
    def condition_fits(self, tree: xr.DataTree) -> dict[str, xr.DataTree]:
        """Return ``{label: full per-condition result}`` in condition order."""
        return condition_fits(tree)

    def contrast_curves(self, tree: xr.DataTree, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return the inner model's curves of every condition, stacked on ``condition``.

        Each condition's curves come from its own result (its family settings and size
        unit); a result without per-condition fits gives the inner model's curves of the
        stacked posterior.
        """
        inner = self.inner()
        fits = self.condition_fits(tree)
        if not fits:
            return inner.contrast_curves(tree, grid)
        per_condition = [
            type(inner).from_result(fit).contrast_curves(fit, grid) for fit in fits.values()
        ]
        names = set.intersection(*(set(curves) for curves in per_condition))
        label_index = pd.Index(list(fits), name=dims.CONDITION)
        sample = list(dims.SAMPLE_DIMS)
        return {
            name: xr.concat([curves[name] for curves in per_condition], dim=label_index)
            .transpose(*sample, dims.CONDITION, ...)
            .rename(None)
            for name in sorted(names)
        }

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return stacked parameters (``mu[small-WT]``), per-condition summaries and LOO."""
        posterior = tree["posterior"].to_dataset()
        fits = self.condition_fits(tree)
        inner = self.inner()
        stacked = json.loads(posterior.attrs.get(CONTRAST_VARS_ATTR, "[]"))
        labels = [str(v) for v in posterior[dims.CONDITION].values]
        out: dict[str, Any] = {
            "conditions": labels,
            "reference": posterior.attrs.get(REFERENCE_ATTR) or default_reference(labels),
            "by": self.config["by"],
            "parameters": parameter_stats(posterior, stacked),
            "by_condition": {label: inner.summarize(fit, grid) for label, fit in fits.items()},
        }
        if LOO_ATTR in posterior.attrs:
            out["loo"] = json.loads(posterior.attrs[LOO_ATTR])
        return out
