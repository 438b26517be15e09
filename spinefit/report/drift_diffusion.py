"""Report sections of the drift–diffusion model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib.ticker import NullFormatter

from spinefit import dims
from spinefit.check.ppc import stored_check
from spinefit.families.dynamics import TAIL_FACTOR
from spinefit.io.transitions import transitions
from spinefit.models.family_comparison import read_comparison
from spinefit.models.sde_moments import linear_moments_numpy
from spinefit.report.known_biases import (
    MEASURED_VOLUME_BIAS,
    NOISE_TRADE_OFF,
    SPLINE_FIXED_POINT_BIAS,
)
from spinefit.report.ppc import ppc_sections
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.results.names import DATA_GROUP, RESULT_PATH_ATTR
from spinefit.stats import HDI_HIGH, HDI_LOW, HDI_PROB, curve_stats, draw_correlation

if TYPE_CHECKING:
    from spinefit.models.drift_diffusion import DriftDiffusion

N_BINS = 8
BAND_ALPHA = 0.25
FIXED_POINT_ALPHA = 0.15
"""Opacity of a fixed point's HDI band: lighter than the curve's, which it crosses."""
FIXED_POINT_COLORS = {True: "C2", False: "C3"}
"""Stable (True) and unstable fixed points."""


def binned_empirical(trans: xr.Dataset, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Conditional mean of Δw/Δt and SD of Δw/√Δt in quantile bins of the start size.

    Returns
    -------
    dict
        ``center``, ``drift``, ``drift_se``, ``diffusion`` and ``count`` per bin.
    """
    w0 = trans["w_start"].values
    dw = trans["w_end"].values - w0
    dt = trans["dt_days"].values
    edges = np.unique(np.quantile(w0, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, w0, side="right") - 1, 0, len(edges) - 2)
    out: dict[str, list[float]] = {k: [] for k in ("center", "drift", "drift_se", "diffusion")}
    out["count"] = []
    for k in range(len(edges) - 1):
        sel = which == k
        if sel.sum() < 3:
            continue
        rate = dw[sel] / dt[sel]
        out["center"].append(float(np.median(w0[sel])))
        out["drift"].append(float(rate.mean()))
        out["drift_se"].append(float(rate.std(ddof=1) / np.sqrt(sel.sum())))
        out["diffusion"].append(float(np.std(dw[sel] / np.sqrt(dt[sel]), ddof=1)))
        out["count"].append(int(sel.sum()))
    return {k: np.asarray(v) for k, v in out.items()}


def _finite_interval_curves(posterior: xr.Dataset, grid: np.ndarray, dt: float):
    """Model-implied E[Δw]/Δt and SD(Δw)/√Δt over one interval (posterior-mean params)."""
    a, b, c, d = (float(posterior[v].mean()) for v in "abcd")
    mean, var = linear_moments_numpy(a, b, c, d, grid, dt)
    return (mean - grid) / dt, np.sqrt(var / dt)


def drift_diffusion_sections(model: DriftDiffusion, tree: xr.DataTree) -> list[ReportSection]:
    """Return the curve, size-distribution and turnover sections."""
    data = tree[DATA_GROUP].to_dataset()
    posterior = tree["posterior"].to_dataset()
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    trans = transitions(data)
    grid = model.default_grid(tree)
    curves = model.curves(posterior, grid)
    empirical = binned_empirical(trans)
    dt_typical = float(np.median(trans["dt_days"].values))
    dynamics = model.dynamics_summary(tree)

    fig, (ax_mu, ax_sigma) = new_figure(2, height=3.4)
    for ax, key, label in (
        (ax_mu, "drift", f"drift μ(w) ({units}/day)"),
        (ax_sigma, "diffusion", f"diffusion σ(w) ({units}/√day)"),
    ):
        stats = curve_stats(curves[key], dims.SIZE_GRID)
        ax.fill_between(
            grid,
            stats["hdi_low"],
            stats["hdi_high"],
            alpha=BAND_ALPHA,
            color="C0",
            label=f"{HDI_PROB:.0%} HDI",
        )
        ax.plot(grid, stats["mean"], color="C0", label="posterior mean (instantaneous)")
        ax.set_xlabel(f"spine size w ({units})")
        ax.set_ylabel(label)
    if model.family.exact_linear_moments:
        fin_drift, fin_diff = _finite_interval_curves(posterior, grid, dt_typical)
        ax_mu.plot(grid, fin_drift, "--", color="C1", label=f"model, over Δt={dt_typical:g} d")
        ax_sigma.plot(grid, fin_diff, "--", color="C1", label=f"model, over Δt={dt_typical:g} d")
    ax_mu.errorbar(
        empirical["center"],
        empirical["drift"],
        yerr=empirical["drift_se"],
        fmt="o",
        color="k",
        ms=4,
        label="data: mean Δw/Δt per bin",
    )
    ax_sigma.plot(
        empirical["center"],
        empirical["diffusion"],
        "o",
        color="k",
        ms=4,
        label="data: SD Δw/√Δt per bin",
    )
    ax_mu.axhline(0, color="0.6", lw=0.8)
    mark_fixed_points(ax_mu, dynamics["fixed_points"], units)
    ax_mu.legend(fontsize=7)
    ax_sigma.legend(fontsize=7)
    fig.tight_layout()
    curve_body = figure_html(
        fig,
        "Posterior drift and diffusion with 94% bands. Points: binned empirical estimates "
        "from transitions (quantile bins of the start size); over a finite interval these "
        "differ from the instantaneous curves, so the dashed line shows what the fitted "
        "model predicts for the same interval. On the drift panel, fixed points (μ = 0): "
        "filled markers stable, open markers unstable, with their 94% HDI shaded and the "
        "posterior probability that each exists in the legend.",
    )
    curve_body += fixed_points_html(dynamics["fixed_points"], units)
    if model.config["family"] == "spline":
        curve_body += paragraph(SPLINE_FIXED_POINT_BIAS)
    if dims.VOLUME_SE in data:  # measured volumes with their errors, as `measure` writes
        limit = model.config.get("detection_limit")
        used = (
            "This fit used no detection limit."
            if limit in (None, "none", "auto")
            else f"This fit used the detection limit θ_d = {float(limit):.4g} {units}."
        )
        curve_body += paragraph(f"{MEASURED_VOLUME_BIAS} {used}")
    curve_body += tail_html(dynamics["tail"], units)
    curve_body += table_html(
        ["bin centre", "transitions", "mean Δw/Δt", "SD Δw/√Δt"],
        [
            [float(c), int(n), float(m), float(s)]
            for c, n, m, s in zip(
                empirical["center"],
                empirical["count"],
                empirical["drift"],
                empirical["diffusion"],
                strict=True,
            )
        ],
        caption=f"Binned empirical estimates ({units})",
    )

    present = data[dims.VOLUME].values
    present = present[np.isfinite(present)]
    fig, (ax_lin, ax_log) = new_figure(2, height=3.0)
    ax_lin.hist(present, bins=40, color="0.45")
    ax_lin.set_xlabel(f"spine size w ({units})")
    ax_lin.set_ylabel("count (spine-sessions)")
    positive = present[present > 0]
    ax_log.hist(positive, bins=np.geomspace(positive.min(), positive.max(), 40), color="0.45")
    ax_log.set_xscale("log")
    ax_log.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap within a decade
    ax_log.set_xlabel(f"spine size w ({units}, log axis)")
    ax_log.set_ylabel("count (spine-sessions)")
    fig.tight_layout()
    size_body = figure_html(fig, "Observed sizes of present spines over all sessions.")

    posterior_turnover = [
        [name.replace("_", " "), float(posterior[name].mean()), *_hdi_pair(posterior[name])]
        for name in ("formation_per_day", "elimination_per_day")
    ]
    turnover_body = paragraph(
        "Rates per present spine per day, from formation (absent → present) and elimination "
        "(present → absent) events between consecutive sessions."
    ) + table_html(["rate (1/day)", "posterior mean", HDI_LOW, HDI_HIGH], posterior_turnover)
    sections = [
        ReportSection("Drift and diffusion", curve_body),
        ReportSection("Size distribution", size_body),
        ReportSection("Turnover", turnover_body),
    ]
    if model.latent:
        sections.append(
            ReportSection("Detection, noise and elimination", latent_body(model, tree, grid))
        )
    comparison = read_comparison(tree["posterior"])
    if comparison:
        sections.append(ReportSection("SDE family comparison", family_comparison_html(comparison)))
    check = stored_check(tree)
    if check is None:
        source = tree.attrs.get(RESULT_PATH_ATTR) or "RESULT.nc"
        return sections + [
            ReportSection(
                "Posterior predictive check",
                paragraph(
                    "This result holds no posterior predictive check. Compute it (it is "
                    f"stored in the result file) with: spinefit check {source}; then write "
                    "the report again."
                ),
            )
        ]
    return sections + ppc_sections(tree, check)


def family_comparison_html(table: dict) -> str:
    """Return the PSIS-LOO table of the fitted SDE families (best first)."""
    rows = sorted(table["families"].items(), key=lambda item: -item[1]["elpd_loo"])
    text = paragraph(
        f"The same data fitted with each family and compared by PSIS-LOO on {table['n']} "
        "units (spines for the latent likelihood, transitions for the moments one). "
        "elpd_diff is each family minus the best; a difference within about 2 of its SE "
        "does not favour either family. Pareto k above 0.7 makes a LOO estimate unreliable."
    )
    return text + table_html(
        ["family", "elpd_loo", "SE", "p_loo", "elpd_diff", "SE of diff", "max Pareto k"],
        [
            [
                name + (" (best)" if name == table["best"] else ""),
                row["elpd_loo"],
                row["se"],
                row["p_loo"],
                row["elpd_diff"],
                row["se_diff"],
                row["max_pareto_k"],
            ]
            for name, row in rows
        ],
    )


def _stability(stable: bool) -> str:
    return "stable" if stable else "unstable"


def mark_fixed_points(ax, points: list[dict], units: str) -> None:
    """Mark fixed points of μ(w) on the drift axes: HDI band, marker at (w*, 0), legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The drift panel.
    points : list of dict
        ``dynamics_summary(tree)["fixed_points"]``.
    units : str
        Volume units.
    """
    for point in points:
        color = FIXED_POINT_COLORS[bool(point["stable"])]
        ax.axvspan(point["hdi_low"], point["hdi_high"], color=color, alpha=FIXED_POINT_ALPHA, lw=0)
        ax.plot(
            point["w"],
            0.0,
            "o",
            ms=7,
            mec=color,
            mfc=color if point["stable"] else "white",
            mew=1.5,
            zorder=5,
            label=(
                f"{_stability(point['stable'])} w* = {point['w']:.3g} {units} "
                f"(P = {_percent(point['probability'])})"
            ),
        )


def fixed_points_html(points: list[dict], units: str) -> str:
    """Return the table of fixed points of μ(w) (a sentence when there are none).

    Parameters
    ----------
    points : list of dict
        ``dynamics_summary(tree)["fixed_points"]``.
    units : str
        Volume units.
    """
    if not points:
        return paragraph(
            "Fixed points: μ(w) has no zero in the observed size range in any posterior draw."
        )
    return table_html(
        [
            f"fixed point w* ({units})",
            f"{HDI_LOW} ({units})",
            f"{HDI_HIGH} ({units})",
            "type",
            "posterior probability it exists",
        ],
        [
            [
                float(point["w"]),
                float(point["hdi_low"]),
                float(point["hdi_high"]),
                _stability(point["stable"]),
                _percent(point["probability"]),
            ]
            for point in points
        ],
        caption=(
            "Fixed points of the drift (μ(w*) = 0) in the observed size range. Stable: μ "
            "changes from + to − (sizes are pulled towards w*); unstable: sizes are pushed "
            "away. Location: median over the draws that have it."
        ),
    )


def tail_html(tail: dict, units: str) -> str:
    """Return the sentence on the stationary density's tail exponent and missing densities.

    Parameters
    ----------
    tail : dict
        ``dynamics_summary(tree)["tail"]``: ``alpha`` stats, ``at_size``,
        ``share_without_stationary_density``.
    units : str
        Volume units.
    """
    alpha = tail["alpha"]
    where = (
        f"read at w = {tail['at_size']:.3g} {units} ({TAIL_FACTOR:g} × the largest observed size)"
    )
    if alpha and all(np.isfinite(alpha[k]) for k in ("mean", "hdi_low", "hdi_high")):
        text = (
            "Upper tail of the stationary size density: P(W > w) ~ w^(−α) with posterior "
            f"mean α = {alpha['mean']:.3g} over the draws that have such a density "
            f"({HDI_PROB:.0%} HDI {alpha['hdi_low']:.3g} to {alpha['hdi_high']:.3g}), {where}."
        )
    else:
        text = f"The tail exponent α of the stationary size density could not be {where}."
    share = float(tail["share_without_stationary_density"])
    if share > 0:
        text += (
            f" In {_percent(share)} of the posterior draws α ≤ 0: those draws have no "
            "stationary size density (their sizes grow without bound), so they cannot "
            "describe a population whose size distribution stays put."
        )
    else:
        text += " Every posterior draw has α > 0, so a stationary size density."
    return paragraph(text)


def _percent(share: float) -> str:
    """Format a share so that a small but non-zero one does not read as 0%."""
    share = float(share)
    if 0 < share < 0.01:
        return f"{share:.1%}" if share >= 0.001 else "< 0.1%"
    if 0.99 < share < 1:
        return f"{share:.1%}" if share <= 0.999 else "> 99.9%"
    return f"{share:.0%}"


def _hdi_pair(samples: xr.DataArray) -> list[float]:
    from spinefit.stats import stats_of

    s = stats_of(samples, diagnostics=False)
    return [s["hdi_low"], s["hdi_high"]]


def latent_body(model: DriftDiffusion, tree: xr.DataTree, grid: np.ndarray) -> str:
    """Threshold, noise, loss and the size-dependent elimination probability (latent fits)."""
    from spinefit.models.latent_likelihood import prepare_for_config
    from spinefit.models.latent_process import draw_dicts, draw_names, elimination_probabilities

    data = tree[DATA_GROUP].to_dataset()
    posterior = tree["posterior"].to_dataset()
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    ld = prepare_for_config(data, model.config)
    names = draw_names(model.family.parameter_names)
    picked, _ = draw_dicts(posterior, names, 200, int(tree.attrs.get("random_seed", 0)))
    dt = ld.median_interval
    curves = elimination_probabilities(
        picked, ld, model.config, model.family_in_size_units, grid, dt
    )
    low, high = np.quantile(curves, [0.03, 0.97], axis=0)
    fig, (ax,) = new_figure(1, height=3.0)
    ax.fill_between(grid, low, high, alpha=BAND_ALPHA, color="C3", label="94% band")
    ax.plot(grid, curves.mean(axis=0), color="C3", label="posterior mean")
    threshold = float(posterior["detection_threshold"].mean())
    ax.axvline(threshold, color="0.5", ls=":", label=f"θ = {threshold:.3g} {units}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"true spine size w ({units}, log axis)")
    ax.set_ylabel(f"P(eliminated within {dt:g} days)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    rows = []
    labels = {
        "detection_threshold": f"detection threshold θ ({units})",
        "measurement_cv": (
            "measurement noise τ (SD of ln y/w)"
            if model.config["noise"] == "multiplicative"
            else f"measurement noise SD (units of the median size, {ld.scale:.3g} {units})"
        ),
        "birth_median": f"median size of new spines at birth ({units})",
        "birth_log_sd": "log SD of birth sizes",
        "formation_per_day": "births above θ per present spine per day",
        "loss_per_day": "size-independent loss per day",
        "elimination_per_day": "elimination per present spine per day (steady-state flux)",
        "threshold_elimination_share": "share of elimination explained by the dynamics",
    }
    at_zero = []
    for name, label in labels.items():
        low, high = _hdi_pair(posterior[name])
        rows.append([label, float(posterior[name].mean()), low, high])
        if low == posterior[name].attrs.get(dims.ATTR_SUPPORT_LOW) == 0:
            at_zero.append(label.split(" (")[0])
    share = posterior["threshold_elimination_share"]
    share_low, share_high = _hdi_pair(share)
    closed = ""
    if len(at_zero) == 1:
        closed = (
            f" The posterior of {at_zero[0]} does not fall off towards 0, so its 94% HDI "
            "starts at 0: the data are consistent with 0."
        )
    elif at_zero:
        names = ", ".join(at_zero[:-1]) + f" and {at_zero[-1]}"
        closed = (
            f" The posteriors of {names} do not fall off towards 0, so their 94% HDIs "
            "start at 0: the data are consistent with 0."
        )
    trade_off = ""
    r = draw_correlation(posterior["measurement_cv"], posterior["d"]) if "d" in posterior else None
    if r is not None:  # None: τ fixed
        trade_off = f" In this fit the posterior correlation of τ and d is {r:+.2f}."
    text = paragraph(
        "The size dynamics, with killing at θ, explain "
        f"{float(share.mean()):.0%} (94% HDI {share_low:.0%}–{share_high:.0%}) of the "
        "steady-state elimination; the rest is the size-independent loss hazard. "
        "Measurement noise and θ are estimated unless fixed with -o measurement_cv=… / "
        "-o detection_threshold=…." + closed + trade_off + " " + NOISE_TRADE_OFF
    )
    return (
        text
        + table_html(["quantity", "posterior mean", HDI_LOW, HDI_HIGH], rows)
        + figure_html(
            fig,
            f"Probability that a spine of true size w is gone {dt:g} days later (crossing θ "
            "at any time, or lost), from the fitted killed process, with its 94% band.",
        )
    )
