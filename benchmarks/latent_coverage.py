"""Coverage of the latent-process drift–diffusion model's 94% HDIs over simulated data sets.

Usage: python benchmarks/latent_coverage.py REGIME FIRST_SEED N [--out runs.jsonl]

Regimes are listed in spinefit.check.coverage.REGIMES. Records are appended to the JSON-lines
file as each fit finishes, so a long study can be read while it runs; the summary table is
printed at the end.
"""

import argparse
import json
from pathlib import Path

from spinefit.check.coverage import REGIMES, coverage_study, coverage_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("regime", choices=list(REGIMES))
    parser.add_argument("first_seed", type=int)
    parser.add_argument("n", type=int)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/latent_coverage.jsonl"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.n)
    records = coverage_study(args.regime, seeds, out=args.out)
    print(json.dumps({args.regime: coverage_table(records)}, indent=2))


if __name__ == "__main__":
    main()
