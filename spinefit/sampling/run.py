"""One robust sampling run: robust starts, stuck-chain recovery, draws up to an ESS target.

Divergent draws are re-sampled once with smaller steps (:func:`retry_divergent`).
The order matters. The first ``draws`` per chain are checked for chains in different
modes before any extension: extending a run with a stuck chain would only spend the cap
(its ESS stays near the number of chains). With nutpie the run is paused there, so a fit
that needs no help pays nothing but the start optimisation and the checks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import xarray as xr

from spinefit.sampling.backends import make_backend, replace_chain, with_settings
from spinefit.sampling.ess import (
    RHAT_LIMIT,
    cap_draws,
    ess_needed,
    max_rhat,
    min_bulk_ess,
    next_draws,
)
from spinefit.sampling.hints import hinted_point, hints_of
from spinefit.sampling.modes import ModeCheck, check_posterior
from spinefit.sampling.starts import StartPoint, default_start, posterior_start, robust_start
from spinefit.stats import count_divergences

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.sampling.settings import SamplerSettings

logger = logging.getLogger("spinefit.sampling")

NOTES_ATTR = "sampling_notes"
"""Root attr: JSON list of plain-language sentences on what the sampler had to do."""
RESTARTED_ATTR = "restarted_chains"
"""Root attr: JSON list of the chains re-run from a new start (may repeat a chain)."""
DRAWS_ATTR = "sampling_draws"
"""Root attr: draws per chain in the result, after any extension for the ESS target."""
START_ATTR = "sampling_start"
"""Root attr: how the chains' start was chosen."""
RESTART_JITTER_SDS = 0.1
"""A re-run chain starts at a reference draw ± this many posterior SDs."""
RESAMPLE_JITTER_SDS = 1.0
"""A re-sampling run starts at a posterior draw ± this many posterior SDs."""

PILOT_DRAWS = 100
"""Draws per chain after warm-up that a refiner reads (:func:`refine_after_pilot`)."""

Refiner = Callable[[Mapping[str, float]], "tuple[pm.Model, str] | None"]
"""Posterior medians of a pilot run's scalar variables → a rebuilt model to sample instead
and a note for the record, or None to keep the model (see
:func:`spinefit.models.grid_choice.sample_with_grid_choice`)."""


@dataclass
class SamplingRecord:
    """What happened while sampling, written to the result's root attrs."""

    start: str = "support point"
    notes: list[str] = field(default_factory=list)
    restarted: list[int] = field(default_factory=list)
    draws: int = 0

    def note(self, text: str, loud: bool = False) -> None:
        """Keep ``text`` for the result; print it too when ``loud``."""
        self.notes.append(text)
        if loud:
            logger.warning("spinefit: note: %s", text)
        else:
            logger.info("spinefit: %s", text)

    def write(self, tree: xr.DataTree) -> None:
        """Store the record as root attrs of ``tree``."""
        tree.attrs[NOTES_ATTR] = json.dumps(self.notes)
        tree.attrs[RESTARTED_ATTR] = json.dumps(self.restarted)
        tree.attrs[DRAWS_ATTR] = self.draws
        tree.attrs[START_ATTR] = self.start


def sampling_notes(tree: xr.DataTree) -> list[str]:
    """Return the sampling notes stored with a result (empty for older results)."""
    return list(json.loads(tree.attrs.get(NOTES_ATTR, "[]")))


def choose_start(backend, settings: SamplerSettings, model=None) -> StartPoint:
    """Return the robust start, or PyMC's default when robust starts are off.

    ``model`` is the model as built, whose start hints (:mod:`spinefit.sampling.hints`)
    give one more optimisation.
    """
    support = backend.support_point()
    if not settings.robust_starts:
        return default_start(support)
    hints = hints_of(model) if model is not None else None
    hint = None
    if hints is not None:
        hint = hinted_point(model, support, backend.logp_grad, hints)
    return robust_start(backend.logp_grad, support, settings.random_seed, hint=hint)


def pilot_medians(tree: xr.DataTree) -> dict[str, float]:
    """Return the posterior median of every scalar variable of a run's draws."""
    posterior = tree["posterior"].to_dataset()
    return {
        str(name): float(var.median())
        for name, var in posterior.data_vars.items()
        if set(var.dims) <= {"chain", "draw"}
    }


def refine_after_pilot(backend, run, refine: Refiner, settings: SamplerSettings, record):
    """Let ``refine`` rebuild the model from a pilot of the run's first draws.

    The run is paused after warm-up and :data:`PILOT_DRAWS` draws per chain (after all of
    ``settings.draws`` with PyMC's sampler, which cannot pause). When ``refine`` returns a
    model, the run is dropped and the new model sampled from a draw of the pilot: both
    models have the same free variables, so the pilot's unconstrained draws fit it.

    Returns
    -------
    backend
        The backend of the model now sampled.
    run
        Its run, going on.
    """
    pilot = run.snapshot(min(PILOT_DRAWS, settings.draws))
    finer = refine(pilot_medians(pilot))
    if finer is None:
        run.resume()
        return backend, run
    run.close()
    model, note = finer
    record.note(note)
    seed = settings.random_seed + 2
    start = posterior_start(backend.unconstrained(pilot), RESAMPLE_JITTER_SDS, seed)
    backend = make_backend(model, settings)
    return backend, _launch(backend, settings, start)


def _check(tree: xr.DataTree) -> ModeCheck:
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    return check_posterior(tree["posterior"].to_dataset(), stats)


def _mean_log_density(tree: xr.DataTree, chains: list[int]) -> float:
    stats = tree["sample_stats"]
    name = "logp" if "logp" in stats else "lp"
    return float(stats[name].isel(chain=chains).mean())


def _rerun_chain(backend, tree, check, chain, attempt, settings, record) -> xr.DataTree:
    """Re-run one low-density chain from a draw of the reference chains."""
    reference = check.groups[0]
    seed = settings.random_seed + 1000 * (attempt + 1) + chain
    start = posterior_start(backend.unconstrained(tree)[reference], RESTART_JITTER_SDS, seed)
    draws = tree["posterior"].sizes["draw"]
    run = backend.launch(chains=1, draws=draws, max_draws=draws, seed=seed, start=start)
    try:
        new = run.finish(draws)
    finally:
        run.close()
    record.note(
        f"chain {chain} sat in a low-density mode (mean log density "
        f"{_mean_log_density(tree, [chain]):.1f} vs {_mean_log_density(tree, reference):.1f}; "
        f"{check.describe()}); re-ran it from a draw of chain(s) "
        f"{', '.join(map(str, reference))} (re-run {attempt + 1} of {settings.max_restarts})",
        loud=True,
    )
    record.restarted.append(chain)
    return replace_chain(tree, new, chain)


def recover_stuck_chains(backend, tree, check, settings, record):
    """Re-run chains stuck in a low-density mode, at most ``settings.max_restarts`` times.

    Returns
    -------
    tree : xarray.DataTree
        The draws with the re-run chains in place.
    check : ModeCheck
        The final check.
    """
    for attempt in range(settings.max_restarts):
        if check.agree or not check.low_density:
            break
        for chain in check.low_density:
            tree = _rerun_chain(backend, tree, check, chain, attempt, settings, record)
        check = _check(tree)
    if check.agree:
        record.note("after the re-run(s) all chains agree", loud=True)
    else:
        record.note(
            f"{check.describe()} still disagree after {len(record.restarted)} re-run(s); "
            "the fit is not converged",
            loud=True,
        )
    return tree, check


def resample(backend, tree, draws: int, settings: SamplerSettings, record, why: str):
    """Sample again with ``draws`` per chain and the same tune, started near the posterior.

    ``why`` completes the note: why the run could not simply be continued.
    """
    seed = settings.random_seed + 1
    start = posterior_start(backend.unconstrained(tree), RESAMPLE_JITTER_SDS, seed)
    run = backend.launch(
        chains=settings.chains, draws=draws, max_draws=draws, seed=seed, start=start
    )
    try:
        new = run.finish(draws)
    finally:
        run.close()
    record.note(
        f"re-sampled with {draws} draws per chain and the same tune, started near the "
        f"posterior ({why})"
    )
    return new


def _ess_and_rhat(tree: xr.DataTree) -> tuple[float, float]:
    posterior = tree["posterior"].to_dataset()
    return min_bulk_ess(posterior), max_rhat(posterior)


def extend_to_target(run, tree, backend, settings: SamplerSettings, record) -> xr.DataTree:
    """Add draws in rounds until bulk ESS ≥ ``settings.ess_target`` and R-hat ≤ 1.01."""
    draws = settings.draws
    ess, rhat = _ess_and_rhat(tree)
    needed = ess_needed(ess, rhat, settings.ess_target)
    while settings.ess_target and ess < needed and draws < cap_draws(settings.draws):
        draws = next_draws(draws, ess, needed, settings.draws)
        if run.extendable:
            run.resume()
            tree = run.snapshot(draws)
        else:
            why = "PyMC's sampler cannot continue a run"
            tree = resample(backend, tree, draws, settings, record, why)
        ess, rhat = _ess_and_rhat(tree)
        needed = ess_needed(ess, rhat, settings.ess_target)
        if not run.extendable:
            break  # one re-sampling at most: each one tunes again
    if draws > settings.draws:
        reached = "reached" if ess >= needed else "not reached"
        record.note(
            f"extended to {draws} draws per chain for bulk ESS >= {settings.ess_target} and "
            f"R-hat <= {RHAT_LIMIT} ({reached}: min bulk ESS {ess:.0f}, max R-hat "
            f"{rhat:.3f}; cap {cap_draws(settings.draws)})"
        )
    return run.finish(draws) if run.extendable else tree


def _ess_after_restart(backend, tree, settings: SamplerSettings, record) -> xr.DataTree:
    """Re-sample once with more draws when re-run chains leave the ESS short.

    The main run was stopped to re-run chains, so it cannot be continued.
    """
    ess, rhat = _ess_and_rhat(tree)
    needed = ess_needed(ess, rhat, settings.ess_target)
    if not settings.ess_target or ess >= needed:
        return tree
    draws = next_draws(settings.draws, ess, needed, settings.draws)
    return resample(backend, tree, draws, settings, record, "the run was stopped for the re-run")


def retry_divergent(backend, tree, settings: SamplerSettings, record) -> xr.DataTree:
    """Sample once more with smaller steps when the draws have divergent transitions.

    A divergence is a trajectory that the step size could not follow (a region of high
    curvature, which the draws then under-visit). The standard remedy is a higher target
    acceptance, which adapts a smaller step. The new run starts near the posterior, has
    its own warm-up and goes to the same ESS target; the run with fewer divergences is
    kept, and the note gives both counts.
    """
    found = count_divergences(tree)
    if not found or not settings.retries_divergences:
        return tree
    target = settings.retry_target_accept
    logger.warning(  # now, not only in the note: the re-run may take as long as the fit
        "spinefit: note: %d divergent transition(s) at target acceptance %s; sampling "
        "again at %s (smaller steps)",
        found,
        settings.target_accept,
        target,
    )
    smaller = dataclasses.replace(
        settings, random_seed=settings.random_seed + 3, target_accept=target
    )
    retry = with_settings(backend, smaller)  # the same compiled model, smaller steps
    start = posterior_start(backend.unconstrained(tree), RESAMPLE_JITTER_SDS, smaller.random_seed)
    run = _launch(retry, smaller, start)
    try:
        new = extend_to_target(run, run.snapshot(smaller.draws), retry, smaller, record)
    finally:
        run.close()
    again = count_divergences(new)
    record.note(
        f"{found} divergent transition(s) at target acceptance {settings.target_accept}; "
        f"re-sampled from near the posterior at {target} (smaller steps): {again}; kept the "
        f"{'new' if again < found else 'first'} draws",
        loud=True,
    )
    return new if again < found else tree


def _launch(backend, settings: SamplerSettings, start: StartPoint):
    """Launch the main run (readable up to the cap of the ESS rounds)."""
    max_draws = cap_draws(settings.draws) if settings.ess_target else settings.draws
    return backend.launch(
        chains=settings.chains,
        draws=settings.draws,
        max_draws=max_draws,
        seed=settings.random_seed,
        start=start,
    )


def sample_robustly(
    model: pm.Model,
    settings: SamplerSettings,
    start: StartPoint | None = None,
    refine: Refiner | None = None,
) -> xr.DataTree:
    """Sample ``model`` from robust starts, re-run stuck chains, extend to the ESS target.

    Parameters
    ----------
    model : pymc.Model
        The model.
    settings : SamplerSettings
        Sampler, draws, tune, chains, seed, ``robust_starts``, ``max_restarts``,
        ``ess_target``, ``retry_target_accept``.
    start : StartPoint, optional
        Where the chains start, instead of :func:`choose_start` (tests force chains apart
        with it).
    refine : callable, optional
        Called once with a pilot's posterior medians; may return a rebuilt model to
        sample instead (:func:`refine_after_pilot`).

    Returns
    -------
    xarray.DataTree
        As ``pm.sample`` returns it, with root attrs :data:`NOTES_ATTR`,
        :data:`RESTARTED_ATTR`, :data:`DRAWS_ATTR` and :data:`START_ATTR`.
    """
    backend = make_backend(model, settings)
    record = SamplingRecord()
    start = start or choose_start(backend, settings, model)
    record.start = start.method
    started = time.perf_counter()  # `sampling_time` counts sampling only, as in pm.sample
    run = _launch(backend, settings, start)
    try:
        if refine is not None:
            backend, run = refine_after_pilot(backend, run, refine, settings, record)
        tree = run.snapshot(settings.draws)
        check = _check(tree)
        settled = True  # False when chains end in different modes: nothing to refine
        if check.low_density and settings.max_restarts:
            tree = run.finish(settings.draws)
            tree, check = recover_stuck_chains(backend, tree, check, settings, record)
            settled = check.agree
            if check.agree:
                tree = _ess_after_restart(backend, tree, settings, record)
        elif check.different_modes:
            tree = run.finish(settings.draws)
            settled = False
            record.note(
                f"{check.describe()}: stable modes of similar log density, not re-run; "
                "the posterior may be multimodal, and the fit is not converged",
                loud=True,
            )
        else:  # one mode, or chains still moving: more draws are the remedy
            tree = extend_to_target(run, tree, backend, settings, record)
        run.close()
        if settled:
            tree = retry_divergent(backend, tree, settings, record)
    finally:
        run.close()
    record.draws = int(tree["posterior"].sizes["draw"])
    tree = backend.finalize(tree, time.perf_counter() - started)
    record.write(tree)
    return tree
