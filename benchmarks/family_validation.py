"""Spline-family validation on simulated bistable and linear data (issue 13).

Usage: python benchmarks/family_validation.py CASE SEED [--n-sites N] [--out runs.jsonl]

CASE is one of spinefit.check.families.CASES. Each run simulates the case (killing at the
threshold, births, 10% measurement noise, irregular sessions), fits ``--family spline``
with the latent likelihood, compares it with the linear family by PSIS-LOO and checks the
posterior predictive w·f(w); the record is appended to the JSON-lines file.
"""

import argparse
import json
from pathlib import Path

from spinefit.check.families import CASES, family_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("case", choices=CASES)
    parser.add_argument("seed", type=int)
    parser.add_argument("--n-sites", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/families.jsonl"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = family_case(args.case, args.seed, n_sites=args.n_sites)
    with open(args.out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
