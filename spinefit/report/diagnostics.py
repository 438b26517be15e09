"""Report section on sampler diagnostics: R-hat, ESS, divergences, trace and rank plots."""

from __future__ import annotations

import html

import numpy as np
import xarray as xr

from spinefit.dims import SAMPLE_DIMS
from spinefit.report.sections import ReportSection, figure_html, table_html
from spinefit.stats import convergence_problems, parameter_stats, sampler_diagnostics

MAX_TRACE_PARAMS = 6


MAX_ITEMS_PER_VARIABLE = 12


def _scalar_vars(posterior: xr.Dataset) -> list[str]:
    return [v for v in posterior.data_vars if set(posterior[v].dims) == set(SAMPLE_DIMS)]


def _small_vars(posterior: xr.Dataset) -> list[str]:
    """Variables with few enough entries to list one by one (e.g. per component)."""
    return [
        v
        for v in posterior.data_vars
        if posterior[v].size // (posterior.sizes["chain"] * posterior.sizes["draw"])
        <= MAX_ITEMS_PER_VARIABLE
    ]


def trace_rank_figure(posterior: xr.Dataset, names: list[str]) -> str:
    """Trace (left) and rank histograms (right) of scalar parameters, one row each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 2, figsize=(7.0, 1.5 * len(names) + 0.6), squeeze=False)
    for row, name in enumerate(names):
        values = posterior[name].transpose(*SAMPLE_DIMS).values
        n_chain, n_draw = values.shape
        ranks = values.ravel().argsort().argsort().reshape(values.shape)
        bins = np.linspace(0, n_chain * n_draw, 21)
        for chain in range(n_chain):
            axes[row, 0].plot(values[chain], lw=0.5, alpha=0.8, label=f"chain {chain}")
            axes[row, 1].hist(ranks[chain], bins=bins, histtype="step", label=f"chain {chain}")
        axes[row, 0].set_ylabel(name)
        axes[row, 1].set_yticks([])
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("rank of draw (all chains)")
    axes[0, 1].legend(fontsize=7, loc="upper right")
    axes[0, 0].set_title("trace", fontsize=10)
    axes[0, 1].set_title("rank histogram (flat = well mixed)", fontsize=10)
    fig.tight_layout()
    return figure_html(fig, "Trace and rank plots of scalar parameters.")


def diagnostics_section(tree: xr.DataTree, prefix: str = "") -> ReportSection:
    """Return the diagnostics section with plain-language warnings when checks fail."""
    posterior = tree["posterior"].to_dataset()
    diag = sampler_diagnostics(tree)
    problems = convergence_problems(diag)
    parts = []
    if problems:
        parts += [f'<p class="warning">{html.escape(p)}</p>' for p in problems]
    else:
        parts.append(
            '<p class="ok">All checks passed: no divergences, R-hat ≤ 1.01, '
            "bulk ESS ≥ 400 for every parameter.</p>"
        )
    parts.append(
        table_html(
            ["check", "value", "threshold"],
            [
                ["divergent transitions", diag["divergences"], "0"],
                ["max R-hat", diag["max_r_hat"], "≤ 1.01"],
                ["min bulk ESS", diag["min_ess_bulk"], "≥ 400"],
            ],
            caption="Sampler diagnostics over all parameters",
        )
    )
    scalars = _scalar_vars(posterior)
    stats = parameter_stats(posterior, _small_vars(posterior))
    parts.append(
        table_html(
            ["parameter", "mean", "sd", "R-hat", "bulk ESS"],
            [[k, s["mean"], s["sd"], s["r_hat"], s["ess_bulk"]] for k, s in stats.items()],
            caption="Per-parameter diagnostics",
        )
    )
    if scalars:
        parts.append(trace_rank_figure(posterior, scalars[:MAX_TRACE_PARAMS]))
    return ReportSection("Diagnostics", "".join(parts), anchor=f"{prefix}diagnostics")
