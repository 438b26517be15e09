"""The library function behind ``spinefit simulate``: posterior predictive stationary check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinefit.io.results import load_result, write_atomically
from spinefit.ppc import ppc_summary, stationary_check


def run_simulate(
    result_path: str | Path,
    *,
    draws: int = 200,
    out: str | Path | None = None,
    random_seed: int = 0,
    n_particles: int | None = None,
) -> dict[str, Any]:
    """Run :func:`spinefit.ppc.stationary_check` on a saved result and summarise it.

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

    Returns
    -------
    dict
        :func:`spinefit.ppc.ppc_summary` of the check, plus
        ``"out"`` (the written path, or None).

    Raises
    ------
    ResultError
        If the result cannot be read.
    ConfigError
        If the result is not a drift–diffusion result or an option is out of range.
    """
    tree = load_result(result_path)
    check = stationary_check(tree, draws=draws, random_seed=random_seed, n_particles=n_particles)
    written = None
    if out is not None:
        written = write_atomically(out, lambda path: check.to_netcdf(path, engine="h5netcdf"))
    body = ppc_summary(check)
    body["out"] = None if written is None else str(written)
    return body


def simulate_lines(body: dict[str, Any]) -> list[str]:
    """Return the plain-text lines ``spinefit simulate`` prints for a :func:`run_simulate` body."""
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
    return lines
