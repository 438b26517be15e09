"""Wall time of a default fit with the robust sampling of issue 12 against the old default.

"Robust" is today's default (``SamplerSettings()``): starts at the best of a few short
optimisations, stuck-chain check and re-runs, draws extended to bulk ESS >= 400,
divergent draws re-sampled with smaller steps. "Plain" is the previous behaviour, one
``pm.sample`` call (``robust_starts=False, max_restarts=0, ess_target=0,
retry_target_accept=0``). Both use nutpie, 1000 draws + 1000 tune, 2 chains and the
same seed. Before timing, the model is compiled once untimed, so both runs find the
same warm numba caches (the sampler's own C callback is compiled by each run);
``--repeats N`` alternates the order and reports medians.

Cases:

- ``moments``: drift–diffusion, moments likelihood, on simulated data imaged every 16
  days (800 spines, a = 0.02, b = -0.02, c = 4e-4, d = 4e-3: the long-interval case);
- ``melander``: the default drift–diffusion fit (latent likelihood) of the Melander
  pyramidal matrix, if present (``--data``); ``--melander-likelihood moments`` for the
  quick screening fit;
- ``microns`` (with ``--microns``): the default mixture fit of the MICrONS table.

Usage: python benchmarks/bench_robust.py [--data ../shared/data] [--cases moments melander]
[--microns] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import REPO  # benchmarks/common.py (the script folder is on sys.path)

from spinefit.models.base import SamplerSettings
from spinefit.stats import convergence_problems, sampler_diagnostics

PLAIN = {"robust_starts": False, "max_restarts": 0, "ess_target": 0, "retry_target_accept": 0}
LONG_INTERVAL_TRUTH = {"a": 0.02, "b": -0.02, "c": 4e-4, "d": 4e-3}
MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")


def moments_case(data_dir: Path, args) -> tuple[str, object, object] | None:
    """Return the long-interval simulated case (moments likelihood)."""
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.simulate.synthetic import simulate_time_series

    times = [16.0 * k for k in range(8)]
    data, _ = simulate_time_series(
        LONG_INTERVAL_TRUTH, n_spines=800, times_days=times, random_seed=0
    )
    return (
        "drift-diffusion moments, simulated, 16-day sessions",
        DriftDiffusion({"likelihood": "moments"}),
        data,
    )


def melander_case(data_dir: Path, args) -> tuple[str, object, object] | None:
    """Return the Melander pyramidal case, or None when the file is absent."""
    from spinefit.io.two_photon import read_two_photon
    from spinefit.models.drift_diffusion import DriftDiffusion

    path = data_dir / "melander2021" / "quantile_4060_pyr.npy"
    if not path.exists():
        print(f"skipped melander: {path} not found")
        return None
    config = {} if args.melander_likelihood == "latent" else {"likelihood": "moments"}
    label = f"drift-diffusion {args.melander_likelihood}, Melander pyramidal"
    return label, DriftDiffusion(config), read_two_photon(path, interval_days=4)


def microns_case(data_dir: Path, args) -> tuple[str, object, object] | None:
    """Return the MICrONS mixture case, or None when the table is absent."""
    from spinefit.io.ssem import read_ssem
    from spinefit.models.mixture import Mixture

    path = data_dir.joinpath(*MICRONS)
    if not path.exists():
        print(f"skipped microns: {path} not found")
        return None
    return "mixture, MICrONS L2/3", Mixture(), read_ssem(path)


CASES = {"moments": moments_case, "melander": melander_case, "microns": microns_case}


def warm_compile(spec, data) -> None:
    """Compile the model once so that both timed runs see the same warm caches."""
    import nutpie

    nutpie.compile_pymc_model(spec.build(spec.prepare(data)), backend="numba")


def timed_fit(spec, data, settings: SamplerSettings) -> tuple[float, dict]:
    """Fit once; return wall seconds and what to report about the result."""
    model = type(spec)(spec.config)
    start = time.perf_counter()
    tree = model.fit(data, settings)
    seconds = time.perf_counter() - start
    diagnostics = sampler_diagnostics(tree)
    return seconds, {
        "draws": int(tree["posterior"].sizes["draw"]),
        "restarted": json.loads(tree.attrs.get("restarted_chains", "[]")),
        "max_r_hat": round(diagnostics["max_r_hat"], 4),
        "min_ess_bulk": round(diagnostics["min_ess_bulk"]),
        "warnings": convergence_problems(diagnostics),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("SPINEFIT_SHARED_DATA", REPO.parent / "shared" / "data")
    )
    parser.add_argument("--cases", nargs="+", default=["moments", "melander"], choices=CASES)
    parser.add_argument("--microns", action="store_true", help="add the MICrONS mixture case")
    parser.add_argument("--melander-likelihood", choices=["latent", "moments"], default="latent")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="timed fits per arm")
    args = parser.parse_args()
    cases = args.cases + (["microns"] if args.microns and "microns" not in args.cases else [])
    for name in cases:
        case = CASES[name](Path(args.data), args)
        if case is None:
            continue
        label, spec, data = case
        warm_compile(spec, data)
        base = SamplerSettings(random_seed=args.seed, progressbar=False)
        arms = {"previous default (plain pm.sample)": replace(base, **PLAIN), "robust": base}
        seconds: dict[str, list[float]] = {name: [] for name in arms}
        print(f"== {label}", flush=True)
        for repeat in range(args.repeats):
            # Alternate the order: the machine's load drifts, and the first run of a
            # process pays for imports the second does not.
            for name in list(arms)[:: 1 if repeat % 2 == 0 else -1]:
                wall, result = timed_fit(spec, data, arms[name])
                seconds[name].append(wall)
                print(f"{name:36s}: {wall:8.1f} s  {result}", flush=True)
        plain_s, robust_s = (statistics.median(seconds[name]) for name in arms)
        print(
            f"median of {args.repeats}: previous {plain_s:.1f} s, robust {robust_s:.1f} s; "
            f"ratio robust / previous: {robust_s / plain_s:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
