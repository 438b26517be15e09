"""20 data sets through `spinefit batch` vs 20 sequential `spinefit fit` invocations.

Both fit the same simulated data sets (120 sites x 8 sessions each, different seeds) with
the same model, likelihood, draws and seeds; both are timed in the same run. Prints the
ratio sequential / batch (issue 18's target: >= 3 on the 2-core machine) and the
machine's core count.

Usage: python benchmarks/bench_batch.py [--n 20] [--likelihood moments] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import timed

from spinefit.simulate.synthetic import simulate_time_series, write_example


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--likelihood", default="moments")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    spinefit = str(Path(sys.executable).with_name("spinefit"))
    folder = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    lines = ["label,input,likelihood,seed"]
    for i in range(args.n):
        data, truth = simulate_time_series(n_spines=120, random_seed=1000 + i)
        write_example(data, truth, folder / f"set{i:02d}.csv", "bench_batch")
        lines.append(f"set{i:02d},set{i:02d}.csv,{args.likelihood},{i}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    draws = ["--draws", str(args.draws), "--tune", str(args.draws)]

    start = time.perf_counter()
    for i in range(args.n):
        timed(
            [
                spinefit,
                "fit",
                str(folder / f"set{i:02d}.csv"),
                "--likelihood",
                args.likelihood,
                "--seed",
                str(i),
                "--out",
                str(folder / "seq" / f"set{i:02d}.nc"),
                "-q",
                *draws,
            ]
        )
    sequential = time.perf_counter() - start
    batch_seconds, _ = timed(
        [
            spinefit,
            "batch",
            str(folder / "manifest.csv"),
            "--out",
            str(folder / "batch"),
            "--workers",
            str(args.workers),
            "-q",
            *draws,
        ]
    )
    resumed, _ = timed(
        [spinefit, "batch", str(folder / "manifest.csv"), "--out", str(folder / "batch"), "-q"]
    )
    print(
        f"machine: {os.cpu_count()} cores; {args.n} data sets, {args.likelihood} likelihood, "
        f"{args.draws} draws + {args.draws} tune x 2 chains"
    )
    print(f"sequential spinefit fit: {sequential:.1f} s ({sequential / args.n:.1f} s per fit)")
    print(f"spinefit batch --workers {args.workers}: {batch_seconds:.1f} s")
    print(f"ratio sequential / batch: {sequential / batch_seconds:.2f} (target >= 3)")
    print(f"re-run of the completed batch (all reused): {resumed:.1f} s")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
