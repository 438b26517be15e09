"""The contract every spinefit model follows.

A model is specified by a class holding its name, the kinds of data it accepts and its
default configuration; :meth:`SpineModel.build` turns an ingested Dataset into a PyMC
model, :meth:`SpineModel.fit` samples it and returns a self-describing
:class:`xarray.DataTree`, and :meth:`SpineModel.summarize` / :meth:`SpineModel.contrast_curves`
read that DataTree back without refitting. Models know nothing of reports: report
sections are registered by model name in :mod:`spinefit.report.registry`.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError, NotFittedError
from spinefit.results.names import (
    COMMAND_ATTR,
    CONFIG_ATTR,
    CREATED_ATTR,
    DATA_GROUP,
    FORMAT_ATTR,
    FORMAT_VERSION,
    INPUT_HASH_ATTR,
    INPUT_SOURCE_ATTR,
    MODEL_ATTR,
    PYTHON_ATTR,
    SAMPLER_ATTR,
    SEED_ATTR,
    VERSION_ATTR,
)
from spinefit.sampling.sample import one_blas_thread, sample_model
from spinefit.sampling.settings import DEFAULT_ADAPTATION, SamplerSettings

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["SamplerSettings", "SpineModel", "one_blas_thread", "sample_model"]


class SpineModel(ABC):
    """Base class of every spinefit model.

    Subclasses set :attr:`name`, :attr:`data_kinds` and :attr:`default_config`, and
    implement :meth:`build` and :meth:`summarize`. User configuration is merged over the
    defaults (``default_config | config``); unknown keys are an error.

    Parameters
    ----------
    config : dict, optional
        Model options overriding :attr:`default_config`.
    """

    name: ClassVar[str]
    """Registry name, as used by ``spinefit fit --model``."""
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_TIME_SERIES,)
    """Kinds of ingested data the model accepts (``dims.KIND_*``)."""
    default_config: ClassVar[dict[str, Any]] = {}
    """Options and their defaults."""
    condition_version: ClassVar[str | None] = None
    """Registry name of the model that fits this one hierarchically across conditions
    (drift–diffusion → drift–diffusion-conditions); None: fitted once per condition by
    ``by-condition``."""
    fits_conditions: ClassVar[bool] = False
    """True for models that themselves fit several conditions (take a ``by`` option)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        unknown = sorted(set(config) - set(self.default_config))
        if unknown:
            raise ConfigError(
                f"model '{self.name}' has no option(s) {unknown}; "
                f"options are {sorted(self.default_config)}"
            )
        self.config: dict[str, Any] = self.default_config | config
        self.result: xr.DataTree | None = None
        self.settings = SamplerSettings()
        """Settings of the last fit; ``postprocess`` uses them for any secondary fit."""

    # -- specification -------------------------------------------------------------------
    def check_data(self, data: xr.Dataset) -> None:
        """Raise DataError if ``data`` is not a kind this model accepts."""
        kind = data.attrs.get(dims.ATTR_DATA_KIND)
        if kind not in self.data_kinds:
            raise DataError(
                f"model '{self.name}' needs {' or '.join(self.data_kinds)} data, got {kind}",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )

    @abstractmethod
    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model for ``data`` (named dims from :mod:`spinefit.dims`)."""

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Add derived quantities to a freshly sampled DataTree (default: nothing)."""
        return tree

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self,
        data: xr.Dataset,
        settings: SamplerSettings | None = None,
        *,
        command_line: str | None = None,
    ) -> xr.DataTree:
        """Sample the posterior and return the self-describing result.

        Parameters
        ----------
        data : xarray.Dataset
            Ingested data (from :mod:`spinefit.io`).
        settings : SamplerSettings, optional
            Sampler settings; defaults to ``SamplerSettings()``.
        command_line : str, optional
            Recorded in the provenance attrs.

        Returns
        -------
        xarray.DataTree
            Posterior, sample stats, observed data, the ingested Dataset (group
            ``data``) and provenance attrs.
        """
        settings = settings or SamplerSettings()
        if settings.adaptation == "auto":
            settings = replace(settings, adaptation=self.preferred_adaptation)
        self.settings = settings
        self.check_data(data)
        data = self.prepare(data)
        tree = self.sample(data, settings)
        tree[DATA_GROUP] = xr.DataTree(dataset=data)
        tree.attrs.update(self.provenance(data, settings, command_line))
        self.result = tree
        return tree

    @property
    def preferred_adaptation(self) -> str:
        """Return nutpie's mass-matrix adaptation for ``--adaptation auto`` (default diag)."""
        return DEFAULT_ADAPTATION

    def prepare(self, data: xr.Dataset) -> xr.Dataset:
        """Return the data as the model sees (and the result stores) it (default: as given)."""
        return data

    def sample(self, data: xr.Dataset, settings: SamplerSettings) -> xr.DataTree:
        """Build, sample and post-process the model; ``fit`` adds data and provenance."""
        model = self.build(data)
        tree = sample_model(model, settings)
        return self.postprocess(tree, data, model)

    def provenance(
        self, data: xr.Dataset, settings: SamplerSettings, command_line: str | None
    ) -> dict[str, Any]:
        """Return the attrs that let a result be re-read and reproduced."""
        return {
            MODEL_ATTR: self.name,
            CONFIG_ATTR: json.dumps(self.config, sort_keys=True),
            VERSION_ATTR: __version__,
            SAMPLER_ATTR: json.dumps(asdict(settings), sort_keys=True),
            SEED_ATTR: settings.random_seed,
            INPUT_HASH_ATTR: data.attrs.get(dims.ATTR_CONTENT_HASH, ""),
            INPUT_SOURCE_ATTR: data.attrs.get(dims.ATTR_SOURCE, ""),
            COMMAND_ATTR: command_line or " ".join(sys.argv),
            CREATED_ATTR: datetime.now(UTC).isoformat(timespec="seconds"),
            PYTHON_ATTR: sys.version.split()[0],
            FORMAT_ATTR: FORMAT_VERSION,
        }

    def result_warnings(self, tree: xr.DataTree) -> list[str]:
        """Return plain-language warnings about a fitted result beyond convergence.

        ``spinefit fit`` prints them and stores them with the convergence warnings
        (default: none).
        """
        return []

    def require_result(self) -> xr.DataTree:
        """Return the fitted result, or fail with what to run first."""
        if self.result is None:
            raise NotFittedError(f"model '{self.name}' has not been fitted; call .fit() first")
        return self.result

    @classmethod
    def from_result(cls, tree: xr.DataTree) -> SpineModel:
        """Rebuild the model (with its config) that produced ``tree``."""
        model = cls(json.loads(tree.attrs.get(CONFIG_ATTR, "{}")))
        model.result = tree
        return model

    # -- reading results -----------------------------------------------------------------
    @abstractmethod
    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return the model-specific part of the JSON summary.

        Must contain ``"parameters"`` (see :func:`spinefit.summary.parameter_stats`) and
        may add ``"curves"`` and other model-specific keys.
        """

    def describe(self) -> dict[str, str]:
        """Return ``{"equation": LaTeX, "priors": text}`` for the report."""
        doc = (type(self).__doc__ or "").strip().splitlines()
        return {"equation": "", "priors": "", "title": doc[0] if doc else self.name}

    def contrast_curves(self, tree: xr.DataTree, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return the model's curves on ``grid`` per draw (and condition), for contrasts.

        ``compare`` contrasts every curve returned here between conditions with
        simultaneous bands. Default: none.

        Parameters
        ----------
        tree : xarray.DataTree
            A result of this model.
        grid : numpy.ndarray
            Strictly increasing sizes (input units).

        Returns
        -------
        dict
            ``{name: DataArray}`` with the posterior's dims plus ``w``.
        """
        return {}

    def primary_contrasts(self) -> list[str]:
        """Return the quantities condition findings come from (default: every contrasted one)."""
        return []

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]] | None:
        """Return the log-likelihood of every conditionally independent unit, per draw.

        Used for PSIS-LOO comparisons between fits of the same data (e.g. pooled vs
        by-condition). A unit is what the likelihood treats as independent given the
        parameters: a synapse, a connection, a group of changes.

        Returns
        -------
        tuple or None
            ``(log_lik, labels)`` with ``log_lik`` of shape ``(chain * draw, units)`` and one
            label per unit (stable across subsets of the data), or None when the model does
            not provide one (the default).
        """
        return None

    def data_overview(self, tree: xr.DataTree) -> dict[str, int]:
        """Return counts describing the data the model was fitted to."""
        data = tree[DATA_GROUP].to_dataset()
        return {name: int(size) for name, size in data.sizes.items()}
