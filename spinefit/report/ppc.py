"""Report sections of the posterior predictive stationary check (:mod:`spinefit.ppc`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.ppc import ppc_summary
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html

N_BINS = 40
BAND_ALPHA = 0.3


def ppc_sections(tree: xr.DataTree, check: xr.Dataset) -> list[ReportSection]:
    """Return the predicted-vs-observed size distribution, turnover and statistics sections.

    Parameters
    ----------
    tree : xarray.DataTree
        The drift–diffusion result the check was computed from (used for its labels only;
        the observed sizes are taken from ``check``).
    check : xarray.Dataset
        Output of :func:`spinefit.ppc.stationary_check`.

    Returns
    -------
    list of ReportSection
        One section, "Posterior predictive check", with three subsections.
    """
    summary = ppc_summary(check)
    units = check.attrs.get("volume_units", dims.DEFAULT_VOLUME_UNITS)
    grid = check[dims.SIZE_GRID].to_numpy()
    observed = check["observed_size"].to_numpy()
    threshold = float(check.attrs["detection_threshold"])

    fig, (ax_lin, ax_log) = new_figure(2, height=3.2)
    edges = np.linspace(threshold, observed.max(), N_BINS + 1)
    ax_lin.hist(observed, bins=edges, density=True, color="0.6", label="observed")
    _band(ax_lin, grid, check, "density")
    ax_lin.set_xlim(0, observed.max() * 1.05)
    ax_lin.set_xlabel(f"spine size w ({units})")
    ax_lin.set_ylabel(f"density f(w) (1/{units})")

    log_edges = np.geomspace(threshold, observed.max(), N_BINS + 1)
    counts, _ = np.histogram(observed, bins=log_edges)
    # Density of ln w, which is what w·f(w) is, so both curves share one scale.
    log_density = counts / (observed.size * np.diff(np.log(log_edges)))
    ax_log.stairs(log_density, log_edges, fill=True, color="0.6", label="observed")
    _band(ax_log, grid, check, "log_size_density")
    ax_log.set_xscale("log")
    ax_log.set_yscale("log")
    positive = log_density[log_density > 0]
    if positive.size:
        ax_log.set_ylim(0.3 * positive.min(), 3 * float(np.max(check["log_size_density_hdi_high"])))
    ax_log.set_xlabel(f"spine size w ({units}, log axis)")
    ax_log.set_ylabel("w·f(w) (density of ln w, log axis)")
    ax_lin.legend(fontsize=7)
    fig.tight_layout()
    hdi = float(check.attrs.get("hdi_prob", 0.94))
    distribution = figure_html(
        fig,
        f"Observed sizes of all present spine-sessions (grey) and the predicted stationary "
        f"distribution (posterior mean and {hdi:.0%} HDI over {summary['settings']['draws']} "
        "draws), with elimination at the detection threshold (the smallest observed size) and "
        "new spines drawn from a log-normal fitted to newly appearing spines. Right: the same "
        "as densities of ln w on log–log axes, where a heavy tail shows as a straight decline.",
    )
    distribution += table_html(
        ["quantile", f"observed ({units})", "predicted mean", "hdi low", "hdi high"],
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
            "hdi low",
            "hdi high",
            "fitted mean",
            "hdi low",
            "hdi high",
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
                f"{label}{unit}",
                entry["observed"],
                entry["observed_hdi_low"],
                entry["observed_hdi_high"],
                entry["replicate"],
                entry["p_value"],
            ]
        )
    settings = summary["settings"]
    statistics = paragraph(
        "Distance between the observed size distribution and each draw's predicted one, "
        f"against the distance of a replicate sample of {settings['replicate_size']} sizes "
        "drawn from that prediction. p = fraction of draws whose replicate is at least as "
        "far as the data; small p means the data are not like the model's stationary "
        "distribution. Observed sizes include each spine several times (correlated), so p "
        "is on the strict side."
    ) + table_html(
        ["distance", "observed mean", "hdi low", "hdi high", "replicate mean", "p-value"],
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
                ReportSection("Distance statistics", statistics),
            ],
        )
    ]


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
