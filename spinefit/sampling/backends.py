"""The two NUTS implementations behind one interface: start points, runs, unconstrained draws.

Both take a :class:`~spinefit.sampling.starts.StartPoint` and give back an ArviZ DataTree
shaped as ``pm.sample`` returns it. What each can do, checked in the installed sources
(PyMC 6.4, nutpie 0.16):

- **Per-chain starts.** ``pm.sample(nuts_sampler="nutpie", initvals=...)`` accepts one
  dict for all chains and raises ``NotImplementedError`` for a list; nutpie also adds its
  U(−1, 1) jitter (``jitter_rvs`` = all free variables) and ignores ``init_mean`` for PyMC
  models. nutpie does call ``initial_point_func(seed)`` once per chain with a distinct,
  seed-determined value, so the compiled model is given one that jitters our start.
  PyMC's own sampler takes a list of per-chain ``initvals``; ``init="adapt_diag"`` keeps
  it from adding its jitter on top.
- **Continuing a run.** nutpie cannot resume a finished trace or take a mass matrix, but a
  non-blocking run (``blocking=False``) can be paused, inspected and aborted. A run is
  therefore started with the cap as its draw count and stopped once the ESS target is
  met: extra rounds keep the warm-up adaptation and cost no new tuning. PyMC's sampler
  offers neither, so it re-samples with more draws and the same tune.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from spinefit.sampling.starts import StartPoint

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.sampling.settings import SamplerSettings

POLL_SECONDS = 0.05
"""How often a running nutpie sampler's progress is checked."""
NUTPIE_HELPER_GROUPS = ("unconstrained_posterior", "warmup_unconstrained_posterior")
UNCONSTRAINED_STAT = "unconstrained_draw"


def truncate(tree: xr.DataTree, draws: int) -> xr.DataTree:
    """Return ``tree`` with every group that has a ``draw`` dim cut to its first ``draws``."""
    out = tree.copy()
    for name, child in tree.children.items():
        if "draw" in child.dims:
            out[name] = xr.DataTree(dataset=child.to_dataset().isel(draw=slice(0, draws)))
    return out


def replace_chain(tree: xr.DataTree, new: xr.DataTree, chain: int) -> xr.DataTree:
    """Return ``tree`` with chain ``chain`` replaced by the single chain of ``new``."""
    out = tree.copy()
    for name in ("posterior", "sample_stats"):
        if name not in tree.children:
            continue
        old = tree[name].to_dataset()
        label = old["chain"].values[chain]
        piece = new[name].to_dataset().assign_coords(chain=[label])
        merged = xr.concat(
            [old.drop_sel(chain=label), piece], dim="chain", combine_attrs="override"
        ).sortby("chain")
        out[name] = xr.DataTree(dataset=merged)
    return out


def _progress_bar(show: bool, chains: int, max_draws: int):
    """Return PyMC's nutpie progress bar, entered (None when not shown).

    It is the bar ``pm.sample`` shows for nutpie; it counts to the cap of the ESS rounds.
    """
    if not show:
        return None
    from pymc.progress_bar.progress import NutpieProgressBarManager

    bar = NutpieProgressBarManager(chains=chains, draws=max_draws, progressbar=True)
    bar.__enter__()
    return bar


class NutpieRun:
    """A non-blocking nutpie run with the cap as its draw count, read in rounds.

    Parameters
    ----------
    compiled : nutpie CompiledPyMCModel
        The compiled model (its start function is replaced by ``start.draw``).
    settings : SamplerSettings
        Tune, target acceptance, progress bar.
    chains, max_draws, seed : int
        Chains, the most draws per chain that may be read, nutpie's seed.
    start : StartPoint
        Where chains start.
    """

    extendable = True

    def __init__(
        self,
        compiled: Any,
        settings: SamplerSettings,
        *,
        chains: int,
        max_draws: int,
        seed: int,
        start: StartPoint,
    ) -> None:
        import nutpie

        self._tune = max(settings.tune, 1)  # nuts-rs panics with no tuning step
        self._total = self._tune + max_draws
        self._finished = [0] * chains
        self._result: xr.DataTree | None = None
        self._cancelled = False
        self.started = time.perf_counter()
        self._bar = _progress_bar(settings.progressbar, chains, max_draws)
        self._sampler = nutpie.sample(
            dataclasses.replace(compiled, initial_point_func=start.draw),
            draws=max_draws,
            tune=self._tune,
            chains=chains,
            cores=min(chains, 2),
            seed=seed,
            blocking=False,
            progress_bar=False,
            progress_callback=self._on_progress,
            save_warmup=False,
            store_unconstrained=True,
            target_accept=settings.target_accept,
            adaptation=settings.nutpie_adaptation,
        )

    def _on_progress(self, progress: list) -> None:
        self._finished = [int(chain.finished_draws) for chain in progress]
        if self._bar is not None:
            self._bar.update(progress)

    def _done(self) -> bool:
        """Return True when every chain has drawn all it was asked for."""
        if min(self._finished) >= self._total:
            return True
        try:
            return bool(self._sampler.is_finished)
        except TimeoutError:  # nutpie 0.16 raises this while the run is still going
            return False

    def _complete(self, tree: xr.DataTree, draws: int) -> bool:
        logp = tree["sample_stats"]["logp"].values
        return logp.shape[1] >= draws and bool(np.isfinite(logp[:, :draws]).all())

    def snapshot(self, draws: int) -> xr.DataTree:
        """Wait until every chain has ``draws`` draws, pause, and return them.

        Call :meth:`resume` to go on or :meth:`finish` to stop.
        """
        while True:
            self._wait_for(draws)
            if self._done():
                return self.finish(draws)
            self._sampler.pause()
            tree = self._sampler.inspect()
            if self._complete(tree, draws):
                return truncate(tree, draws)
            self._sampler.resume()  # progress is reported before the trace is written
            time.sleep(POLL_SECONDS)

    def _wait_for(self, draws: int) -> None:
        while not self._done() and min(self._finished) < self._tune + draws:
            time.sleep(POLL_SECONDS)

    def resume(self) -> None:
        """Let a paused run continue."""
        self._sampler.resume()

    def finish(self, draws: int) -> xr.DataTree:
        """Wait for ``draws`` draws per chain, stop the run and return them."""
        if self._result is None and not self._done():
            self.snapshot(draws)  # pauses once every chain has written `draws`
        if self._result is None:
            self._result = self._sampler.wait() if self._done() else self._sampler.abort()
            self._close_bar()
        return truncate(self._result, draws)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def close(self) -> None:
        """Discard a run that is still going (after an error or interrupt); idempotent."""
        if self._result is None and not self._cancelled:
            self._sampler.cancel()
            self._cancelled = True
        self._close_bar()


class NutpieBackend:
    """nutpie: one compiled model for the optimisation, the main run and any re-run."""

    name = "nutpie"

    def __init__(self, model: pm.Model, settings: SamplerSettings) -> None:
        from spinefit.sampling.compiled_cache import compile_nutpie

        self.model = model
        self.settings = settings
        # No jitter here: starts come from a StartPoint.
        self.compiled = compile_nutpie(model, backend="numba", jitter_rvs=set())

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the log density (with Jacobian) and gradient at a flat point."""
        logp, grad = self.compiled.logp_func(np.ascontiguousarray(x, dtype=float))
        return float(logp), np.asarray(grad, dtype=float)

    def support_point(self) -> np.ndarray:
        """Return the model's default initial point, flat and unconstrained."""
        return np.asarray(self.compiled.initial_point_func(0), dtype=float)

    def launch(self, *, chains: int, draws: int, max_draws: int, seed: int, start: StartPoint):
        """Start a run that may be read up to ``max_draws`` draws per chain."""
        return NutpieRun(
            self.compiled, self.settings, chains=chains, max_draws=max_draws, seed=seed, start=start
        )

    def unconstrained(self, tree: xr.DataTree) -> np.ndarray:
        """Return the unconstrained draws, shape ``(chain, draw, n)``."""
        return tree["sample_stats"][UNCONSTRAINED_STAT].transpose("chain", "draw", ...).values

    def finalize(self, tree: xr.DataTree, sampling_time: float) -> xr.DataTree:
        """Drop the helper draws and add what ``pm.sample`` adds (data groups, timing)."""
        from pymc.backends.arviz import patch_nutpie_idata

        out = xr.DataTree.from_dict(
            {
                name: child.to_dataset()
                for name, child in tree.children.items()
                if name not in NUTPIE_HELPER_GROUPS
            }
        )
        out["sample_stats"] = xr.DataTree(
            dataset=out["sample_stats"].to_dataset().drop_vars(UNCONSTRAINED_STAT)
        )
        out.attrs.update(tree.attrs)
        patch_nutpie_idata(out, self.model, sampling_time=sampling_time)
        return out


class FinishedRun:
    """A completed run (PyMC's sampler cannot continue one)."""

    extendable = False

    def __init__(self, tree: xr.DataTree, started: float) -> None:
        self.tree = tree
        self.started = started

    def snapshot(self, draws: int) -> xr.DataTree:
        """Return the first ``draws`` draws per chain."""
        return truncate(self.tree, draws)

    def resume(self) -> None:
        """Nothing to resume."""

    def finish(self, draws: int) -> xr.DataTree:
        """Return the first ``draws`` draws per chain."""
        return truncate(self.tree, draws)

    def close(self) -> None:
        """Nothing to close."""


class PymcBackend:
    """PyMC's own NUTS: per-chain ``initvals``, a fresh run for every extension."""

    name = "pymc"

    def __init__(self, model: pm.Model, settings: SamplerSettings) -> None:
        from pymc.model.transform.optimization import freeze_model

        # A frozen model caches its compiled log density: the start optimisation, the run
        # and every re-run then share one compile (a mutable model compiles on every call).
        self.model = freeze_model(model)
        self.settings = settings
        self.value_vars = list(self.model.continuous_value_vars)
        point = self.model.initial_point(0)
        self.shapes = [np.shape(point[v.name]) for v in self.value_vars]
        self._logp_dlogp = None

    def _split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out, cursor = {}, 0
        for var, shape in zip(self.value_vars, self.shapes, strict=True):
            size = int(np.prod(shape))
            out[var.name] = np.asarray(x[cursor : cursor + size]).reshape(shape)
            cursor += size
        return out

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the log density (with Jacobian) and gradient at a flat point."""
        if self._logp_dlogp is None:
            # Called as NUTS calls it, so that both hit the frozen model's cache.
            self._logp_dlogp = self.model.logp_dlogp_function(ravel_inputs=True)
        logp, grad = self._logp_dlogp(np.asarray(x, dtype=float))
        return float(logp), np.asarray(grad, dtype=float)

    def support_point(self) -> np.ndarray:
        """Return the model's default initial point, flat and unconstrained."""
        point = self.model.initial_point(0)
        return np.concatenate([np.ravel(point[v.name]) for v in self.value_vars])

    def launch(self, *, chains: int, draws: int, max_draws: int, seed: int, start: StartPoint):
        """Sample ``draws`` per chain now (``max_draws`` is ignored: no continuation)."""
        import pymc as pm

        started = time.perf_counter()
        seeds = np.random.default_rng(seed).integers(2**30, size=chains)
        tree = pm.sample(
            draws=draws,
            tune=self.settings.tune,
            chains=chains,
            cores=min(chains, 2),
            random_seed=seed,
            nuts_sampler="pymc",
            progressbar=self.settings.progressbar,
            quiet=not self.settings.progressbar,
            target_accept=self.settings.target_accept,
            initvals=[self._split(start.draw(int(s))) for s in seeds],
            init="adapt_diag",
            idata_kwargs={"include_transformed": True},
            model=self.model,
        )
        return FinishedRun(tree, started)

    def unconstrained(self, tree: xr.DataTree) -> np.ndarray:
        """Return the unconstrained draws, shape ``(chain, draw, n)``."""
        posterior = tree["posterior"]
        parts = []
        for var in self.value_vars:
            values = posterior[var.name].transpose("chain", "draw", ...).values
            parts.append(values.reshape(values.shape[0], values.shape[1], -1))
        return np.concatenate(parts, axis=2)

    def finalize(self, tree: xr.DataTree, sampling_time: float) -> xr.DataTree:
        """Drop the transformed draws kept for restarts, as ``pm.sample`` would."""
        rvs = {rv.name for rv in self.model.free_RVs}
        helpers = [v.name for v in self.value_vars if v.name not in rvs]
        out = tree.copy()
        out["posterior"] = xr.DataTree(
            dataset=tree["posterior"].to_dataset().drop_vars(helpers, errors="ignore")
        )
        return out


def with_settings(backend, settings: SamplerSettings):
    """Return ``backend`` sampling with ``settings``, sharing its compiled model."""
    out = copy.copy(backend)
    out.settings = settings
    return out


def make_backend(model: pm.Model, settings: SamplerSettings):
    """Return the backend of ``settings.sampler``."""
    return (
        NutpieBackend(model, settings)
        if settings.sampler == "nutpie"
        else PymcBackend(model, settings)
    )
