"""Report sections of the drift–diffusion model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib.ticker import NullFormatter

from spinefit import dims
from spinefit.io.transitions import transitions
from spinefit.models.base import DATA_GROUP
from spinefit.models.sde_moments import linear_moments_numpy
from spinefit.ppc import stationary_check
from spinefit.report.ppc import ppc_sections
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.stats import HDI_PROB, curve_stats

if TYPE_CHECKING:
    from spinefit.models.drift_diffusion import DriftDiffusion

N_BINS = 8
BAND_ALPHA = 0.25


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
    if model.config["family"] == "linear":
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
    ax_mu.legend(fontsize=7)
    ax_sigma.legend(fontsize=7)
    fig.tight_layout()
    curve_body = figure_html(
        fig,
        "Posterior drift and diffusion with 94% bands. Points: binned empirical estimates "
        "from transitions (quantile bins of the start size); over a finite interval these "
        "differ from the instantaneous curves, so the dashed line shows what the fitted "
        "model predicts for the same interval.",
    )
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
    ) + table_html(["rate (1/day)", "posterior mean", "hdi 3%", "hdi 97%"], posterior_turnover)
    sections = [
        ReportSection("Drift and diffusion", curve_body),
        ReportSection("Size distribution", size_body),
        ReportSection("Turnover", turnover_body),
    ]
    if model.latent:
        sections.append(
            ReportSection("Detection, noise and elimination", latent_body(model, tree, grid))
        )
    check = stationary_check(tree, draws=200, random_seed=int(tree.attrs.get("random_seed", 0)))
    return sections + ppc_sections(tree, check)


def _hdi_pair(samples: xr.DataArray) -> list[float]:
    from spinefit.stats import stats_of

    s = stats_of(samples, diagnostics=False)
    return [s["hdi_low"], s["hdi_high"]]


def latent_body(model: DriftDiffusion, tree: xr.DataTree, grid: np.ndarray) -> str:
    """Threshold, noise, loss and the size-dependent elimination probability (latent fits)."""
    from spinefit.models.latent_likelihood import known_errors, prepare_latent
    from spinefit.models.latent_process import (
        draw_dicts,
        draw_names,
        elimination_probability,
        numpy_dynamics,
    )

    data = tree[DATA_GROUP].to_dataset()
    posterior = tree["posterior"].to_dataset()
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    ld = prepare_latent(data, model.config["noise"], measurement_error=known_errors(model.config))
    picked, _ = draw_dicts(
        posterior, draw_names(posterior), 200, int(tree.attrs.get("random_seed", 0))
    )
    dt = ld.median_interval
    curves = np.stack(
        [
            elimination_probability(
                numpy_dynamics(draw, ld, model.config, model.family_in_size_units),
                ld.scale,
                grid,
                dt,
            )
            for draw in picked
        ]
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
    for name, label in labels.items():
        rows.append([label, float(posterior[name].mean()), *_hdi_pair(posterior[name])])
    share = posterior["threshold_elimination_share"]
    share_low, share_high = _hdi_pair(share)
    text = paragraph(
        "The size dynamics, with killing at θ, explain "
        f"{float(share.mean()):.0%} (94% HDI {share_low:.0%}–{share_high:.0%}) of the "
        "steady-state elimination; the rest is the size-independent loss hazard. "
        "Measurement noise and θ are estimated unless fixed with -o measurement_cv=… / "
        "-o detection_threshold=…."
    )
    return (
        text
        + table_html(["quantity", "posterior mean", "hdi 3%", "hdi 97%"], rows)
        + figure_html(
            fig,
            f"Probability that a spine of true size w is gone {dt:g} days later (crossing θ "
            "at any time, or lost), from the fitted killed process, with its 94% band.",
        )
    )
