"""Report sections of the posterior predictive stationary check (:mod:`spinefit.check`)."""

from __future__ import annotations

import html

import numpy as np
import xarray as xr
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from spinefit import dims
from spinefit.check.stationary import ppc_summary
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.stats import HDI_HIGH, HDI_LOW

N_BINS = 40
BAND_ALPHA = 0.3
LOG_AXIS_MARGIN = 1.5
"""The size axes end at this many times the largest observed size (or the grid's top)."""


def ppc_sections(tree: xr.DataTree, check: xr.Dataset) -> list[ReportSection]:
    """Return the predicted-vs-observed size distribution, turnover and statistics sections.

    Parameters
    ----------
    tree : xarray.DataTree
        The drift–diffusion result the check was computed from (used for its labels only;
        the observed sizes are taken from ``check``).
    check : xarray.Dataset
        Output of :func:`spinefit.check.ppc.stationary_check` (as stored in the result).

    Returns
    -------
    list of ReportSection
        One section, "Posterior predictive check", with three subsections: sizes
        (semi-log figures and quantiles), turnover, and the distance and bimodality
        statistics with their p-values.
    """
    summary = ppc_summary(check)
    units = check.attrs.get("volume_units", dims.DEFAULT_VOLUME_UNITS)
    grid = check[dims.SIZE_GRID].to_numpy()
    observed = check["observed_size"].to_numpy()
    threshold = float(check.attrs["detection_threshold"])

    # Both panels on a log size axis (semi-log): sizes span decades and the upper tail,
    # where models differ, is squeezed into a few pixels on a linear axis.
    fig, (ax_density, ax_log_density) = new_figure(2, height=3.2)
    log_edges = np.geomspace(threshold, observed.max(), N_BINS + 1)
    ax_density.hist(observed, bins=log_edges, density=True, color="0.6", label="observed")
    _band(ax_density, grid, check, "density")
    ax_density.set_ylabel(f"density f(w) (1/{units})")

    counts, _ = np.histogram(observed, bins=log_edges)
    # Density of ln w, which is what w·f(w) is, so both curves share one scale.
    log_density = counts / (observed.size * np.diff(np.log(log_edges)))
    ax_log_density.stairs(log_density, log_edges, fill=True, color="0.6", label="observed")
    _band(ax_log_density, grid, check, "log_size_density")
    ax_log_density.set_ylabel("w·f(w), density of ln w (dimensionless)")
    # The grid runs past the data into the tail; beyond 1.5× the largest size it is empty.
    x_range = (float(grid[0]), min(float(grid[-1]), LOG_AXIS_MARGIN * float(observed.max())))
    for ax in (ax_density, ax_log_density):
        log_size_axis(ax, *x_range)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"spine size w ({units}, log axis)")
    ax_density.legend(fontsize=7)
    fig.tight_layout()
    hdi = float(check.attrs.get("hdi_prob", 0.94))
    settings = summary["settings"]
    distribution = figure_html(
        fig,
        f"Observed sizes of all present spine-sessions (grey) and the predicted stationary "
        f"distribution (posterior mean and {hdi:.0%} HDI over {settings['draws']} draws), "
        "with elimination at the detection threshold and new spines drawn from the "
        f"new-spine size law ({settings['new_size_source']}). Left: the density f(w); "
        "right: w·f(w), the density of ln w, whose area on this log axis is probability, "
        "so a heavy upper tail shows as a long right shoulder.",
    )
    distribution += _draws_without_density_html(settings)
    distribution += table_html(
        [
            "quantile",
            f"observed ({units})",
            f"predicted mean ({units})",
            f"{HDI_LOW} ({units})",
            f"{HDI_HIGH} ({units})",
        ],
        [
            [f"{p:g}", obs, pred["mean"], pred["hdi_low"], pred["hdi_high"]]
            for p, obs, pred in zip(
                summary["stationary"]["quantiles"]["prob"],
                summary["stationary"]["quantiles"]["observed"],
                summary["stationary"]["quantiles"]["predicted"],
                strict=True,
            )
        ],
        caption="Observed vs predicted size quantiles: where the fit departs from the data",
    )

    turnover_rows = []
    for name, label in (
        ("elimination_per_day", "elimination"),
        ("formation_per_day", "formation"),
    ):
        entry = summary["turnover"][name]
        turnover_rows.append(
            [
                f"{label} (1/day)",
                entry["predicted"]["mean"],
                entry["predicted"]["hdi_low"],
                entry["predicted"]["hdi_high"],
                entry["observed"].get("mean"),
                entry["observed"].get("hdi_low"),
                entry["observed"].get("hdi_high"),
                entry["observed"]["crude"],
            ]
        )
    counts = summary["turnover"]["counts"]
    turnover = paragraph(
        "Predicted: the steady-state flux through the detection threshold per present spine "
        "(formation balances it). Fitted: the model's turnover rates from the counted events "
        f"({counts['eliminations']} eliminations, {counts['formations']} formations over "
        f"{counts['spine_days_at_risk']:.0f} present-spine-days). Crude: events per "
        "present-spine-day. Predicted rates well below the fitted ones mean spines vanish "
        "for reasons other than drifting below the threshold (or the threshold is not "
        "where detection fails)."
    ) + table_html(
        [
            "rate",
            "predicted mean",
            HDI_LOW,
            HDI_HIGH,
            "fitted mean",
            HDI_LOW,
            HDI_HIGH,
            "crude",
        ],
        turnover_rows,
    )

    stat_rows = []
    for key, label in (("ks", "Kolmogorov–Smirnov"), ("wasserstein", "Wasserstein-1")):
        entry = summary["stationary"][key]
        unit = "" if entry["units"] == "1" else f" ({entry['units']})"
        stat_rows.append(
            [
                f"{label} distance{unit}",
                entry["observed"],
                entry["observed_hdi_low"],
                entry["observed_hdi_high"],
                entry["replicate"],
                entry["p_value"],
            ]
        )
    bimodality = summary["stationary"].get("bimodality")
    if bimodality is not None:
        stat_rows.append(
            [
                "Sarle's bimodality coefficient of ln w (dimensionless)",
                bimodality["observed"],
                "–",  # one number: the observed sizes do not depend on the draw
                "–",
                bimodality["replicate"],
                bimodality["p_value"],
            ]
        )
    text = (
        "Distance between the observed size distribution and each draw's predicted one, "
        f"against the distance of a replicate sample of {settings['replicate_size']} sizes "
        "drawn from that prediction. p = fraction of draws whose replicate is at least as "
        "far as the data; small p means the data are not like the model's stationary "
        "distribution. Observed sizes include each spine several times (correlated), so p "
        "is on the strict side."
    )
    if bimodality is not None:
        text += (
            " The bimodality coefficient of ln w is 1/3 for a normal and 5/9 for a uniform "
            f"distribution; above {bimodality['threshold']:.3g} it suggests two size modes "
            "(Pfister et al. 2013). Its p is the fraction of replicates at least as bimodal "
            "as the data: small p means the observed log sizes are more bimodal than the "
            "model predicts."
        )
    statistics = paragraph(text + " " + _draws_used_text(settings)) + table_html(
        ["statistic", "observed mean", HDI_LOW, HDI_HIGH, "replicate mean", "p-value"],
        stat_rows,
    )
    if "particles" in summary:
        particles = summary["particles"]
        statistics += table_html(
            ["draw", "KS particles vs density", "elimination (particles)", "predicted"],
            [
                [i, ks, rate, pred]
                for i, (ks, rate, pred) in enumerate(
                    zip(
                        particles["ks"],
                        particles["elimination_per_day"],
                        particles["elimination_per_day_predicted"],
                        strict=True,
                    )
                )
            ],
            caption=f"Particle cross-check ({particles['n_particles']} simulated sites)",
        )
    return [
        ReportSection(
            "Posterior predictive check",
            "",
            subsections=[
                ReportSection("Predicted vs observed sizes", distribution),
                ReportSection("Predicted vs observed turnover", turnover),
                ReportSection("Distance and bimodality statistics", statistics),
            ],
        )
    ]


def log_size_axis(ax, low: float, high: float) -> None:
    """Put sizes from ``low`` to ``high`` on a log x axis with plain-number tick labels.

    Spine sizes often span only one or two decades, where powers of ten alone leave one
    or two labels; ticks at 1, 2 and 5 per decade are labelled then.
    """
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    decades = np.log10(high / low)
    ax.xaxis.set_major_locator(
        LogLocator(base=10.0, subs=(1.0,) if decades > 2.5 else (1.0, 2.0, 5.0))
    )
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap within a decade


def _draws_used_text(settings: dict) -> str:
    """Say how many draws the check used and how many it left out, and why."""
    used, left_out = settings["draws"], settings.get("draws_without_stationary_density", 0)
    if not left_out:
        return f"All {used} draws checked have a stationary size density."
    return (
        f"{left_out} of the {used + left_out} draws checked have no stationary size density "
        "(tail exponent α ≤ 0: their sizes grow without bound) and are left out of the "
        f"predicted density, quantiles and p-values, which use the other {used}."
    )


def _draws_without_density_html(settings: dict) -> str:
    """Return a highlighted paragraph when draws were left out (empty otherwise)."""
    if not settings.get("draws_without_stationary_density", 0):
        return ""
    return f'<p class="warning">{html.escape(_draws_used_text(settings))}</p>'


def _band(ax, grid: np.ndarray, check: xr.Dataset, name: str) -> None:
    ax.fill_between(
        grid,
        check[f"{name}_hdi_low"].to_numpy(),
        check[f"{name}_hdi_high"].to_numpy(),
        color="C0",
        alpha=BAND_ALPHA,
        label="predicted HDI",
    )
    ax.plot(grid, check[f"{name}_mean"].to_numpy(), color="C0", label="predicted mean")
