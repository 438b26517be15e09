"""One entry point for sampling a PyMC model: every setting explicit, one BLAS thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import xarray as xr

from spinefit.sampling.settings import SamplerSettings

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.sampling.run import Refiner


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


def sample_model(
    model: pm.Model, settings: SamplerSettings, refine: Refiner | None = None
) -> xr.DataTree:
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
    refine : callable, optional
        May rebuild the model from a pilot's posterior medians (see
        :func:`spinefit.sampling.run.refine_after_pilot`); not called for a plain
        ``pm.sample`` run.

    Returns
    -------
    xarray.DataTree
        ArviZ DataTree with ``posterior``, ``sample_stats`` and ``observed_data``.
    """
    from spinefit.sampling.supports import record_supports, support_bounds

    bounds = support_bounds(model)
    with one_blas_thread():
        if settings.plain:
            with model:
                return record_supports(_plain_sample(settings), bounds)
        from spinefit.sampling import sample_robustly

        # Outside the model's context: a refiner builds a new model, which must not nest.
        return record_supports(sample_robustly(model, settings, refine=refine), bounds)


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
