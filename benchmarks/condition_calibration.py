"""False-positive and power studies of condition comparisons (issue 14).

Usage::

    python benchmarks/condition_calibration.py null --n 50 --out benchmarks/output/null.jsonl
    python benchmarks/condition_calibration.py power --n 30 --out benchmarks/output/power.jsonl

``null``: two conditions from one process (animal variation in a, b, c, d and formation,
overdispersed turnover counts). ``power``: KO's d is 1.5 × WT's, 4 animals per group of 100
sites. Each dataset is fitted with the condition model (``--likelihood``, default moments)
and compared; one JSON line per dataset is appended to ``--out`` (existing seeds are
skipped, so a stopped study resumes), and the summary is printed at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spinefit.check.condition_calibration import append_record, run_one, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["null", "power"])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=None)
    parser.add_argument("--likelihood", default="moments", choices=["moments", "latent"])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    d_ratio = 1.0 if args.study == "null" else 1.5
    first = args.first_seed if args.first_seed is not None else (5000 if d_ratio == 1 else 6000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            record = json.loads(line)
            done[record["seed"]] = record
    for seed in range(first, first + args.n):
        if seed in done:
            continue
        record = run_one(
            seed, d_ratio=d_ratio, likelihood=args.likelihood, draws=args.draws, tune=args.tune
        )
        append_record(args.out, record)
        done[seed] = record
        print(
            f"seed {seed}: primary findings {record['primary_findings'] or 'none'}; "
            f"excluded {record['excluded'] or 'none'}; {record['seconds']:.0f} s",
            flush=True,
        )
    records = [done[s] for s in range(first, first + args.n)]
    print(json.dumps(summarise(records), indent=1))


if __name__ == "__main__":
    main()
