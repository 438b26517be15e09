"""The demo: the whole path on the bundled example data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from spinefit.check.run import run_check
from spinefit.errors import DataError
from spinefit.models.base import SamplerSettings
from spinefit.report.html import write_report
from spinefit.results import load_result
from spinefit.workflow import fit_file

DEMO_TIMESERIES = "demo_timeseries.csv"
DEMO_GENOTYPES = "wt_ko_timeseries.csv"


def find_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the folder with the bundled data: given, ``./data``, or the source tree's."""
    candidates = (
        [Path(data_dir)]
        if data_dir
        else [Path.cwd() / "data", Path(__file__).resolve().parents[1] / "data"]
    )
    for folder in candidates:
        if (folder / DEMO_TIMESERIES).exists():
            return folder
    raise DataError(
        f"bundled example data ({DEMO_TIMESERIES}) not found in "
        f"{', '.join(str(c) for c in candidates)}; pass --data-dir"
    )


def run_demo(
    out: str | Path = "reports/demo.html",
    *,
    data_dir: str | Path | None = None,
    random_seed: int = 0,
    progressbar: bool = True,
) -> list[Path]:
    """Fit the bundled example data and write one report with both results.

    1. The drift–diffusion model on ``demo_timeseries.csv`` (one population), with its
       posterior predictive check (``spinefit check``) stored in the result.
    2. The WT vs Fmr1-KO-like comparison on ``wt_ko_timeseries.csv``: its ``condition``
       column makes the fit condition-specific (animals nested in genotype), and the report
       shows the contrasts KO − WT.

    Parameters
    ----------
    out : str or Path
        HTML report to write; the results (``*.nc``) go beside it.
    data_dir : str or Path, optional
        Folder holding the example data.
    random_seed : int
        Seed of the fits.
    progressbar : bool
        Show sampling progress.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = find_data_dir(data_dir)
    out = Path(out)
    single = out.with_name(f"{out.stem}_drift_diffusion.nc")
    genotypes = out.with_name(f"{out.stem}_wt_ko.nc")
    settings = SamplerSettings(
        draws=1000, tune=1000, chains=2, random_seed=random_seed, progressbar=progressbar
    )
    fit_file(
        folder / DEMO_TIMESERIES,
        "drift-diffusion",
        single,
        settings=settings,
        command_line="spinefit demo",
    )
    # The posterior predictive check is stored in the result, where the report reads it.
    run_check(single, draws=200, random_seed=random_seed)
    # The latent likelihood costs minutes per fit: the WT/KO comparison (1038 spines in 8
    # animals) is sampled with half the draws and without the pooled-model LOO fit, which
    # would double its time; `spinefit fit data/wt_ko_timeseries.csv` gives both. Its
    # warm-up stays at 1000: with 500, 2 divergences remained after the ESS rounds.
    fit_file(
        folder / DEMO_GENOTYPES,
        "drift-diffusion",
        genotypes,
        config={"loo": False},
        settings=replace(settings, draws=500),
        command_line="spinefit demo",
    )
    write_report(
        [load_result(single), load_result(genotypes)],
        out,
        title="spinefit demo: drift–diffusion and WT vs KO comparison",
    )
    return [single, genotypes, out]
