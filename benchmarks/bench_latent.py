"""Cost of the latent-process likelihood against the moments likelihood, and how it grows.

Times, in one run and on the same data, the compile and one log-density + gradient
evaluation of ``drift-diffusion`` with ``--likelihood latent`` (default) and
``--likelihood moments``: on the Melander pyramidal data (when ``../shared/data`` is present)
and on a synthetic panel of ~100 000 transitions (12 000 sites × 10 sessions). Then the
latent cost against the number of spines, sessions and grid points.

A fit's sampling time is (gradient evaluations) × (cost per evaluation); both likelihoods
need similar numbers of evaluations per draw on these data, so the per-evaluation ratio is
the fit-time ratio up to the fixed compile cost. Usage: ``python benchmarks/bench_latent.py
[--quick]`` (--quick: skip the 100 000-transition panel and the largest scaling points).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPINEFIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def per_gradient(data, config: dict, repeats: int = 20) -> tuple[float, float]:
    """Return (compile seconds, seconds per log-density + gradient evaluation)."""
    from spinefit.models.drift_diffusion import DriftDiffusion

    start = time.perf_counter()
    model = DriftDiffusion(config).build(data)
    logp = model.compile_logp(mode="NUMBA")
    dlogp = model.compile_dlogp(mode="NUMBA")
    point = model.initial_point()
    logp(point)
    dlogp(point)
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        logp(point)
        dlogp(point)
    return compiled, (time.perf_counter() - start) / repeats


def panel(n_sites: int, n_sessions: int, seed: int = 0):
    from spinefit.simulate.synthetic import simulate_time_series

    times = np.arange(n_sessions) * 4.0
    data, _ = simulate_time_series(
        n_spines=n_sites, times_days=times, random_seed=seed, measurement_cv=0.1
    )
    return data


def compare_on(name: str, data) -> None:
    from spinefit.io.transitions import count_transitions

    n = count_transitions(data)["transitions"]
    moments = per_gradient(data, {"likelihood": "moments"})
    latent = per_gradient(data, {})
    print(
        f"{name}: {n} transitions | compile latent {latent[0]:.1f} s, moments {moments[0]:.1f} s"
        f" | per gradient latent {1e3 * latent[1]:.2f} ms, moments {1e3 * moments[1]:.3f} ms"
        f" | ratio latent/moments {latent[1] / moments[1]:.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"cores: {os.cpu_count()}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    pyr = SHARED / "melander2021" / "quantile_4060_pyr.npy"
    if pyr.exists():
        from spinefit.io.two_photon import read_two_photon

        compare_on("Melander pyramidal", read_two_photon(pyr, interval_days=4))
    else:
        print(f"Melander data not found at {pyr}; skipped")
    if not args.quick:
        compare_on("synthetic panel 12000 sites x 10 sessions", panel(12_000, 10))

    print("\nlatent cost per gradient (ms) against size (10% noise, G = 48 unless stated)")
    sites = (250, 1000) if args.quick else (250, 1000, 4000)
    for n_sites in sites:
        data = panel(n_sites, 8)
        print(f"  sites {n_sites:>5} x 8 sessions: {1e3 * per_gradient(data, {})[1]:.2f}")
    for n_sessions in (4, 8, 16):
        data = panel(500, n_sessions)
        print(f"  500 sites x {n_sessions:>2} sessions: {1e3 * per_gradient(data, {})[1]:.2f}")
    data = panel(500, 8)
    for points in (24, 48, 96):
        cost = per_gradient(data, {"grid_points": points})[1]
        print(f"  500 sites x 8 sessions, G = {points:>3}: {1e3 * cost:.2f}")


if __name__ == "__main__":
    main()
