"""The contract every spinefit model follows.

A model is specified by a class holding its name, the kinds of data it accepts and its
default configuration; :meth:`SpineModel.build` turns an ingested Dataset into a PyMC
model, :meth:`SpineModel.fit` samples it and returns a self-describing
:class:`xarray.DataTree`, and :meth:`SpineModel.summarize` /
:meth:`SpineModel.report_sections` read that DataTree back without refitting.
"""

from __future__ import annotations

import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError, NotFittedError

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.report.sections import ReportSection

DATA_GROUP = "data"
"""DataTree group that holds the ingested Dataset, so results can be re-analysed alone."""


@dataclass(frozen=True)
class SamplerSettings:
    """How to run MCMC. Every field is passed to ``pm.sample`` explicitly.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws per chain, tuning steps per chain, number of chains.
    random_seed : int
        Seed for the sampler and any stochastic post-processing.
    sampler : {"nutpie", "pymc"}
        NUTS implementation. Passed explicitly because having nutpie installed changes
        ``pm.sample``'s default.
    target_accept : float
        Target acceptance rate of NUTS.
    progressbar : bool
        Show sampling progress.
    robust_starts : bool
        Start the chains near the best of a few short optimisations of the posterior,
        jittered by its curvature, instead of PyMC's support point ± 1 (see
        :mod:`spinefit.sampling.starts`).
    max_restarts : int
        Times a chain stuck in a low-density mode is re-run near the other chains.
    ess_target : int
        Extend sampling in rounds until every posterior quantity has bulk ESS ≥ this and
        R-hat ≤ 1.01, up to :data:`spinefit.sampling.CAP_FACTOR` × ``draws`` per chain;
        0 turns it off. The warm-up adaptation is kept with nutpie; PyMC's sampler
        re-samples with more draws and the same tune.

    Notes
    -----
    With ``robust_starts=False``, ``max_restarts=0`` and ``ess_target=0`` a fit is one
    plain ``pm.sample`` call, as before these options existed (the benchmark's baseline).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    random_seed: int = 0
    sampler: str = "nutpie"
    target_accept: float = 0.9
    progressbar: bool = True
    robust_starts: bool = True
    max_restarts: int = 2
    ess_target: int = 400

    def __post_init__(self) -> None:
        if self.draws < 1 or self.tune < 0 or self.chains < 1:
            raise ConfigError("draws and chains must be >= 1 and tune >= 0")
        if self.sampler not in ("nutpie", "pymc"):
            raise ConfigError(f"unknown sampler '{self.sampler}'; use 'nutpie' or 'pymc'")
        if self.max_restarts < 0 or self.ess_target < 0:
            raise ConfigError("ess_target (--ess-target) and max_restarts must be >= 0")

    @property
    def plain(self) -> bool:
        """True when no robustness option is on: one plain ``pm.sample`` call."""
        return not (self.robust_starts or self.max_restarts or self.ess_target)


BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that set the thread count of the BLAS/LAPACK libraries."""


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the enclosed code with single-threaded BLAS/LAPACK, here and in worker processes.

    Chains already run in parallel (nutpie threads, PyMC processes). Letting every chain's
    small LAPACK calls (the 3×3 matrix exponentials of the SDE moments) start their own
    thread pool oversubscribes the cores: on the 2-core reference machine the WT/KO fit
    took 48.5 s with nutpie and 383 s with PyMC's sampler, against 23.9 s and 21.4 s with
    one BLAS thread. The environment variables reach worker processes PyMC starts; a
    variable the user has set is left as it is.
    """
    from threadpoolctl import threadpool_limits

    added = [name for name in BLAS_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def sample_model(model: pm.Model, settings: SamplerSettings) -> xr.DataTree:
    """Run NUTS on ``model`` with every sampler setting passed explicitly.

    By default chains start near the posterior mode, a chain stuck in a low-density mode
    is re-run, and sampling is extended until the bulk ESS target is met
    (:func:`spinefit.sampling.sample_robustly`); what it had to do is recorded in the
    result's root attrs (``sampling_notes``, ``restarted_chains``, ``sampling_draws``).

    Parameters
    ----------
    model : pymc.Model
        The model to sample.
    settings : SamplerSettings
        Draws, tune, chains, seed, sampler and the robustness options.

    Returns
    -------
    xarray.DataTree
        ArviZ DataTree with ``posterior``, ``sample_stats`` and ``observed_data``.
    """
    with model, one_blas_thread():
        if settings.plain:
            return _plain_sample(settings)
        from spinefit.sampling import sample_robustly

        return sample_robustly(model, settings)


def _plain_sample(settings: SamplerSettings) -> xr.DataTree:
    """Run one ``pm.sample`` on the model in context, PyMC's own starts (the old default)."""
    import pymc as pm

    kwargs: dict[str, Any] = dict(
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=min(settings.chains, 2),
        random_seed=settings.random_seed,
        nuts_sampler=settings.sampler,
        progressbar=settings.progressbar,
        quiet=not settings.progressbar,
        target_accept=settings.target_accept,
    )
    return pm.sample(**kwargs)


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
        self.settings = settings
        self.check_data(data)
        data = self.prepare(data)
        tree = self.sample(data, settings)
        tree[DATA_GROUP] = xr.DataTree(dataset=data)
        tree.attrs.update(self.provenance(data, settings, command_line))
        self.result = tree
        return tree

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
            "spinefit_model": self.name,
            "spinefit_config": json.dumps(self.config, sort_keys=True),
            "spinefit_version": __version__,
            "sampler_settings": json.dumps(asdict(settings), sort_keys=True),
            "random_seed": settings.random_seed,
            "input_hash": data.attrs.get(dims.ATTR_CONTENT_HASH, ""),
            "input_source": data.attrs.get(dims.ATTR_SOURCE, ""),
            "command_line": command_line or " ".join(sys.argv),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "python_version": sys.version.split()[0],
        }

    def require_result(self) -> xr.DataTree:
        """Return the fitted result, or fail with what to run first."""
        if self.result is None:
            raise NotFittedError(f"model '{self.name}' has not been fitted; call .fit() first")
        return self.result

    @classmethod
    def from_result(cls, tree: xr.DataTree) -> SpineModel:
        """Rebuild the model (with its config) that produced ``tree``."""
        model = cls(json.loads(tree.attrs.get("spinefit_config", "{}")))
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

    def report_sections(self, tree: xr.DataTree) -> list[ReportSection]:
        """Return the model's result sections for the HTML report (default: none)."""
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
