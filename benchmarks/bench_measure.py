"""Time of ``spinefit measure`` on 10 sessions of 512×512×30 stacks with 200 spines.

Run with ``.venv/bin/python benchmarks/bench_measure.py [--refine] [--cli]``. Renders the
synthetic stacks once (not timed) into a temporary folder, then times
:func:`spinefit.measure.measure_to_files` (reading, registration, photometry, CSV and QC
report), or the ``spinefit measure`` command with ``--cli`` (adds interpreter start-up and
imports). Target: under 60 s on a 2-core machine. Also prints the registration error
against the rendered shifts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spinefit.measure.files import measure_to_files
from spinefit.simulate.stacks import render_stacks, write_stacks

SHAPE = (30, 512, 512)
N_SPINES = 200
TIMES_DAYS = tuple(range(0, 20, 2))
TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refine", action="store_true", help="per-ROI refinement on")
    parser.add_argument("--cli", action="store_true", help="time the command line")
    args = parser.parse_args()

    start = time.perf_counter()
    scene = render_stacks(
        SHAPE,
        n_spines=N_SPINES,
        n_dendrites=6,
        times_days=TIMES_DAYS,
        random_seed=17,
        brightness=200.0,
    )
    render_seconds = time.perf_counter() - start
    n_spines = len(scene.spine_ids)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_stacks(scene, Path(tmp) / "stacks")
        out = Path(tmp) / "volumes.csv"
        start = time.perf_counter()
        if args.cli:
            import subprocess

            command = [
                str(Path(sys.executable).with_name("spinefit")),
                "measure",
                str(paths["folder"]),
                "--rois",
                str(paths["rois"]),
                "--out",
                str(out),
                "--quiet",
            ] + (["--refine"] if args.refine else [])
            subprocess.run(command, check=True)
            shifts = None
        else:
            result = measure_to_files(
                [paths["folder"]],
                paths["rois"],
                out,
                report=Path(tmp) / "qc.html",
                refine=args.refine,
            )
            shifts = result.shifts
        seconds = time.perf_counter() - start
    print(
        f"rendered {len(TIMES_DAYS)} sessions of {SHAPE} with {n_spines} spines in "
        f"{render_seconds:.1f} s (not timed)"
    )
    print(
        f"measure{' --refine' if args.refine else ''}{' (CLI)' if args.cli else ''}: "
        f"{seconds:.1f} s (target < {TARGET_SECONDS:.0f} s)"
    )
    if shifts is not None:
        error = np.abs(shifts - scene.shifts).max(axis=0)
        print(
            f"largest registration error vs rendered shifts: z {error[0]:.2f} planes, "
            f"y {error[1]:.2f} px, x {error[2]:.2f} px"
        )


if __name__ == "__main__":
    main()
