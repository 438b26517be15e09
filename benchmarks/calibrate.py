"""Simulation-based calibration of one model at a given n; prints the figures.

Usage (one heavy process at a time on the shared machine)::

    python benchmarks/calibrate.py mixture --n 200 --out runs/cal_mixture
    python benchmarks/calibrate.py drift-diffusion --n 12 --draws 300 --tune 300 \
        --design n_spines=80 --option grid_points=32

Reruns with the same arguments resume: replicates already in ``--out`` are skipped.
"""

from __future__ import annotations

import argparse
import json
import time

from spinefit.calibration.run import calibrate


def _pairs(values: list[str]) -> dict:
    out = {}
    for item in values:
        key, _, text = item.partition("=")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def main() -> None:
    """Run the calibration and print n, per-parameter χ² p, coverage and minutes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument(
        "--scheduler",
        default="inprocess",
        help="'inprocess', 'local' (a local dask cluster, one worker per core) or an address",
    )
    parser.add_argument("--design", nargs="*", default=[], help="simulator options KEY=VALUE")
    parser.add_argument("--option", nargs="*", default=[], help="model options KEY=VALUE")
    args = parser.parse_args()
    start = time.perf_counter()
    summary = calibrate(
        args.model,
        out=args.out,
        n=args.n,
        seed=args.seed,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        scheduler=None if args.scheduler == "local" else args.scheduler,
        design=_pairs(args.design),
        options=_pairs(args.option),
        progress=False,
    )
    minutes = (time.perf_counter() - start) / 60
    print(
        f"{summary['model']}: n = {summary['replicates_done']} "
        f"({summary['replicates_failed']} failed), L = {summary['n_thinned']}, "
        f"{minutes:.1f} min this run, {summary['task_minutes']:.1f} min of tasks in all"
    )
    print(f"Bonferroni threshold {summary['bonferroni_threshold']:.2g}; {summary['verdict']}")
    print(f"{'parameter':28s} {'chi2 p':>8s} {'cov50':>6s} {'cov94':>6s}  94% range   Bonf. p")
    for name, entry in summary["parameters"].items():
        c50, c94 = entry["coverage"]["50"], entry["coverage"]["94"]
        print(
            f"{name:28s} {entry['rank_uniformity']['p_value']:8.3g} {c50['coverage']:6.3f} "
            f"{c94['coverage']:6.3f}  [{c94['expected_low']:.3f}, {c94['expected_high']:.3f}]"
            f"  {c94.get('p_value_bonferroni', float('nan')):.2g}"
        )
    print("largest prior mismatch:", summary["prior_approximation"]["largest_realised_mismatch"])
    print(
        f"max R-hat {summary['max_r_hat']}, {summary['divergent_replicates']} replicates "
        "with divergences"
    )


if __name__ == "__main__":
    main()
