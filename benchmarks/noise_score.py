"""Mean score of the latent likelihood in the measurement noise τ at the truth.

Usage: python benchmarks/noise_score.py CV [--seeds 20] [--sites 800] [--grid-points 48]

Prints the mean score over the data sets with its standard error (0 for an unbiased
likelihood) on the fit's grid and on one 8 times finer, and their paired difference (the
grid's error; spinefit.check.noise_score). No MCMC: numpy forward passes only.
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
    parser.add_argument("--grid-points", type=int, default=48)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    result = noise_scores(args.cv, seeds, n_sites=args.sites, grid_points=args.grid_points)
    spacing = sum(result["spacing"]) / len(result["spacing"])
    print(f"tau = {args.cv}, {args.seeds} data sets of {args.sites} sites, mean h = {spacing:.4f}")
    print(json.dumps(score_table(result), indent=2))


if __name__ == "__main__":
    main()
