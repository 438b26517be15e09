"""Time of the posterior predictive stationary check and of the Fokker–Planck density alone.

Run with ``.venv/bin/python benchmarks/bench_stationary.py``. Builds a fake drift–diffusion
result (no MCMC) with 1000 posterior draws and about 2400 observed sizes (3000 cells, a
fifth absent), then prints the time of ``stationary_density`` (absorbing boundary) for
1000 draws x 1000 grid points and of ``stationary_check`` with the same sizes (density,
elimination rate, replicate samples and KS/Wasserstein distances per draw), each the best
of a few repeats.
"""

from __future__ import annotations

import json
import time

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.check.ppc import stationary_check
from spinefit.results.names import DATA_GROUP
from spinefit.simulate import linear_family_curves, stationary_density

N_DRAWS = 1000
N_GRID = 1000
N_SIZES = 3000
REPEATS = 3


def fake_result(rng: np.random.Generator) -> xr.DataTree:
    """Return a drift–diffusion result with inverse-gamma sizes and jittered draws."""
    sizes = 5.0 / rng.gamma(6.0, 1.0, N_SIZES)
    volume = sizes.reshape(-1, 3).copy()
    volume[rng.random(volume.shape) < 0.2] = np.nan
    data = xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume, {"units": "a.u."})},
        coords={dims.TIME_DAYS: (dims.SESSION, [0.0, 4.0, 8.0])},
    )
    shape = (2, N_DRAWS // 2)
    posterior = xr.Dataset(
        {
            "a": (dims.SAMPLE_DIMS, 0.5 + 0.01 * rng.standard_normal(shape)),
            "b": (dims.SAMPLE_DIMS, -0.5 + 0.01 * rng.standard_normal(shape)),
            "c": (dims.SAMPLE_DIMS, np.full(shape, 1e-4)),
            "d": (dims.SAMPLE_DIMS, 0.2 + 0.004 * rng.standard_normal(shape)),
            "elimination_per_day": (dims.SAMPLE_DIMS, rng.gamma(50.0, 0.0004, shape)),
            "formation_per_day": (dims.SAMPLE_DIMS, rng.gamma(50.0, 0.0004, shape)),
        }
    )
    tree = xr.DataTree.from_dict({"posterior": posterior, DATA_GROUP: data})
    tree.attrs.update(
        {"spinefit_model": "drift-diffusion", "spinefit_config": json.dumps({"family": "linear"})}
    )
    return tree


def best_time(function) -> float:
    """Return the fastest of ``REPEATS`` wall-clock times of ``function()``, in seconds."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print the timings."""
    rng = np.random.default_rng(0)
    tree = fake_result(rng)
    grid = np.geomspace(0.2, 20.0, N_GRID)
    posterior = tree["posterior"]
    drift, diffusion = linear_family_curves(*(posterior[v].values.ravel() for v in "abcd"), grid)
    reinsertion = np.exp(-0.5 * ((np.log(grid) - 0.0) / 0.5) ** 2) / grid

    density_time = best_time(
        lambda: stationary_density(
            drift, diffusion, grid, boundary="absorbing", threshold=0.2, reinsertion=reinsertion
        )
    )
    check_time = best_time(
        lambda: stationary_check(tree, draws=N_DRAWS, n_grid=N_GRID, random_seed=0)
    )
    print(f"stationary_density, absorbing, {N_DRAWS} draws x {N_GRID} grid: {density_time:.3f} s")
    n_present = int(np.isfinite(tree[DATA_GROUP][dims.VOLUME].values).sum())
    print(
        f"stationary_check, {N_DRAWS} draws x {N_GRID} grid, {n_present} observed sizes "
        f"(replicates of the same size): {check_time:.3f} s"
    )
    print(f"density share of the check: {density_time / check_time:.0%}")


if __name__ == "__main__":
    main()
