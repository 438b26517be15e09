"""Wall time of a WT vs KO drift–diffusion fit by condition: `spinefit fit` vs plain PyMC.

Both fit the bundled ``data/wt_ko_timeseries.csv`` with the same model: per-genotype
a, b, log c, log d (separate priors), animal offsets on a, b, log d nested in genotype,
exact linear-SDE transition moments (one 3×3 matrix exponential per animal and interval),
a normal transition density, and Binomial/Poisson turnover per genotype and interval. The
plain script is what a user without spinefit would write, sampled with PyMC's own NUTS.
spinefit runs with ``-o loo=false`` so that neither side fits the pooled model for LOO.

Usage: python benchmarks/bench_conditions.py [--draws 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import REPO, timed  # benchmarks/common.py (the script folder is on sys.path)

DATA = REPO / "data" / "wt_ko_timeseries.csv"

PLAIN = r"""
import sys, numpy as np, pandas as pd, pymc as pm, pytensor.tensor as pt
table = pd.read_csv(sys.argv[1]); draws = int(sys.argv[2])
wide = table.pivot(index="spine_id", columns="time_days", values="volume")
info = table.drop_duplicates("spine_id").set_index("spine_id").loc[wide.index]
x, times = wide.to_numpy(), wide.columns.to_numpy(float)
present = np.isfinite(x) & (x > 0)
genotypes, g_of_spine = np.unique(info["condition"], return_inverse=True)
animals, a_of_spine = np.unique(info["condition"] + "/" + info["animal_id"], return_inverse=True)
g_of_animal = np.zeros(len(animals), int); g_of_animal[a_of_spine] = g_of_spine
i, j = np.nonzero(present[:, :-1] & present[:, 1:])
w0, w1, dt = x[i, j], x[i, j + 1], np.diff(times)[j]
s, T = np.median(w0), np.median(dt)
v = np.var((w1 - w0) / np.sqrt(dt))
with pm.Model(coords={"g": genotypes, "animal": animals, "p": ["a", "b", "log_d"]}):
    a = pm.Normal("a", 0, 2 * s / T, dims="g"); b = pm.Normal("b", 0, 2 / T, dims="g")
    log_c = pm.Normal("log_c", np.log(v), 2, dims="g")
    log_d = pm.Normal("log_d", np.log(v / s**2), 2, dims="g")
    omega = pm.HalfNormal("omega", 0.5 * np.array([s / T, 1 / T, 1.0]), dims="p")
    u = pm.Normal("u", 0, 1, dims=("animal", "p")) * omega
    aa = a[g_of_animal] + u[:, 0]; bb = b[g_of_animal] + u[:, 1]
    cc = pt.exp(log_c)[g_of_animal]; dd = pt.exp(log_d[g_of_animal] + u[:, 2])
    mean, var = pt.zeros(len(w0)), pt.ones(len(w0))
    for k in range(len(animals)):
        for gap in np.unique(dt):
            rows = np.flatnonzero((a_of_spine[i] == k) & (dt == gap))
            if rows.size == 0:
                continue
            z = aa[k] * 0.0
            M = pt.stack([pt.stack([z, z, z]), pt.stack([aa[k], bb[k], z]),
                          pt.stack([cc[k], 2 * aa[k], 2 * bb[k] + dd[k]])])
            P = pt.linalg.expm(pt.clip(M * gap, -30, 30))
            m = P[1, 0] + P[1, 1] * w0[rows]
            S = P[2, 0] + P[2, 1] * w0[rows] + P[2, 2] * w0[rows] ** 2
            mean = pt.set_subtensor(mean[rows], m)
            var = pt.set_subtensor(var[rows], pt.maximum(S - m**2, 1e-12))
    pm.Normal("w_end", mean, pt.sqrt(var), observed=w1)
    lam_e = pm.Gamma("elim", 1, 1, dims="g"); lam_f = pm.Gamma("form", 1, 1, dims="g")
    for k in range(len(genotypes)):
        p = present[g_of_spine == k]
        p = p[:, p.any(0)]
        start, end = p[:, :-1], p[:, 1:]
        gaps = np.diff(times[present[g_of_spine == k].any(0)])
        pm.Binomial(f"e{k}", n=start.sum(0), p=1 - pt.exp(-lam_e[k] * gaps),
                    observed=(start & ~end).sum(0))
        pm.Poisson(f"f{k}", mu=lam_f[k] * start.sum(0) * gaps, observed=(~start & end).sum(0))
    idata = pm.sample(draws=draws, tune=draws, chains=2, nuts_sampler="pymc",
                      random_seed=1, progressbar=False)
d = np.exp(idata.posterior["log_d"])
print(" ".join(f"d[{g}]={float(d.sel(g=g).mean()):.4f}" for g in genotypes))
"""


def main() -> None:
    """Time both fits and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "wt_ko.nc"
        draws = str(args.draws)
        spinefit_s, _ = timed(
            [sys.executable, "-m", "spinefit", "fit", str(DATA), "--draws", draws, "--tune"]
            + [draws, "--out", str(out), "--quiet", "--seed", "1", "-o", "loo=false"]
        )
        summary, _ = timed([sys.executable, "-m", "spinefit", "compare", str(out), "--json"])
        script = Path(tmp) / "plain.py"
        script.write_text(PLAIN)
        plain_s, plain_out = timed([sys.executable, str(script), str(DATA), draws])
    print(f"spinefit fit by condition (nutpie, incl. start-up): {spinefit_s:8.1f} s")
    print(f"plain PyMC script (PyMC NUTS, same model):          {plain_s:8.1f} s  ({plain_out})")
    print(f"ratio plain / spinefit:                             {plain_s / spinefit_s:8.2f}x")


if __name__ == "__main__":
    main()
