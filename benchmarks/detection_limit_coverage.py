"""Spines lost at θ but seen only above a detection limit: fits with and without the limit.

Each seed simulates the default drift–diffusion run with turnover (400 sites, or --sites;
the default sessions, killing at θ = 0.1) with 15% log-normal measurement noise, then hides every
measurement below the detection limit (default 0.25, 2.5 θ): a hidden spine is alive but
absent from the table, and may come back. Two fits per seed, 2 × (500 + 500): "default"
(absences read as deaths) and "detection_limit" (`-o detection_limit` at the limit used).
Prints, per fit, posterior mean / truth and whether the 94% HDI holds the truth for a, b,
c, d, θ and τ, then the fit's own posterior predictive check (KS and Wasserstein p-values
of the observed sizes, whether the observed turnover rates sit in the predicted 94%
intervals, the KS p-value of the one-step PIT), and appends one JSON line per seed to --out.

Usage: python benchmarks/detection_limit_coverage.py SEED [SEED ...] [--limit 0.25]
[--fits default detection_limit] [--sites 400] [--out runs.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spinefit.check.ppc import stationary_check
from spinefit.check.stationary import ppc_summary
from spinefit.models.base import SamplerSettings
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.latent_likelihood import gap_cells
from spinefit.simulate.synthetic import simulate_time_series
from spinefit.summary import summarize

NOISE_CV = 0.15
PARAMETERS = ("a", "b", "c", "d", "detection_threshold", "measurement_cv")
FITS = {"default": {"detection_limit": "none"}, "detection_limit": {}}
"""The two fits; "detection_limit" gets the limit used (and read from the data's attrs)."""


def counts(data) -> dict:
    """Spines, and absent cells between two sightings (hidden, living spines)."""
    present = np.isfinite(data["volume"].to_numpy())
    return {"n_spines": int(present.shape[0]), "gap_cells": int(gap_cells(present).sum())}


def ppc(tree, seed: int) -> dict:
    """The fit's own posterior predictive check: p-values and turnover inside its HDI."""
    body = ppc_summary(stationary_check(tree, draws=100, random_seed=seed))
    record = {f"{stat}_p": body["stationary"][stat]["p_value"] for stat in ("ks", "wasserstein")}
    for name in ("elimination_per_day", "formation_per_day"):
        predicted = body["turnover"][name]["predicted"]
        crude = body["turnover"][name]["observed"]["crude"]
        record[f"{name}_inside"] = bool(predicted["hdi_low"] <= crude <= predicted["hdi_high"])
    record["pit_ks_p"] = body.get("one_step_pit", {}).get("ks_p_value")
    return record


def run(seed: int, limit: float, fits: list[str], sites: int = 400) -> dict:
    data, truth = simulate_time_series(
        n_spines=sites, random_seed=seed, measurement_cv=NOISE_CV, detection_limit=limit
    )
    truth = truth | {"detection_threshold": truth["threshold"]}
    record = {"seed": seed, "limit": limit, "sites": sites, **counts(data), "fits": {}}
    for name in fits:
        config = FITS[name] | ({"detection_limit": limit} if name == "detection_limit" else {})
        start = time.perf_counter()
        tree = DriftDiffusion(config).fit(
            data,
            SamplerSettings(draws=500, tune=500, chains=2, random_seed=seed, progressbar=False),
        )
        summary = summarize(tree)
        fit = {
            "seconds": time.perf_counter() - start,
            "divergences": summary["diagnostics"]["divergences"],
            "max_r_hat": summary["diagnostics"]["max_r_hat"],
        }
        for p in PARAMETERS:
            s = summary["parameters"][p]
            fit[p] = {
                "truth": truth[p],
                "mean": s["mean"],
                "hdi": [s["hdi_low"], s["hdi_high"]],
                "covered": bool(s["hdi_low"] <= truth[p] <= s["hdi_high"]),
            }
        fit["ppc"] = ppc(tree, seed)
        record["fits"][name] = fit
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--limit", type=float, default=0.25)
    parser.add_argument("--sites", type=int, default=400)
    parser.add_argument("--fits", nargs="+", choices=sorted(FITS), default=list(FITS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/detection_limit.jsonl"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        record = run(seed, args.limit, args.fits, args.sites)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        for name, fit in record["fits"].items():
            ratios = " ".join(
                f"{p[:9]} {fit[p]['mean'] / fit[p]['truth']:.2f}{'' if fit[p]['covered'] else '*'}"
                for p in PARAMETERS
            )
            check = " ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in fit["ppc"].items()
            )
            print(
                f"seed {seed} {name:>15}: {ratios} | {check} | {fit['divergences']} div, "
                f"{fit['seconds']:.0f} s (* = truth outside the 94% HDI)",
                flush=True,
            )


if __name__ == "__main__":
    main()
