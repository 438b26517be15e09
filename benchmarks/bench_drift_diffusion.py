"""Wall time of `spinefit fit --likelihood moments` vs a plain PyMC script doing the same fit.

The plain script fits the same likelihood (exact linear-SDE transition moments via a 3x3
matrix exponential per interval, normal transition density, same priors) written directly
in PyMC and sampled with PyMC's own NUTS, as a user without spinefit would.

On Melander pyramidal data, or (--panel) a synthetic panel of 12 000 sites x 10 sessions.

Usage: python benchmarks/bench_drift_diffusion.py [--data ../shared/data] [--draws 1000]
[--panel] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from common import REPO, timed  # benchmarks/common.py (the script folder is on sys.path)

PLAIN = r"""
import sys, numpy as np, pymc as pm, pytensor.tensor as pt
x = np.load(sys.argv[1]); draws = int(sys.argv[2])
a_, b_ = x[:, :-1], x[:, 1:]
keep = (a_ > 0) & (b_ > 0)
w0, w1 = a_[keep], b_[keep]
dt = 4.0
s, T = np.median(w0), dt
v = np.var((w1 - w0) / np.sqrt(dt))
with pm.Model():
    a = pm.Normal("a", 0, 2 * s / T); b = pm.Normal("b", 0, 2 / T)
    c = pm.HalfNormal("c", 2 * v); d = pm.HalfNormal("d", 2 * v / s**2)
    z = a * 0.0
    M = pt.stack([pt.stack([z, z, z]), pt.stack([a, b, z]), pt.stack([c, 2 * a, 2 * b + d])])
    P = pt.linalg.expm(pt.clip(M * dt, -30, 30))
    m = P[1, 0] + P[1, 1] * w0
    S = P[2, 0] + P[2, 1] * w0 + P[2, 2] * w0**2
    pm.Normal("w_end", m, pt.sqrt(pt.maximum(S - m**2, 1e-12)), observed=w1)
    idata = pm.sample(draws=draws, tune=draws, chains=2, nuts_sampler="pymc",
                      random_seed=1, progressbar=False)
print(float(idata.posterior["b"].mean()), float(idata.posterior["d"].mean()))
"""


def panel_matrix(path: Path, n_sites: int = 12_000, n_sessions: int = 10) -> Path:
    """Write a synthetic spine x session matrix (NaN = absent), sessions 4 days apart."""
    import numpy as np

    from spinefit.simulate.synthetic import simulate_time_series

    times = np.arange(n_sessions) * 4.0
    data, _ = simulate_time_series(
        n_spines=n_sites, times_days=times, random_seed=0, measurement_cv=0.1
    )
    np.save(path, data["volume"].transpose("spine", "session").values)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("SPINEFIT_SHARED_DATA", REPO.parent / "shared" / "data")
    )
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument(
        "--panel", action="store_true", help="12 000 synthetic sites x 10 sessions instead"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the last is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.panel:
            matrix = panel_matrix(Path(tmp) / "panel.npy")
            name = "synthetic panel 12000 sites x 10 sessions"
        else:
            matrix = Path(args.data) / "melander2021" / "quantile_4060_pyr.npy"
            name = "Melander pyramidal"
            if not matrix.exists():
                sys.exit(f"real data not found at {matrix}")
        out = Path(tmp) / "fit.nc"
        fit = [sys.executable, "-m", "spinefit", "fit", str(matrix), "--interval-days", "4"]
        fit += ["--likelihood", "moments", "--draws", str(args.draws), "--tune", str(args.draws)]
        fit += ["--out", str(out), "--quiet", "--seed", "1"]
        script = Path(tmp) / "plain.py"
        script.write_text(PLAIN)
        plain = [sys.executable, str(script), str(matrix), str(args.draws)]
        # Alternate the two so that load on the machine falls on both alike; the first run
        # of each fills its compile cache (nutpie/numba for spinefit, C for PyMC).
        for repeat in range(args.repeats):
            spinefit_s, _ = timed(fit)
            plain_s, plain_out = timed(plain)
            print(
                f"run {repeat + 1}: spinefit {spinefit_s:.1f} s, plain {plain_s:.1f} s", flush=True
            )
    print(f"{name}, moments likelihood, {os.cpu_count()} cores, last of {args.repeats} runs:")
    print(f"spinefit fit (nutpie, incl. start-up, compile, checks, save): {spinefit_s:8.1f} s")
    print(
        f"plain PyMC script (PyMC NUTS, same likelihood):    {plain_s:8.1f} s  (b, d = {plain_out})"
    )
    print(
        f"ratio spinefit / plain: {spinefit_s / plain_s:.2f} "
        "(issue 18's targets: <= 1.0 Melander, <= 0.5 panel)"
    )


if __name__ == "__main__":
    main()
