"""Mean score of the latent likelihood in the measurement noise τ at the truth.

Usage: python benchmarks/noise_score.py CV [--seeds 20] [--sites 800] [--grid-points G]

Prints, for each correction of spinefit.check.noise_score, the mean score over the data
sets with its standard error (0 for an unbiased likelihood) and its paired shift from the
uncorrected likelihood. No MCMC: one numpy forward pass per data set and τ value.
"""

import argparse
import json

from spinefit.check.noise_score import noise_scores, score_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cv", type=float)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--sites", type=int, default=800)
    parser.add_argument("--grid-points", type=int, default=None)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    result = noise_scores(args.cv, seeds, n_sites=args.sites, grid_points=args.grid_points)
    spacing = sum(result["spacing"]) / len(result["spacing"])
    print(f"tau = {args.cv}, {args.seeds} data sets of {args.sites} sites, mean h = {spacing:.4f}")
    print(json.dumps(score_table(result), indent=2))


if __name__ == "__main__":
    main()
