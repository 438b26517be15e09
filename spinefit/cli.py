"""The ``spinefit`` command line: each command parses arguments and calls one function.

Exit codes: 0 ok, 1 internal error (a bug; please report), 2 bad input or options,
3 the fit did not converge and ``--strict`` was given, 4 some rows of a batch failed.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from spinefit.errors import ConfigError, SpinefitError
from spinefit.measure.defaults import (
    DEFAULT_HALF_DEPTH_Z,
    DEFAULT_MIN_SNR,
    DEFAULT_MIN_SNR_ADJACENT,
    DEFAULT_RADIUS_XY,
)
from spinefit.models import model_names
from spinefit.options import parse_option_pairs

app = typer.Typer(
    name="spinefit",
    help=(
        "Bayesian analysis of intrinsic and extrinsic dendritic-spine dynamics.\n\n"
        "Example: spinefit fit data/demo_timeseries.csv --model drift-diffusion "
        "--out results/demo.nc && spinefit report results/demo.nc --out reports/demo.html"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _fail(message: str, code: int) -> None:
    err_console.print(f"spinefit: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(command):
    """Turn spinefit errors into a one-line message and their exit code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpinefitError as err:
            _fail(str(err), err.exit_code)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as err:  # a bug: say so in one line unless debugging
            if os.environ.get("SPINEFIT_DEBUG"):
                raise
            _fail(
                f"internal error: {type(err).__name__}: {err} "
                "(set SPINEFIT_DEBUG=1 for a traceback and please report it)",
                1,
            )

    return wrapper


def _command_line() -> str:
    return "spinefit " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _parse_floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers, got '{text}'") from None


def _parse_config(pairs: list[str] | None) -> dict:
    return parse_option_pairs(pairs or [])


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or status.")]
# Sampling options of `fit`, and the defaults of a batch's rows.
Draws = Annotated[int, typer.Option(help="Posterior draws per chain.")]
Tune = Annotated[int, typer.Option(help="Tuning steps per chain.")]
Chains = Annotated[int, typer.Option(help="Number of chains.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Sampler = Annotated[str, typer.Option(help="NUTS implementation: nutpie or pymc.")]
Adaptation = Annotated[
    str,
    typer.Option(
        help="nutpie's mass-matrix adaptation: auto (the model's choice: low_rank for "
        "drift-diffusion --likelihood moments, diag elsewhere), low_rank (diagonal plus a "
        "low-rank correction for correlated parameters) or diag. PyMC's sampler ignores it."
    ),
]
EssTarget = Annotated[
    int,
    typer.Option(
        help="Extend sampling in rounds until every parameter's bulk ESS reaches this "
        "and R-hat <= 1.01, up to 4x --draws per chain (0: off)."
    ),
]
RetryTargetAccept = Annotated[
    float,
    typer.Option(
        help="When the final draws have divergent transitions, sample once more at this "
        "target acceptance (smaller steps; its own warm-up, so up to the fit's cost again) "
        "and keep the run with fewer (0: off)."
    ),
]


@app.command()
@handle_errors
def fit(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Tables (.csv/.tsv/.parquet/.xlsx) or .npy; several files need --label each."
        ),
    ],
    model: Annotated[str, typer.Option(help="Model to fit (the models are listed above).")] = (
        "drift-diffusion"
    ),
    by: Annotated[
        str | None,
        typer.Option(
            help="Compare conditions in this per-spine/per-synapse column (default: the "
            "'condition' column when it has 2+ labels; 'none' fits all data together)."
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(help="Condition label of each input file, in order (repeat per file)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Result file (netCDF).")] = Path("results/fit.nc"),
    draws: Draws = 1000,
    tune: Tune = 1000,
    chains: Chains = 2,
    seed: Seed = 0,
    sampler: Sampler = "nutpie",
    adaptation: Adaptation = "auto",
    ess_target: EssTarget = 400,
    retry_target_accept: RetryTargetAccept = 0.98,
    interval_days: Annotated[
        float | None, typer.Option(help="Days between sessions (matrices / session column).")
    ] = None,
    session_times: Annotated[
        str | None, typer.Option(help="Comma-separated session times in days (matrices).")
    ] = None,
    dendrite_map: Annotated[
        Path | None, typer.Option(help="Per-spine dendrite index (.npy) for a matrix.")
    ] = None,
    volume_units: Annotated[str | None, typer.Option(help="Units of the volumes.")] = None,
    drop_bad_rows: Annotated[
        bool, typer.Option(help="Drop and report rows with bad volumes instead of failing.")
    ] = False,
    spine_col: Annotated[
        str | None,
        typer.Option(help="Time series: spine-id column (default: spine_id, Spine, ...)."),
    ] = None,
    time_col: Annotated[
        str | None,
        typer.Option(
            help="Time series: time column, in days, in the unit its name states "
            "('Time (h)') or dates (default: time_days, Day, Date, session, ...)."
        ),
    ] = None,
    volume_col: Annotated[
        str | None,
        typer.Option(help="Time series: volume column (default: volume, 'Volume (um3)', ...)."),
    ] = None,
    size_col: Annotated[str | None, typer.Option(help="ssEM: size column to model.")] = None,
    pre_col: Annotated[str | None, typer.Option(help="ssEM: presynaptic id column.")] = None,
    post_col: Annotated[str | None, typer.Option(help="ssEM: postsynaptic id column.")] = None,
    keep_self_connections: Annotated[
        bool, typer.Option(help="ssEM: keep synapses whose pre and post cell are the same.")
    ] = False,
    by_multiplicity: Annotated[
        bool,
        typer.Option(
            help="mixture: large-state weight per multiplicity group (alias of "
            "-o by_multiplicity=true)."
        ),
    ] = False,
    family: Annotated[
        str | None,
        typer.Option(
            help="drift-diffusion SDE family: linear (default), power or spline (flexible "
            "drift; -o n_basis=K, -o spline_variance=true). Alias of -o family=NAME."
        ),
    ] = None,
    pool_animals: Annotated[
        bool,
        typer.Option(
            help="Partial pooling across animals (needs animal_id); alias of -o pool_animals=true."
        ),
    ] = False,
    likelihood: Annotated[
        str | None,
        typer.Option(
            help="drift-diffusion likelihood: latent (default; killed, noisy latent size "
            "process) or moments (fast moment-matched screening). Alias of -o likelihood=NAME."
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Model option KEY=VALUE (repeat for several); every model-specific option "
            "goes here.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit with code 3 if the fit did not converge.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Fit a model to INPUTS and save the posterior as netCDF.

    A 'condition' column with two or more labels, --by COL, or several files labelled with
    --label fit the model by condition; compare the conditions with 'spinefit compare'.

    Models (--model): {models}.

    Examples: spinefit fit spines.csv --model drift-diffusion --out fit.nc --seed 1;
    spinefit fit wt.csv ko.csv --label WT --label KO --out wt_ko.nc
    """
    from spinefit.models.base import SamplerSettings
    from spinefit.stats import convergence_warnings
    from spinefit.workflow import InputOptions, data_choices, fit_file

    config = _parse_config(option)
    if family is not None:
        config["family"] = family
    if pool_animals:
        config["pool_animals"] = True
    if likelihood is not None:
        config["likelihood"] = likelihood
    if by_multiplicity:
        config["by_multiplicity"] = True
    settings = SamplerSettings(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        sampler=sampler,
        adaptation=adaptation,
        progressbar=not quiet,
        ess_target=ess_target,
        retry_target_accept=retry_target_accept,
    )
    options = InputOptions(
        interval_days=interval_days,
        session_times=_parse_floats(session_times, "--session-times"),
        dendrite_map=dendrite_map,
        volume_units=volume_units,
        drop_bad_rows=drop_bad_rows,
        spine_col=spine_col,
        time_col=time_col,
        volume_col=volume_col,
        size_col=size_col,
        pre_col=pre_col,
        post_col=post_col,
        keep_self_connections=keep_self_connections,
    )
    names = ", ".join(str(p) for p in inputs)
    status = err_console.status(f"fitting {model} to {names} …") if not quiet else None
    if status:
        status.start()
    try:
        tree = fit_file(
            list(inputs),
            model,
            out,
            config=config,
            settings=settings,
            input_options=options,
            command_line=_command_line(),
            strict=strict,
            by=by,
            labels=label,
        )
    finally:
        if status:
            status.stop()
    if not quiet:
        for line in data_choices(tree, config):
            err_console.print(line, markup=False, highlight=False)
        err_console.print(f"saved {out}")
    for warning in convergence_warnings(tree):
        err_console.print(f"spinefit: warning: {warning}", markup=False, highlight=False)


# The registry is the one list of models; --help shows it.
fit.__doc__ = (fit.__doc__ or "").replace("{models}", ", ".join(model_names()))


@app.command()
@handle_errors
def summary(
    result: Annotated[Path, typer.Argument(help="Result file from `spinefit fit`.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    grid: Annotated[str | None, typer.Option(help="Comma-separated sizes for the curves.")] = None,
) -> None:
    """Print posterior summaries of a fitted result.

    Example: spinefit summary fit.nc --json --grid 0.5,1,2
    """
    from spinefit.results import load_result
    from spinefit.summary import summarize, summary_lines

    body = summarize(load_result(result), _parse_floats(grid, "--grid"))
    if json_output:
        sys.stdout.write(json.dumps(body) + "\n")
    else:
        sys.stdout.write("\n".join(summary_lines(body)) + "\n")


@app.command()
@handle_errors
def check(
    ctx: typer.Context,
    result: Annotated[Path, typer.Argument(help="Drift-diffusion result from `spinefit fit`.")],
    draws: Annotated[int, typer.Option(help="Posterior draws for the predictive check.")] = 200,
    out: Annotated[
        Path | None, typer.Option(help="Also write the check alone as netCDF here.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    particles: Annotated[
        int | None, typer.Option(help="Also cross-check 4 draws with this many simulated sites.")
    ] = None,
) -> None:
    """Posterior predictive check: predicted stationary sizes and turnover vs the data.

    The check is stored in the result file (group 'ppc'), where `spinefit report` reads it.

    Example: spinefit check fit.nc --draws 500 --json
    """
    from spinefit.check.run import check_lines, run_check

    body = run_check(result, draws=draws, out=out, random_seed=seed, n_particles=particles)
    if json_output:
        sys.stdout.write(json.dumps(body) + "\n")
    else:
        sys.stdout.write("\n".join(check_lines(body)) + "\n")
    if ctx.info_name == "simulate":
        err_console.print(
            "spinefit: note: 'simulate' is now 'spinefit check'; the alias goes in the next "
            "release",
            markup=False,
            highlight=False,
        )


app.command("simulate", help="Alias of `spinefit check` (kept for one release).")(check)


@app.command()
@handle_errors
def compare(
    result: Annotated[Path, typer.Argument(help="Result of a by-condition fit (.nc).")],
    reference: Annotated[str | None, typer.Option(help="Condition to contrast against.")] = None,
    rope: Annotated[
        list[str] | None,
        typer.Option(
            help="ROPE of one quantity, NAME=VALUE in its own units (e.g. d=0.005); repeat "
            "for several."
        ),
    ] = None,
    rope_ratio: Annotated[
        float | None,
        typer.Option(help="Relative ROPE R > 1 for every positive quantity: |log ratio| < log R."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    grid: Annotated[str | None, typer.Option(help="Comma-separated sizes for the curves.")] = None,
) -> None:
    """Contrast every condition with the reference (posterior differences, no refit).

    Example: spinefit compare wt_ko.nc --reference WT --rope d=0.005 --rope-ratio 1.1
    """
    from spinefit.compare import compare as compare_conditions
    from spinefit.compare import compare_lines
    from spinefit.comparison.rope import parse_rope
    from spinefit.results import load_result

    ropes = parse_rope(rope or [], rope_ratio)
    body = compare_conditions(
        load_result(result), reference=reference, rope=ropes, grid=_parse_floats(grid, "--grid")
    )
    if json_output:
        sys.stdout.write(json.dumps(body) + "\n")
        return
    for line in compare_lines(body):
        typer.echo(line)


@app.command()
@handle_errors
def report(
    results: Annotated[list[Path], typer.Argument(help="One or more result files.")],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("reports/report.html"),
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report of one or more results.

    Example: spinefit report fit.nc --out reports/fit.html
    """
    from spinefit.report.html import write_report
    from spinefit.results import load_result

    trees = [load_result(path) for path in results]
    write_report(trees, out, title=title)
    if not quiet:
        err_console.print(f"wrote {out}")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="HTML report to write.")] = Path("reports/demo.html"),
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with the bundled example data.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    quiet: Quiet = False,
) -> None:
    """Run the whole path on the bundled example data and write an HTML report.

    Example: spinefit demo --out reports/demo.html
    """
    from spinefit.demo import run_demo

    paths = run_demo(out, data_dir=data_dir, random_seed=seed, progressbar=not quiet)
    if not quiet:
        for path in paths:
            err_console.print(f"wrote {path}")


@app.command()
@handle_errors
def measure(
    stacks: Annotated[
        list[Path],
        typer.Argument(help="Folder with sessions.csv (file,time_days), or one TIFF per session."),
    ],
    rois: Annotated[
        Path,
        typer.Option(
            help="ROI table roi_id,kind,x,y,z (first session), or a Fiji RoiSet.zip / .roi."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Long volume table (CSV).")] = Path("volumes.csv"),
    report: Annotated[
        Path | None, typer.Option(help="QC report (HTML); default <out>.qc.html.")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no QC report.")] = False,
    session_times: Annotated[
        str | None, typer.Option(help="Comma-separated times (days) of listed TIFF files.")
    ] = None,
    interval_days: Annotated[
        float | None, typer.Option(help="Days between listed TIFF files.")
    ] = None,
    gain: Annotated[float, typer.Option(help="Detector gain, ADU per photon.")] = 1.0,
    min_snr: Annotated[
        float, typer.Option(help="Detection SNR at or above which a spine is present.")
    ] = DEFAULT_MIN_SNR,
    min_snr_adjacent: Annotated[
        float,
        typer.Option(
            help="Hysteresis: SNR at or above which a spine is present when linked through "
            "consecutive sessions to one at --min-snr (set it to --min-snr to turn it off)."
        ),
    ] = DEFAULT_MIN_SNR_ADJACENT,
    radius_xy: Annotated[float, typer.Option(help="Aperture radius (pixels).")] = DEFAULT_RADIUS_XY,
    half_depth_z: Annotated[
        float, typer.Option(help="Aperture half-depth (planes).")
    ] = DEFAULT_HALF_DEPTH_Z,
    refine: Annotated[
        bool, typer.Option(help="Refine each ROI's shift on a local patch (warping).")
    ] = False,
    max_shift: Annotated[
        str | None, typer.Option(help="Largest shift searched: planes,rows,columns.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Register two-photon stacks and measure spine volumes with standard errors.

    Example: spinefit measure stacks/ --rois rois.csv --out volumes.csv &&
    spinefit fit volumes.csv --out fit.nc
    """
    from spinefit.measure import Aperture
    from spinefit.measure.files import measure_to_files

    shift = _parse_floats(max_shift, "--max-shift")
    report_path = None if no_report else (report or out.with_suffix(".qc.html"))
    measure_to_files(
        list(stacks),
        rois,
        out,
        report=report_path,
        command_line=_command_line(),
        session_times=_parse_floats(session_times, "--session-times"),
        interval_days=interval_days,
        aperture=Aperture(radius_xy=radius_xy, half_depth_z=half_depth_z),
        gain=gain,
        min_snr=min_snr,
        min_snr_adjacent=min_snr_adjacent,
        refine=refine,
        max_shift=[int(v) for v in shift] if shift is not None else None,
        progressbar=not quiet,
    )
    if not quiet:
        err_console.print(f"wrote {out}" + (f" and {report_path}" if report_path else ""))


@app.command()
@handle_errors
def batch(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="CSV with one row per data set: input, and optionally label, model, options."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running dask scheduler (tcp://host:port)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default: one per core).")
    ] = None,
    draws: Draws = 1000,
    tune: Tune = 1000,
    chains: Chains = 2,
    seed: Seed = 0,
    sampler: Sampler = "nutpie",
    adaptation: Adaptation = "auto",
    ess_target: EssTarget = 400,
    retry_target_accept: RetryTargetAccept = 0.98,
    rerun: Annotated[
        bool, typer.Option(help="Fit completed rows again instead of reusing them.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Fit many data sets (one manifest row each) on dask.distributed.

    Each row writes OUT/LABEL.nc and OUT/LABEL.html; OUT/summary.csv, summary.parquet and
    index.html combine them. A failed row is recorded and the others go on; a re-run skips
    rows already done. The sampling options are the defaults of rows without their own.
    Exit code 4 if any row failed.

    Example: spinefit batch manifest.csv --out fits/ --workers 2
    """
    from spinefit.batch.run import run_batch
    from spinefit.sampling.settings import SamplerSettings

    defaults = SamplerSettings(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        sampler=sampler,
        adaptation=adaptation,
        ess_target=ess_target,
        retry_target_accept=retry_target_accept,
        progressbar=False,
    )
    result = run_batch(
        manifest,
        out,
        defaults=defaults,
        scheduler=scheduler,
        workers=workers,
        progress=not quiet,
        rerun=rerun,
    )
    if not quiet:
        fitted = len(result.records) - len(result.failed) - len(result.skipped)
        err_console.print(
            f"{fitted} fitted, {len(result.skipped)} reused, {len(result.failed)} failed; "
            f"wrote {result.index_html} and {result.summary_csv}",
            soft_wrap=True,
        )
    for record in result.records:
        if record["status"] != "ok":
            err_console.print(
                f"spinefit: failed: {record['label']}: {record['error']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if result.failed:
        raise typer.Exit(4)


@app.command()
@handle_errors
def calibrate(
    out: Annotated[Path, typer.Option(help="Folder for the report, JSON summary and records.")],
    model: Annotated[str, typer.Option(help="Model to calibrate.")] = "drift-diffusion",
    family: Annotated[
        str | None, typer.Option(help="drift-diffusion SDE family (the simulator: linear).")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Simulated data sets (replicates).")] = 200,
    scheduler: Annotated[
        str | None,
        typer.Option(help="dask scheduler address, or 'inprocess' to run one at a time here."),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local dask workers.")] = None,
    seed: Annotated[int, typer.Option(help="Base seed; replicate i derives its own.")] = 0,
    draws: Draws = 500,
    tune: Tune = 500,
    chains: Chains = 2,
    sampler: Sampler = "nutpie",
    thin: Annotated[
        int, typer.Option(help="L: thinned posterior draws per replicate (ranks 0..L).")
    ] = 99,
    design: Annotated[
        list[str] | None,
        typer.Option(help="Simulator option KEY=VALUE, e.g. n_synapses=300 (repeat)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Model option KEY=VALUE (repeat for several)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Simulation-based calibration: fit data simulated from the model's own prior.

    Reruns with the same --out resume. Example: spinefit calibrate --model mixture
    --n 200 --out calibration/mixture
    """
    from spinefit.calibration.run import REPORT_FILE, SUMMARY_FILE
    from spinefit.calibration.run import calibrate as run_calibration

    summary = run_calibration(
        model,
        out=out,
        n=n,
        family=family,
        scheduler=scheduler,
        workers=workers,
        seed=seed,
        draws=draws,
        tune=tune,
        chains=chains,
        sampler=sampler,
        n_thinned=thin,
        design=_parse_config(design),
        options=_parse_config(option),
        progress=not quiet,
        command_line=_command_line(),
    )
    if not quiet:
        err_console.print(summary["verdict"], markup=False, highlight=False)
        err_console.print(f"wrote {out / REPORT_FILE} and {out / SUMMARY_FILE}")


def main() -> None:
    """Console-script entry point."""
    app()
