"""Synthetic stacks -> `spinefit measure` -> `spinefit fit`, over several seeds (issue 17).

Each seed renders 80 spines on 4 dendrites over 6 sessions (16 x 256 x 256 voxels), whose
volumes follow the default drift-diffusion run with a detection threshold, measures
them, and fits the latent drift-diffusion model twice: with one estimated noise τ, and
with the measurement's own errors (`-o measurement_error=column`). Measured volumes are
the rendered sizes times one scale k (shaft-peak units), so the truth becomes a·k, b,
c·k², d. Records, per fit, whether each 94% HDI holds its truth, the HDI widths, and τ
against the median relative standard error that `measure` reported.

With --direct, a third fit ("direct") reads no image: the rendered sizes times k, present
where they were rendered, with log-normal noise of the median relative standard error that
`measure` reported. It tells what the model makes of this design without the measurement
step, so a bias in both comes from the design or the model, not from `measure`. A fourth
("direct_measured_sd") is the same with the SD of the measured log errors instead, which
is larger (small spines' errors are larger than the median): the model's own behaviour
at the measurement's noise level, with presence as rendered.

With --decompose, six more fits (one τ each) take the measured presence and the rendered
sizes times k, and put back the measurement's own log errors (ln measured/(k·rendered)) in
six ways, to tell which property of the errors moves the estimates: "shuffled" (all
errors permuted across spines and sessions: same spread, no structure), "lognormal"
(normal log errors of the same SD: not even the errors' shape), "no_persistent"
(each spine's mean error removed: no per-spine offset), "persistent_only" (only each
spine's mean error), "shuffled_by_size" (permuted within quintiles of the rendered size:
keeps how the error's spread depends on size, nothing else) and "shuffled_in_spine"
(each spine's errors permuted over its sessions: keeps the spine's offset and spread,
breaks their order in time). Two more fix τ at the SD of the measured log errors (known
only in a simulation): "tau_known" on the measured volumes and "lognormal_tau_known" on
the lognormal variant. "theta_known" fixes the detection threshold θ at the rendered
run's killing threshold (times k) on the measured volumes. A cell measured without a
rendered spine keeps its measured value.
--only NAME[,NAME...] runs just those fits (e.g. --only tau,shuffled_by_size).

With --presence, three fits tell what the spines that `measure` misses do to the
estimates. `measure` runs a second time with presence by SNR >= 4 alone
(min_snr_adjacent=None); "single_cut_presence" and "hysteresis_presence" are
"direct_measured_sd" (the same noise draws) with the cells that the single cut or the
default hysteresis found absent removed, and "single_cut" fits the single-cut table (the
twin of "tau").

Every other fit reads absences as losses (`-o detection_limit=none`). With --detection,
"detection_limit" fits the measured table with the detection limit `measure` writes in
its detection_limit column (the volume at the presence cut; `fit`'s default, "auto"): an
absent spine may be alive and unseen. "detection_limit_column" does the same with the
measured errors.

Usage: python benchmarks/stacks_end_to_end.py SEED [SEED ...] [--direct] [--decompose]
[--presence] [--detection] [--only NAMES] [--out runs.jsonl]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spinefit.measure.files import measure_to_files
from spinefit.measure.run import DEFAULT_MIN_SNR, volume_at_cut
from spinefit.models.base import SamplerSettings
from spinefit.simulate.stacks import CROWDED_SCENE, render_stacks, write_stacks
from spinefit.summary import summarize
from spinefit.workflow import fit_file

SIZE_GROUPS = 5
"""Quantile groups of the rendered size within which "shuffled_by_size" permutes errors."""


def direct_table(scene, size: np.ndarray, relative_se: float, seed: int, path: Path) -> Path:
    """Write ``size`` (spine x session, NaN = absent) with log-normal noise, as `fit` reads."""
    rng = np.random.default_rng(seed + 10_000)
    return write_table(scene, size * np.exp(relative_se * rng.standard_normal(size.shape)), path)


def measure_table(scene, paths: dict, out: Path, **options) -> tuple[pd.DataFrame, np.ndarray]:
    """Run `measure` into ``out``; return its table and volumes (spine x session, NaN absent)."""
    measure_to_files([paths["folder"]], paths["rois"], out, **options)
    table = pd.read_csv(out, dtype={"spine_id": str})
    return table, table["volume"].to_numpy().reshape(len(scene.spine_ids), -1)


def error_variants(measured: np.ndarray, rendered: np.ndarray, seed: int) -> dict:
    """Return spine x session tables with the measured errors rearranged (see --decompose).

    Parameters
    ----------
    measured : array (spine, session)
        Measured volumes, NaN where ``measure`` found no spine.
    rendered : array (spine, session)
        Rendered sizes times the scale k, NaN where no spine was rendered.
    seed : int
        Seed of the permutation.
    """
    both = np.isfinite(measured) & np.isfinite(rendered)
    log_error = np.where(both, np.log(measured / np.where(both, rendered, 1.0)), np.nan)
    counts = both.sum(axis=1, keepdims=True)
    spine_mean = np.nansum(log_error, axis=1, keepdims=True) / np.maximum(counts, 1)
    rng = np.random.default_rng(seed + 20_000)
    shuffled = np.full_like(log_error, np.nan)
    shuffled[both] = rng.permutation(log_error[both])
    by_size = np.full_like(log_error, np.nan)
    cells = np.flatnonzero(both)
    edges = np.quantile(rendered.flat[cells], np.linspace(0, 1, SIZE_GROUPS + 1))
    group = np.searchsorted(edges, rendered.flat[cells], side="right") - 1
    group = np.clip(group, 0, SIZE_GROUPS - 1)
    for g in range(SIZE_GROUPS):
        members = cells[group == g]
        by_size.flat[members] = rng.permutation(log_error.flat[members])
    in_spine = np.full_like(log_error, np.nan)
    for i in range(log_error.shape[0]):
        seen = np.flatnonzero(both[i])
        in_spine[i, seen] = rng.permutation(log_error[i, seen])
    lognormal = np.full_like(log_error, np.nan)
    lognormal[both] = np.std(log_error[both]) * rng.standard_normal(int(both.sum()))
    errors = {
        "shuffled": shuffled,
        "lognormal": lognormal,
        # a spine seen once has no error beyond its mean: keep that one error
        "no_persistent": np.where(counts > 1, log_error - spine_mean, log_error),
        "persistent_only": np.where(both, spine_mean, np.nan),
        "shuffled_by_size": by_size,
        "shuffled_in_spine": in_spine,
    }
    return {
        name: np.where(both, rendered * np.exp(np.where(both, error, 0.0)), measured)
        for name, error in errors.items()
    }


def write_table(scene, volume: np.ndarray, path: Path) -> Path:
    """Write a spine x session matrix (NaN = absent) as the long table `fit` reads."""
    spine, session = np.nonzero(np.isfinite(volume))
    pd.DataFrame(
        {
            "spine_id": np.asarray(scene.spine_ids)[spine],
            "time_days": np.asarray(scene.times_days)[session],
            "volume": volume[spine, session],
        }
    ).to_csv(path, index=False)
    return path


def run(
    seed: int,
    direct: bool = False,
    decompose: bool = False,
    only: set[str] | None = None,
    presence: bool = False,
    detection: bool = False,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = render_stacks(**CROWDED_SCENE, random_seed=seed)
        paths = write_stacks(scene, tmp / "stacks")
        out = tmp / "volumes.csv"
        table, measured = measure_table(scene, paths, out)
        truth_size = scene.volume_um3 / scene.truth["volume_um3_per_unit"]
        both = np.isfinite(measured) & np.isfinite(truth_size)
        k = float(np.median(measured[both] / truth_size[both]))
        rendered = truth_size * k  # in the measurement's units
        dyn = scene.truth["dynamics"]
        truth = {"a": dyn["a"] * k, "b": dyn["b"], "c": dyn["c"] * k**2, "d": dyn["d"]}
        present = table["volume"].notna()
        relative_se = float(
            np.median(table.loc[present, "volume_se"] / table.loc[present, "volume"])
        )
        log_sd = float(np.std(np.log(measured[both] / rendered[both])))  # measured errors
        record = {
            "seed": seed,
            "scale_k": k,
            "median_relative_se": relative_se,
            "log_error_sd": log_sd,
            "fits": {},
        }
        fits = [("tau", out, {}), ("column", out, {"measurement_error": "column"})]
        if direct:
            table_path = direct_table(scene, rendered, relative_se, seed, tmp / "direct.csv")
            fits.append(("direct", table_path, {}))
            table_path = direct_table(scene, rendered, log_sd, seed, tmp / "direct_sd.csv")
            fits.append(("direct_measured_sd", table_path, {}))
        if presence:
            rng = np.random.default_rng(seed + 10_000)  # the draws of direct_measured_sd
            noisy = rendered * np.exp(log_sd * rng.standard_normal(rendered.shape))
            single_out = tmp / "single_cut.csv"
            _, single = measure_table(scene, paths, single_out, min_snr_adjacent=None)
            shown = np.isfinite(rendered)
            record["cells_missed_single_cut"] = int((shown & ~np.isfinite(single)).sum())
            record["cells_missed"] = int((shown & ~np.isfinite(measured)).sum())
            record["cells_false"] = int((~shown & np.isfinite(measured)).sum())
            for name, seen in (("single_cut_presence", single), ("hysteresis_presence", measured)):
                volume = np.where(np.isfinite(seen) & shown, noisy, seen)
                fits.append((name, write_table(scene, volume, tmp / f"{name}.csv"), {}))
            fits.append(("single_cut", single_out, {}))
        if detection:
            _, limit, _ = volume_at_cut(table, DEFAULT_MIN_SNR)
            record["detection_limit"] = limit
            record["killing_threshold"] = dyn["threshold"] * k
            fits.append(("detection_limit", out, {"detection_limit": "auto"}))
            column = {"detection_limit": "auto", "measurement_error": "column"}
            fits.append(("detection_limit_column", out, column))
        if decompose:
            known = {"measurement_cv": log_sd}
            fits.append(("tau_known", out, known))
            threshold = {"detection_threshold": dyn["threshold"] * k}
            fits.append(("theta_known", out, threshold))
            for name, volume in error_variants(measured, rendered, seed).items():
                fits.append((name, write_table(scene, volume, tmp / f"{name}.csv"), {}))
            fits.append(("lognormal_tau_known", tmp / "lognormal.csv", known))
        for name, source, config in fits:
            if only and name not in only:
                continue
            start = time.perf_counter()
            tree = fit_file(
                source,
                "drift-diffusion",
                tmp / f"{name}.nc",
                config={"detection_limit": "none"} | config,
                settings=SamplerSettings(
                    draws=500, tune=500, chains=2, random_seed=seed, progressbar=False
                ),
            )
            parameters = summarize(tree)["parameters"]
            fit = {"seconds": time.perf_counter() - start}
            for p, value in truth.items():
                s = parameters[p]
                fit[p] = {
                    "truth": value,
                    "mean": s["mean"],
                    "hdi": [s["hdi_low"], s["hdi_high"]],
                    "covered": s["hdi_low"] <= value <= s["hdi_high"],
                    "width": s["hdi_high"] - s["hdi_low"],
                }
            for variable in ("measurement_cv", "detection_threshold"):
                if variable in parameters:
                    fit[variable] = parameters[variable]["mean"]
            record["fits"][name] = fit
        return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--direct", action="store_true", help="also fit the rendered sizes")
    parser.add_argument(
        "--decompose", action="store_true", help="also fit the measured errors rearranged"
    )
    parser.add_argument(
        "--presence", action="store_true", help="also fit with single-cut/hysteresis presence"
    )
    parser.add_argument(
        "--detection", action="store_true", help="also fit with the measured detection limit"
    )
    parser.add_argument("--only", default="", help="comma-separated fits to run (default all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/stacks_e2e.jsonl"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    only = {name for name in args.only.split(",") if name}
    for seed in args.seeds:
        record = run(seed, args.direct, args.decompose, only, args.presence, args.detection)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        for name, fit in record["fits"].items():
            cover = " ".join(f"{p}:{'y' if fit[p]['covered'] else 'n'}" for p in "abcd")
            print(
                f"seed {seed} {name:>15}: {cover} | widths "
                + " ".join(f"{p} {fit[p]['width']:.3g}" for p in "abcd")
                + f" | tau {fit.get('measurement_cv', float('nan')):.3f} vs median rel. SE "
                f"{record['median_relative_se']:.3f} | {fit['seconds']:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
