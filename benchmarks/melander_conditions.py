"""Melander pyramidal vs PV synapses by condition, dendrites as replicates (issue 14).

Usage::

    python benchmarks/melander_conditions.py [--likelihood moments|latent] [--draws N]
        [--data ../shared/data] [--out benchmarks/output/melander_conditions.json]

The data have no animal ids; each synapse's dendrite (``*_map.npy``) is the replicate, so
every contrasted parameter is judged against dendrite-to-dendrite variation. Prints the
contrast lines (primary findings judged jointly) and writes the comparison as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from spinefit.compare import compare, compare_lines
from spinefit.io.combine import combine_labelled
from spinefit.io.two_photon import read_two_photon
from spinefit.models.base import SamplerSettings
from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
from spinefit.stats import sampler_diagnostics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--likelihood", default="moments", choices=["moments", "latent"])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.data / "melander2021"
    parts = [
        read_two_photon(
            folder / f"quantile_4060_{label}.npy",
            interval_days=4,
            dendrite_map=folder / f"{label}_map.npy",
        )
        for label in ("pyr", "pv")
    ]
    data = combine_labelled(parts, ["pyr", "pv"])
    model = ConditionalDriftDiffusion(
        {
            "reference": "pyr",
            "replicate": "dendrite_id",
            "likelihood": args.likelihood,
            "turnover_counts": "overdispersed",
        }
    )
    start = time.perf_counter()
    tree = model.fit(
        data,
        SamplerSettings(
            draws=args.draws, tune=args.draws, chains=2, random_seed=args.seed, progressbar=False
        ),
    )
    seconds = time.perf_counter() - start
    result = compare(tree)
    print("\n".join(compare_lines(result)))
    diagnostics = sampler_diagnostics(tree, ["a", "b", "c", "d"])
    print(json.dumps(diagnostics), f"{seconds:.0f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        body = {"likelihood": args.likelihood, "seconds": seconds, "diagnostics": diagnostics}
        args.out.write_text(json.dumps(body | {"compare": result}, indent=1))


if __name__ == "__main__":
    main()
