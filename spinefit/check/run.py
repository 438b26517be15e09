"""The library function behind ``spinefit check`` (alias ``simulate``): the stored PPC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinefit.check.ppc import stationary_check, store_check
from spinefit.check.stationary import ppc_summary
from spinefit.errors import ConfigError
from spinefit.io.atomic import write_atomically
from spinefit.results import load_result


def run_check(
    result_path: str | Path,
    *,
    draws: int = 200,
    out: str | Path | None = None,
    random_seed: int = 0,
    n_particles: int | None = None,
    store: bool = True,
) -> dict[str, Any]:
    """Run the posterior predictive check of a saved result, store it and summarise it.

    The check (:func:`spinefit.check.ppc.stationary_check`) is stored in the result file
    as its ``ppc`` group (the file is rewritten atomically), where the report reads it.

    Parameters
    ----------
    result_path : str or Path
        A drift–diffusion result from ``spinefit fit``.
    draws : int
        Posterior draws used for the predictive distribution.
    out : str or Path, optional
        Where to write the check as netCDF (atomically); nothing is written when None.
    random_seed : int
        Seed of the draw choice, the replicate samples and the particle simulation.
    n_particles : int, optional
        Also cross-check a few draws with the particle simulator, with this many sites.
    store : bool
        Store the check in the result file.

    Returns
    -------
    dict
        :func:`spinefit.check.stationary.ppc_summary` of the check, plus ``"out"`` (the
        written path, or None) and ``"stored"`` (the result file it was stored in, or
        None).

    Raises
    ------
    ResultError
        If the result cannot be read.
    ConfigError
        If the result is not a drift–diffusion result or an option is out of range.
    """
    if out is not None and Path(out).resolve() == Path(result_path).resolve():
        raise ConfigError(f"{out}: --out would overwrite the result; the check is stored in it")
    tree = load_result(result_path)
    check = stationary_check(tree, draws=draws, random_seed=random_seed, n_particles=n_particles)
    written = None
    if out is not None:
        written = write_atomically(out, lambda path: check.to_netcdf(path, engine="h5netcdf"))
    if store:
        store_check(result_path, check)
    body = ppc_summary(check)
    body["out"] = None if written is None else str(written)
    body["stored"] = str(result_path) if store else None
    return body


def check_lines(body: dict[str, Any]) -> list[str]:
    """Return the plain-text lines ``spinefit check`` prints for a :func:`run_check` body."""
    stationary, turnover = body["stationary"], body["turnover"]
    settings = body["settings"]
    lines = [
        f"posterior predictive stationary check ({settings['draws']} draws, "
        f"seed {settings['random_seed']}, {settings['n_observed']} observed sizes, "
        f"threshold {settings['detection_threshold']:.4g} {stationary['units']['w']})",
    ]
    for key, label in (("ks", "KS distance"), ("wasserstein", "Wasserstein-1")):
        entry = stationary[key]
        lines.append(
            f"  {label}: observed {entry['observed']:.4g} "
            f"[{entry['observed_hdi_low']:.4g}, {entry['observed_hdi_high']:.4g}], "
            f"replicate {entry['replicate']:.4g}, p = {entry['p_value']:.3g}"
        )
    for name in ("elimination_per_day", "formation_per_day"):
        predicted, observed = turnover[name]["predicted"], turnover[name]["observed"]
        lines.append(
            f"  {name.replace('_', ' ')}: predicted {predicted['mean']:.4g} "
            f"[{predicted['hdi_low']:.4g}, {predicted['hdi_high']:.4g}], "
            f"fitted {observed['mean']:.4g} [{observed['hdi_low']:.4g}, "
            f"{observed['hdi_high']:.4g}] 1/day"
        )
    if body.get("out"):
        lines.append(f"wrote {body['out']}")
    if body.get("stored"):
        lines.append(f"stored the check in {body['stored']} (group 'ppc')")
    return lines
