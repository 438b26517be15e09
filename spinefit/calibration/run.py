"""``calibrate``: simulation-based calibration of a model, the library function behind the CLI.

Each replicate draws a truth from the model's priors and a data set from its likelihood
(:mod:`spinefit.calibration.simulators`), fits the model with explicit sampler settings
and records the rank of every scalar parameter's truth among L thinned posterior draws
and whether its central 50% and 94% intervals hold it
(:mod:`spinefit.calibration.ranks`). Replicates run as independent tasks
(:func:`spinefit.batch.cluster.run_tasks`: in this process, on a local dask cluster or on
a given scheduler, each worker with its own compile dir); each finished one is appended
to ``replicates.jsonl`` in the output folder, so a rerun skips the replicates already
done. The summary (``calibration.json``) and the report (``calibration.html``) are
rewritten atomically from all records.

Replicate ``i`` uses the seed ``SeedSequence([seed, i])`` for the simulation and the fit,
so any replicate can be rerun alone and gives the same numbers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from spinefit.batch.cluster import run_tasks
from spinefit.calibration.ranks import (
    CENTRAL_PROBABILITIES,
    DEFAULT_THINNED_DRAWS,
    central_interval,
    interval_label,
    parameter_table,
    rank_statistic,
    thin,
)
from spinefit.calibration.simulators import simulator_for
from spinefit.errors import ConfigError
from spinefit.io.atomic import write_text_atomically
from spinefit.sampling.settings import SamplerSettings

__all__ = [
    "RECORDS_FILE",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "calibrate",
    "calibration_task",
    "replicate_seed",
]

RECORDS_FILE = "replicates.jsonl"
SUMMARY_FILE = "calibration.json"
REPORT_FILE = "calibration.html"
FAMILY_ALPHA = 0.01
"""Family-wise level of the Bonferroni-corrected rank-uniformity verdict."""


def replicate_seed(seed: int, replicate: int) -> int:
    """Return the seed of replicate ``replicate`` of a calibration with base ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(replicate)]).generate_state(1)[0])


def _scalar_draws(model, tree, names: list[str]) -> dict[str, np.ndarray]:
    """Return ``(chain, draw)`` draws of ``names`` from the posterior or summary draws."""
    posterior = tree["posterior"].to_dataset()
    sources = [posterior]
    if hasattr(model, "summary_draws"):
        sources.insert(0, model.summary_draws(tree))
    out = {}
    for name in names:
        source = next((s for s in sources if name in s), None)
        if source is None:
            raise ConfigError(f"the fit reports no parameter '{name}'")
        out[name] = source[name].transpose("chain", "draw").to_numpy()
    return out


def calibration_task(
    model_name: str,
    replicate: int,
    seed: int,
    sampler: dict[str, Any],
    n_thinned: int = DEFAULT_THINNED_DRAWS,
    design: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate, fit and rank one replicate (a module-level function, so workers can run it).

    Parameters
    ----------
    model_name : str
        Registered model name with a simulator.
    replicate : int
        Replicate index i; the seed is :func:`replicate_seed` (seed, i).
    seed : int
        Base seed of the calibration.
    sampler : dict
        ``draws``, ``tune``, ``chains``, ``sampler`` and the other
        :class:`~spinefit.sampling.settings.SamplerSettings` fields except the seed.
    n_thinned : int
        L: posterior draws kept for the ranks.
    design : dict, optional
        Keyword options of the simulator (data size, tolerance, ...).
    options : dict, optional
        Model options added to the simulator's config (e.g. ``grid_points``).

    Returns
    -------
    dict
        JSON-serialisable record: ``replicate``, ``seed``, ``truth``, ``ranks``,
        ``covered`` (per central probability), posterior ``mean`` and ``sd``,
        ``diagnostics`` (max R-hat, min bulk ESS, divergences), simulation ``notes``,
        ``fit_seconds``.
    """
    import xarray as xr

    from spinefit.models import get_model_class
    from spinefit.sampling.compiled_cache import reuse
    from spinefit.stats import count_divergences, stats_of

    logging.getLogger("pymc").setLevel(logging.WARNING)
    replicate_random_seed = replicate_seed(seed, replicate)
    simulation = simulator_for(model_name)(replicate_random_seed, **(design or {}))
    settings = SamplerSettings(**(sampler | {"random_seed": replicate_random_seed}))
    model = get_model_class(model_name)(simulation.config | (options or {}))
    start = time.perf_counter()
    with reuse():  # replicates share their structure: compile once per worker
        tree = model.fit(simulation.data, settings, command_line=f"calibrate replicate {replicate}")
    fit_seconds = time.perf_counter() - start
    names = list(simulation.truth)
    draws = _scalar_draws(model, tree, names)
    rng = np.random.default_rng(replicate_random_seed)
    ranks, covered, mean, sd, rhat, ess = {}, {}, {}, {}, [], []
    for p in CENTRAL_PROBABILITIES:
        covered[interval_label(p)] = {}
    for name in names:
        truth, values = simulation.truth[name], draws[name]
        ranks[name] = rank_statistic(truth, thin(values, n_thinned), rng)
        for p in CENTRAL_PROBABILITIES:
            low, high = central_interval(values, p)
            covered[interval_label(p)][name] = bool(low <= truth <= high)
        mean[name], sd[name] = float(values.mean()), float(values.std())
        summary = stats_of(xr.DataArray(values, dims=("chain", "draw")))
        rhat.append(summary["r_hat"])
        ess.append(summary["ess_bulk"])
    return {
        "replicate": int(replicate),
        "seed": replicate_random_seed,
        "truth": simulation.truth,
        "ranks": ranks,
        "covered": covered,
        "mean": mean,
        "sd": sd,
        "diagnostics": {
            "max_r_hat": float(np.nanmax(rhat)),
            "min_ess_bulk": float(np.nanmin(ess)),
            "divergences": count_divergences(tree),
        },
        "notes": simulation.notes,
        "config": simulation.config | (options or {}),
        "fit_seconds": fit_seconds,
    }


def _read_records(path: Path, fingerprint: str) -> list[dict[str, Any]]:
    """Return the records of earlier runs of the same calibration in ``path``."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: line {number} is not JSON; move the file away") from None
        if record.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{path} holds replicates of another calibration (other model, seed, sampler "
                "or design); give a new --out or remove it"
            )
        records.append(record)
    return records


def _write_records(path: Path, records: list[dict[str, Any]]) -> None:
    lines = (json.dumps(r, sort_keys=True) for r in sorted(records, key=lambda r: r["replicate"]))
    write_text_atomically(path, "".join(line + "\n" for line in lines))


def calibrate(
    model: str = "drift-diffusion",
    *,
    out: str | Path,
    n: int = 200,
    family: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    seed: int = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    sampler: str = "nutpie",
    robust_starts: bool = False,
    n_thinned: int = DEFAULT_THINNED_DRAWS,
    design: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    command_line: str | None = None,
) -> dict[str, Any]:
    """Run simulation-based calibration of ``model`` and write its summary and report.

    Parameters
    ----------
    model : str
        Registered model name with a simulator (see
        :func:`spinefit.calibration.simulators.simulator_names`).
    out : str or Path
        Folder of ``replicates.jsonl``, ``calibration.json`` and ``calibration.html``.
    n : int
        Replicates wanted (replicates already in ``out`` are kept and not rerun).
    family : str, optional
        SDE family (drift–diffusion only; its simulator supports ``linear``).
    scheduler, workers
        Passed to :func:`run_tasks` (``"inprocess"``: sequential, in this process).
    seed : int
        Base seed; replicate i uses :func:`replicate_seed` (seed, i).
    draws, tune, chains, sampler
        Sampler settings of every fit (ESS extension off, so every fit has ``draws``
        per chain).
    robust_starts : bool
        Start chains near the posterior mode (:class:`SamplerSettings`); off by default,
        as it tripled the cost of a 300-synapse mixture fit (3.5 → 13 s) and SBC is about
        the model, not the starts. Stuck-chain restarts stay on.
    n_thinned : int
        L: ranks run over 0..L.
    design : dict, optional
        Simulator options (data size, tolerance, ...).
    options : dict, optional
        Model options added to the simulator's config.
    progress : bool
        Show a progress bar.
    command_line : str, optional
        Recorded in the summary.

    Returns
    -------
    dict
        The summary written to ``calibration.json``.

    Raises
    ------
    ConfigError
        For an unknown model, a model without simulator, ``n < 1``, too few draws for L,
        or records of another calibration in ``out``.
    """
    from spinefit.models import get_model_class

    get_model_class(model)
    simulator = simulator_for(model)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if n_thinned < 1 or draws * chains < n_thinned:
        raise ConfigError(
            f"draws x chains ({draws} x {chains}) must be at least the thinned draws L = "
            f"{n_thinned}"
        )
    design = dict(design or {})
    options = dict(options or {})
    if family is not None:
        design["family"] = family
    accepted = set(inspect.signature(simulator).parameters) - {"random_seed"}
    unknown = sorted(set(design) - accepted)
    if unknown:
        what = "--family" if unknown == ["family"] else f"design option(s) {unknown}"
        raise ConfigError(
            f"the {model} simulator takes no {what}; its options are {sorted(accepted)}"
        )
    settings = SamplerSettings(
        draws=draws,
        tune=tune,
        chains=chains,
        sampler=sampler,
        progressbar=False,
        ess_target=0,
        robust_starts=robust_starts,
    )
    sampler_fields = {k: v for k, v in asdict(settings).items() if k != "random_seed"}
    identity = {
        "model": model,
        "seed": seed,
        "sampler": sampler_fields,
        "n_thinned": n_thinned,
        "design": design,
        "options": options,
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / RECORDS_FILE
    # Every record stays in the file; a smaller --n summarises the first n replicates.
    all_records = _read_records(records_path, fingerprint)
    done = {r["replicate"] for r in all_records}
    items = [
        (
            f"replicate-{i}",
            {
                "model_name": model,
                "replicate": i,
                "seed": seed,
                "sampler": sampler_fields,
                "n_thinned": n_thinned,
                "design": design,
                "options": options,
            },
        )
        for i in range(n)
        if i not in done
    ]
    failures: list[dict[str, Any]] = []
    start = time.perf_counter()
    for outcome in run_tasks(
        calibration_task,
        items,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        description=f"calibrating {model}",
    ):
        if outcome.ok:
            all_records.append(
                outcome.value | {"fingerprint": fingerprint, "task_seconds": outcome.seconds}
            )
            _write_records(records_path, all_records)
        else:
            failures.append({"key": outcome.key, "error": outcome.error})
    wall_seconds = time.perf_counter() - start
    records = [r for r in all_records if r["replicate"] < n]
    summary = summarise(records, identity, failures, n, wall_seconds, command_line)
    write_text_atomically(out / SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=False))
    from spinefit.report.calibration import render_calibration_report

    write_text_atomically(out / REPORT_FILE, render_calibration_report(summary, records))
    return summary


def summarise(
    records: list[dict[str, Any]],
    identity: dict[str, Any],
    failures: list[dict[str, Any]],
    n: int,
    wall_seconds: float,
    command_line: str | None = None,
) -> dict[str, Any]:
    """Return the JSON summary of a calibration from its replicate records."""
    from spinefit._version import __version__

    records = sorted(records, key=lambda r: r["replicate"])
    table = parameter_table(records, identity["n_thinned"], FAMILY_ALPHA)
    notes = [r["notes"] for r in records]
    mismatch: dict[str, float] = {}
    for note in notes:
        for key, value in note.get("mismatch", {}).items():
            mismatch[key] = max(mismatch.get(key, 0.0), abs(float(value)))
    calibrated = not table["failing"] and not table["coverage_outside"]
    return {
        "model": identity["model"],
        "spinefit_version": __version__,
        "command_line": command_line,
        "replicates_requested": n,
        "replicates_done": len(records),
        "replicates_failed": len(failures),
        "failures": failures,
        "n_thinned": identity["n_thinned"],
        "rank_values": identity["n_thinned"] + 1,
        "seed": identity["seed"],
        "sampler": identity["sampler"],
        "design": identity["design"],
        "options": identity["options"],
        "fit_minutes": sum(r["fit_seconds"] for r in records) / 60.0,
        "task_minutes": sum(r.get("task_seconds", 0.0) for r in records) / 60.0,
        "wall_minutes_this_run": wall_seconds / 60.0,
        "max_r_hat": max((r["diagnostics"]["max_r_hat"] for r in records), default=None),
        "divergent_replicates": sum(r["diagnostics"]["divergences"] > 0 for r in records),
        "prior_approximation": {
            "method": notes[0].get("method") if notes else None,
            "largest_realised_mismatch": mismatch,
            # exact when every fit was given the prior scales its truth was drawn with
            "exact": bool(records)
            and all(r.get("config", {}).get("prior_scales") for r in records),
        },
        "calibrated": calibrated,
        "verdict": _verdict(table, len(records)),
        **table,
    }


MIN_REPLICATES_TO_PASS = 50
"""Below this many replicates a calibration without failures is not called a pass."""


def _verdict(table: dict[str, Any], n: int) -> str:
    """Return one sentence saying whether the calibration passed."""
    if n < 2:
        return "too few replicates to judge"
    failing, outside = table["failing"], table["coverage_outside"]
    if not failing and not outside:
        if n < MIN_REPLICATES_TO_PASS:
            return (
                f"no failure seen at n = {n}, too few replicates to call the model calibrated "
                f"(use --n {MIN_REPLICATES_TO_PASS} or more; 200 for the issue's standard)"
            )
        return (
            f"calibrated at n = {n}: no rank χ² p-value below the Bonferroni threshold "
            f"{table['bonferroni_threshold']:.2g} and every 94% coverage in its binomial range"
        )
    parts = []
    if failing:
        parts.append(f"non-uniform ranks for {', '.join(failing)}")
    if outside:
        parts.append(f"94% coverage outside its binomial range for {', '.join(outside)}")
    return f"NOT calibrated at n = {n}: " + "; ".join(parts)
