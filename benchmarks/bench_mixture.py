"""Wall time of ``Mixture.fit`` (binned likelihood) against a plain PyMC NormalMixture script.

Run with ``.venv/bin/python benchmarks/bench_mixture.py [--n 1000000] [--quick]``.

Both fits use the same simulated synapses (Dorkenwald et al. 2022 components), the same
priors, nutpie, and the same draws/tune/chains/seed. Prints the wall times, their ratio,
and the binned-vs-exact posterior comparison: means and SDs of every parameter and the
difference of means in units of its Monte Carlo standard error,
``sqrt(mcse_binned^2 + mcse_exact^2)``.

``--quick`` fits the plain model on the first 100 000 synapses only and extrapolates its
time to ``--n`` as compile time + sampling time x n / 100 000 (the gradient cost of the
exact likelihood is linear in n); the posterior comparison is then made on those 100 000
synapses (binned vs exact on the same data).
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np
import pymc as pm

from spinefit import dims
from spinefit.models.base import SamplerSettings, sample_model
from spinefit.models.mixture import Mixture
from spinefit.models.mixture_components import (
    PRIOR_MU_SD,
    PRIOR_SIGMA_LOG_MEDIAN,
    PRIOR_SIGMA_LOG_SD,
    prior_mu_locations,
)
from spinefit.simulate.mixtures import simulate_mixture

PUBLIC = ["mu_small", "sigma_small", "mu_large", "sigma_large", "weight_large"]
QUICK_PLAIN_N = 100_000


def plain_model(log10_size: np.ndarray) -> pm.Model:
    """The textbook model: NormalMixture on every synapse, same priors as ``Mixture``."""
    from pymc.distributions.transforms import ordered

    center, scale = float(log10_size.mean()), float(log10_size.std())
    with pm.Model(coords={"component": ["small", "large"]}) as model:
        mu_std = pm.Normal(
            "mu_std", prior_mu_locations(2), PRIOR_MU_SD, dims="component", transform=ordered
        )
        sigma_std = pm.LogNormal(
            "sigma_std", PRIOR_SIGMA_LOG_MEDIAN, PRIOR_SIGMA_LOG_SD, dims="component"
        )
        weight = pm.Dirichlet("weight", np.ones(2), dims="component")
        mu = pm.Deterministic("mu", center + scale * mu_std, dims="component")
        sigma = pm.Deterministic("sigma", scale * sigma_std, dims="component")
        pm.NormalMixture("log10_size", w=weight, mu=mu, sigma=sigma, observed=log10_size)
    return model


def public_draws(posterior) -> dict:
    return {
        "mu_small": posterior["mu"].sel(component="small"),
        "sigma_small": posterior["sigma"].sel(component="small"),
        "mu_large": posterior["mu"].sel(component="large"),
        "sigma_large": posterior["sigma"].sel(component="large"),
        "weight_large": posterior["weight"].sel(component="large"),
    }


def timed_binned_fit(data, settings) -> tuple[float, object]:
    model = Mixture({"binned": True, "component_comparison": False})
    start = time.perf_counter()
    tree = model.fit(data, settings)
    return time.perf_counter() - start, tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="simulated synapses")
    parser.add_argument("--quick", action="store_true", help="plain fit at 1e5, extrapolated")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--with-comparison",
        action="store_true",
        help="also time the default CLI configuration (1 vs 2 components by LOO)",
    )
    args = parser.parse_args()
    settings = SamplerSettings(
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        random_seed=args.seed,
        progressbar=False,
    )
    data, truth = simulate_mixture(args.n, random_seed=args.seed)
    print(f"{args.n} simulated synapses; truth: " + ", ".join(f"{k}={truth[k]}" for k in PUBLIC))

    binned_seconds, binned_tree = timed_binned_fit(data, settings)
    derived = binned_tree["derived"].attrs
    print(
        f"Mixture.fit (binned, {derived['n_bins']} bins, width {derived['bin_width']:.2g}, "
        f"shift bound {derived['binning_shift_bound']:.2g} posterior SD): "
        f"{binned_seconds:.1f} s wall"
    )
    if args.with_comparison:
        start = time.perf_counter()
        Mixture().fit(data, settings)
        print(f"Mixture.fit with 1-vs-2 LOO comparison: {time.perf_counter() - start:.1f} s wall")

    plain_n = min(args.n, QUICK_PLAIN_N) if args.quick else args.n
    subset = data.isel({dims.SYNAPSE: slice(0, plain_n)})
    log10_size = np.log10(subset["spine_vol_um3"].values)
    start = time.perf_counter()
    plain_tree = sample_model(plain_model(log10_size), settings)
    plain_seconds = time.perf_counter() - start
    sampling = float(plain_tree["posterior"].attrs.get("sampling_time", plain_seconds))
    if plain_n < args.n:
        estimate = (plain_seconds - sampling) + sampling * args.n / plain_n
        print(
            f"plain NormalMixture at n={plain_n}: {plain_seconds:.1f} s wall "
            f"(sampling {sampling:.1f} s); extrapolated to n={args.n}: {estimate:.0f} s"
        )
        comparison_tree = timed_binned_fit(subset, settings)[1]
    else:
        estimate = plain_seconds
        print(f"plain NormalMixture at n={plain_n}: {plain_seconds:.1f} s wall")
        comparison_tree = binned_tree
    print(f"speed-up at n={args.n}: {estimate / binned_seconds:.1f}x")

    print(f"\nposterior, binned vs exact, on the same {plain_n} synapses")
    print(
        f"{'parameter':13s} {'mean binned':>12s} {'mean exact':>12s} {'sd binned':>10s} "
        f"{'sd exact':>10s} {'diff/MCSE':>9s}"
    )
    binned = public_draws(comparison_tree["posterior"].to_dataset())
    exact = public_draws(plain_tree["posterior"].to_dataset())
    for name in PUBLIC:
        mcse = np.hypot(float(az.mcse(binned[name])), float(az.mcse(exact[name])))
        difference = float(binned[name].mean()) - float(exact[name].mean())
        print(
            f"{name:13s} {float(binned[name].mean()):12.5f} {float(exact[name].mean()):12.5f} "
            f"{float(binned[name].std()):10.5f} {float(exact[name].std()):10.5f} "
            f"{difference / mcse:9.2f}"
        )


if __name__ == "__main__":
    main()
