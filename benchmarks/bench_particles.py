"""Throughput of the particle simulator against a plain numpy Euler loop, and of the density.

Run with ``.venv/bin/python benchmarks/bench_particles.py``. Prints particle-steps per second
for the numba kernel (``simulate_paths``) and for a vectorised numpy loop doing the same work
(Euler–Maruyama of the default family, elimination with the Brownian-bridge check, formation
at empty sites; without turnover, the bare Euler–Maruyama loop), their ratio, and the time of
``stationary_density`` for 1000 draws x 1000 grid points.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from spinefit.simulate import (
    DEFAULT_TRUTH,
    linear_family_curves,
    simulate_paths,
    stationary_density,
)

N_SITES = 100_000
DT = 0.01
TIMES_DAYS = (0, 2, 4, 7, 10, 14, 18, 21)
BURN_IN_DAYS = 20.0
REPEATS = 3
NUMPY_STEPS = 500


def numpy_euler(truth: dict, n_sites: int, n_steps: int, dt: float, seed: int) -> np.ndarray:
    """Simulate the same process as ``simulate_paths`` with whole-array numpy operations."""
    rng = np.random.default_rng(seed)
    a, b, c, d = truth["a"], truth["b"], truth["c"], truth["d"]
    if truth["threshold"] == -np.inf and truth["formation_rate"] == 0:
        # No turnover: the bare Euler–Maruyama loop is the same work.
        size = rng.lognormal(truth["new_size_mu"], truth["new_size_sigma"], n_sites)
        root_dt = math.sqrt(dt)
        for _ in range(n_steps):
            noise = np.sqrt(c + d * size * size) * root_dt * rng.standard_normal(n_sites)
            size += (a + b * size) * dt + noise
        return size
    threshold = truth["threshold"]
    formation_prob = -math.expm1(-truth["formation_rate"] * dt)
    size = rng.lognormal(truth["new_size_mu"], truth["new_size_sigma"], n_sites)
    alive = size >= threshold
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(n_steps):
            variance = (c + d * size * size) * dt
            moved = size + (a + b * size) * dt + np.sqrt(variance) * rng.standard_normal(n_sites)
            crossing = np.exp(-2.0 * (size - threshold) * (moved - threshold) / variance)
            eliminate = alive & ((moved < threshold) | (rng.random(n_sites) < crossing))
            form = ~alive & (rng.random(n_sites) < formation_prob)
            new_size = rng.lognormal(truth["new_size_mu"], truth["new_size_sigma"], n_sites)
            form &= new_size >= threshold
            size = np.where(alive, moved, np.where(form, new_size, size))
            alive = (alive & ~eliminate) | form
    return np.where(alive, size, np.nan)


def best_time(function, repeats: int = REPEATS) -> float:
    """Return the fastest of ``repeats`` wall-clock runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print the benchmark figures."""
    n_steps = round((BURN_IN_DAYS + TIMES_DAYS[-1] - TIMES_DAYS[0]) / DT)
    particle_steps = N_SITES * n_steps
    print(f"numba threads: {numba.get_num_threads()}, sites: {N_SITES}, steps: {n_steps}")

    cases = {
        "default truth (turnover)": dict(DEFAULT_TRUTH),
        "no turnover (threshold -inf)": dict(DEFAULT_TRUTH, threshold=-np.inf, formation_rate=0),
    }
    for label, truth in cases.items():

        def run_numba(truth=truth):
            simulate_paths(
                **truth,
                n_spines=N_SITES,
                times_days=TIMES_DAYS,
                dt=DT,
                burn_in_days=BURN_IN_DAYS,
                random_seed=1,
            )

        run_numba()  # compile or load from cache, start the thread pool
        numba_rate = particle_steps / best_time(run_numba)
        numpy_rate = (
            N_SITES
            * NUMPY_STEPS
            / best_time(lambda truth=truth: numpy_euler(truth, N_SITES, NUMPY_STEPS, DT, seed=1))
        )
        print(f"{label}:")
        print(f"  numba simulate_paths : {numba_rate:.3g} particle-steps/s")
        print(f"  plain numpy loop     : {numpy_rate:.3g} particle-steps/s")
        print(f"  ratio numba / numpy  : {numba_rate / numpy_rate:.1f}x")

    rng = np.random.default_rng(0)
    n_draws = 1000
    grid = np.linspace(0.1, 10.0, 1000)
    drift, diffusion = linear_family_curves(
        rng.uniform(0.05, 0.15, n_draws),
        -rng.uniform(0.05, 0.15, n_draws),
        rng.uniform(0.005, 0.05, n_draws),
        rng.uniform(0.01, 0.05, n_draws),
        grid,
    )
    new_sizes = np.exp(-0.5 * ((np.log(grid) - math.log(0.3)) / 0.5) ** 2) / grid
    for boundary in ("reflecting", "absorbing"):
        seconds = best_time(
            lambda boundary=boundary: stationary_density(
                drift, diffusion, grid, boundary=boundary, threshold=0.1, reinsertion=new_sizes
            ),
            repeats=5,
        )
        print(f"stationary_density 1000 draws x 1000 grid, {boundary}: {seconds * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
