"""How the cost of both drift-diffusion likelihoods grows from 1e3 to 1e6 transitions.

For synthetic panels (10 sessions 4 days apart, 10% measurement noise, turnover) of about
1e3, 1e4, 1e5 and 1e6 transitions, times the compile and one log-density + gradient
evaluation of the latent (default) and the moments likelihood, in one run. A fit's
sampling time is (gradient evaluations) x (cost per evaluation); the table also gives the
sampling time that cost implies for the default 2 chains x 2000 iterations at 15
leapfrog steps per iteration (an estimate, labelled as such), and the ratio latent /
moments. Writes the table as CSV and the plot as SVG beside --out.

Usage: python benchmarks/bench_scaling.py [--max 1e6] [--out benchmarks/output/scaling]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

EVALUATIONS = 2 * 2000 * 15
"""Gradient evaluations of a default fit at 15 leapfrog steps per iteration (estimate)."""

TRANSITIONS_PER_SITE = 6.9
"""Transitions per simulated site over 10 sessions with the default turnover (measured)."""


def cost(data, config: dict, budget: float = 10.0) -> tuple[float, float]:
    """Return (compile seconds, seconds per log-density + gradient evaluation)."""
    from spinefit.models.drift_diffusion import DriftDiffusion

    start = time.perf_counter()
    model = DriftDiffusion(config).build(data)
    # One function for both, as the samplers evaluate them (nutpie, PyMC's NUTS).
    logp_dlogp = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    logp_dlogp.set_extra_values({})
    point = model.initial_point()
    x = np.concatenate([np.ravel(point[v.name]) for v in model.value_vars])
    logp_dlogp(x)
    compiled = time.perf_counter() - start
    repeats, start = 0, time.perf_counter()
    while repeats < 3 or (time.perf_counter() - start < budget and repeats < 50):
        logp_dlogp(x)
        repeats += 1
    return compiled, (time.perf_counter() - start) / repeats


def main() -> None:
    from spinefit.io.transitions import count_transitions
    from spinefit.simulate.synthetic import simulate_time_series

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=float, default=1e6)
    parser.add_argument("--out", default="benchmarks/output/scaling")
    args = parser.parse_args()
    rows = []
    print(f"cores: {os.cpu_count()}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    header = "transitions | likelihood | compile s | ms per gradient | est. sampling s"
    print(header, flush=True)
    for target in (1e3, 1e4, 1e5, 1e6):
        if target > args.max:
            break
        sites = int(target / TRANSITIONS_PER_SITE)
        data, _ = simulate_time_series(
            n_spines=sites, times_days=np.arange(10) * 4.0, random_seed=1, measurement_cv=0.1
        )
        n = int(count_transitions(data)["transitions"])
        per = {}
        for likelihood in ("moments", "latent"):
            compiled, seconds = cost(data, {"likelihood": likelihood})
            per[likelihood] = seconds
            rows.append([n, likelihood, compiled, 1e3 * seconds, seconds * EVALUATIONS])
            print(
                f"{n:>11} | {likelihood:>10} | {compiled:9.1f} | {1e3 * seconds:15.3f} | "
                f"{seconds * EVALUATIONS:15.0f}",
                flush=True,
            )
        print(f"{n:>11} | latent / moments per gradient: {per['latent'] / per['moments']:.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["transitions", "likelihood", "compile_s", "ms_per_gradient", "est_s"])
        writer.writerows(rows)
    plot(rows, out.with_suffix(".svg"))
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.svg')}")


def plot(rows: list[list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for likelihood in ("moments", "latent"):
        points = [(r[0], r[3]) for r in rows if r[1] == likelihood]
        ax.loglog(*zip(*points, strict=True), "o-", label=likelihood)
    ax.set_xlabel("transitions (count)")
    ax.set_ylabel("log density + gradient (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
