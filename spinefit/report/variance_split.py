"""Report sections of the variance-split model (shared-connection and silenced designs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.models.variance_split import PRIOR_GROUP, fraction_names, upgrade_posterior
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.results.names import DATA_GROUP
from spinefit.stats import HDI_HIGH, HDI_LOW, HDI_PROB

if TYPE_CHECKING:
    from spinefit.models.variance_split import VarianceSplit

BAND_ALPHA = 0.25
N_BINS = 40


def _draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    return posterior[name].values.reshape(-1)


def stats_rows(
    stats: dict[str, dict[str, float]],
    names: list[str],
    prior: dict[str, dict[str, float]] | None = None,
) -> list[list[object]]:
    """Return table rows (name, mean, sd, HDI, and the implied prior when given)."""
    rows = []
    for n in names:
        if n not in stats:
            continue
        row: list[object] = [
            n,
            stats[n]["mean"],
            stats[n]["sd"],
            stats[n]["hdi_low"],
            stats[n]["hdi_high"],
        ]
        if prior is not None:
            p = prior.get(n)
            row.append(f"{p['mean']:.3g} [{p['hdi_low']:.3g}, {p['hdi_high']:.3g}]" if p else "")
        rows.append(row)
    return rows


HEADER = ["quantity", "mean", "sd", HDI_LOW, HDI_HIGH]
PRIOR_HEADER = [*HEADER, f"implied prior: mean [{HDI_PROB:.0%} HDI]"]


def stats_header(prior: dict | None) -> list[str]:
    """Return the header of :func:`stats_rows` (with the implied-prior column when given)."""
    return PRIOR_HEADER if prior is not None else HEADER


def posterior_histograms(
    posterior: xr.Dataset, names: list[str], xlabel: str, prior: xr.Dataset | None = None
) -> str:
    """Histogram posterior draws; with ``prior``, the implied prior of each as a step line."""
    fig, axes = new_figure(1)
    ax = axes[0]
    for name in names:
        if name not in posterior:
            continue
        _, edges, patches = ax.hist(
            _draws(posterior, name), bins=N_BINS, density=True, alpha=0.5, label=name
        )
        if prior is not None and name in prior:
            ax.hist(
                _draws(prior, name),
                bins=N_BINS,
                range=(min(edges[0], float(prior[name].min())), float(prior[name].max())),
                density=True,
                histtype="step",
                color=patches[0].get_facecolor(),
                alpha=1.0,
                label=f"{name} (implied prior)",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    caption = "Posterior draws (both chains)"
    if prior is not None:
        caption += "; step lines: the implied prior of the same quantity (prior draws)"
    return figure_html(fig, caption + ".")


def confound_paragraph(group_by: str, shared_name: str) -> str:
    """Return the paragraph that says what the shared fraction includes and its biases."""
    return paragraph(
        f"What {shared_name} includes: everything two synapses of one {group_by} have in "
        "common beyond their cells' baselines. Shared activity history is one part; shared "
        "factors unrelated to activity (the same dendritic branch and its resources, "
        "distance from the soma, a common segmentation or imaging context) are in it too and "
        "bias it upwards as a measure of activity dependence, as do cell baselines the model "
        "cannot separate (cells that make no other connection, or baselines switched off). "
        "Measurement and segmentation error of single synapses falls into the unshared part "
        "and biases the fraction downwards. The biases do not cancel in any known "
        "proportion, so the fraction is neither an upper nor a lower bound on an "
        "activity-dependent share."
    )


def _pair_scatter(data: xr.Dataset, group_by: str) -> str:
    """Plot first vs second synapse of every group with two or more synapses (log axes)."""
    name = data.attrs.get("size_variable") or next(iter(data.data_vars))
    sizes = data[name].values
    units = data[name].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    long_name = data[name].attrs.get("long_name", name)
    first, second = [], []
    for members in pd.Series(np.arange(len(sizes))).groupby(data[group_by].values).indices.values():
        if len(members) >= 2:
            first.append(sizes[members[0]])
            second.append(sizes[members[1]])
    fig, axes = new_figure(1, height=4.0)
    ax = axes[0]
    ax.scatter(first, second, s=8, alpha=0.6)
    if first:
        low = min(min(first), min(second))
        high = max(max(first), max(second))
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{long_name}, first synapse ({units})")
    ax.set_ylabel(f"{long_name}, second synapse ({units})")
    ax.set_aspect("equal", adjustable="datalim")
    return figure_html(
        fig, f"First vs second synapse of each {group_by} with ≥2 synapses ({len(first)} pairs)."
    )


def _change_pair_scatter(data: xr.Dataset, group_by: str) -> str:
    """Plot changes of two spines of the same group over the same interval."""
    from spinefit.models.variance_split import log_changes

    table = log_changes(data, group_by)
    first, second = [], []
    for _, cell in table.groupby(["group", "interval"]):
        values = cell["change"].to_numpy()
        for k in range(0, len(values) - 1, 2):  # disjoint pairs, each spine used once
            first.append(values[k])
            second.append(values[k + 1])
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    fig, axes = new_figure(1, height=4.0)
    ax = axes[0]
    ax.scatter(first, second, s=6, alpha=0.5)
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel(f"Δ ln(volume / {units}), spine 1")
    ax.set_ylabel(f"Δ ln(volume / {units}), spine 2")
    return figure_html(
        fig,
        f"Changes of two spines on the same {group_by} over the same interval "
        f"({len(first)} disjoint pairs).",
    )


def _baseline_section(
    posterior: xr.Dataset,
    stats: dict,
    empirical: dict | None,
    prior_stats: dict | None = None,
    prior: xr.Dataset | None = None,
) -> ReportSection:
    names = ["corr_same_axon", "corr_same_dendrite", "corr_commonly_innervated", "ci_excess"]
    body = paragraph(
        "Correlation of log sizes of two synapses that share only the axon, only the "
        "postsynaptic cell, or both (commonly innervated, CI). The CI excess over the "
        "baselines is the connection-specific share of the total variance, the quantity "
        "Dvorkin & Ziv (2016) attribute to shared activity history (with the confounds "
        "listed above)."
    )
    body += table_html(
        stats_header(prior_stats),
        stats_rows(stats, names, prior_stats),
        "Model-based pair correlations",
    )
    if empirical:
        rows = [[k, v["r"], v["pairs"]] for k, v in empirical.items()]
        body += table_html(
            ["pair kind", "Pearson r of ln size", "pairs"],
            rows,
            "Raw pair correlations (no model; a check on the fit)",
        )
    body += posterior_histograms(posterior, names, "correlation of ln size (1)", prior)
    return ReportSection("Baseline comparison: same axon, same dendrite, commonly innervated", body)


def _silenced_sections(model: VarianceSplit, tree: xr.DataTree) -> list[ReportSection]:
    summary = model.summarize(tree)
    stats = summary["parameters"]
    curve = summary["curves"]["intrinsic_fraction"]
    data = tree[DATA_GROUP].to_dataset()
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    fig, axes = new_figure(1)
    ax = axes[0]
    ax.fill_between(curve["w"], curve["hdi_low"], curve["hdi_high"], alpha=BAND_ALPHA)
    ax.plot(curve["w"], curve["mean"], label="posterior mean")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"spine volume w ({units})")
    ax.set_ylabel("σ²_silenced(w) / σ²_control(w) (1)")
    ax.legend(fontsize="small")
    body = paragraph(
        "Ratio of the noise variance with activity blocked to the control noise variance: "
        "the fraction of size fluctuations that persists without activity (intrinsic)."
    )
    body += figure_html(fig, f"Intrinsic fraction with its {HDI_PROB:.0%} HDI band.")
    body += table_html(HEADER, stats_rows(stats, list(stats)), "Parameters per treatment")
    posterior = tree["posterior"].to_dataset()
    body += posterior_histograms(posterior, ["intrinsic_fraction_mean"], "fraction (1)")
    return [ReportSection("Intrinsic fraction: silenced vs control", body)]


def variance_split_sections(model: VarianceSplit, tree: xr.DataTree) -> list[ReportSection]:
    """Return the report sections of a fitted variance-split result."""
    if model.config["design"] == "silenced":
        return _silenced_sections(model, tree)
    summary = model.summarize(tree)
    stats = summary["parameters"]
    info = summary["data"]
    group_by = info["group_by"]
    posterior = upgrade_posterior(tree["posterior"].to_dataset(), group_by)
    data = tree[DATA_GROUP].to_dataset()
    variances = sorted(n for n in stats if n.startswith("var_"))
    shared, unshared = fraction_names(group_by)
    prior_stats = summary.get("prior")
    prior = tree[PRIOR_GROUP].to_dataset() if PRIOR_GROUP in tree.children else None

    fractions = paragraph(
        f"Share of the variance of {info['response']} that synapses of one {group_by} share "
        f"({shared}) and the rest ({unshared}). Earlier versions called these "
        "activity_dependent_fraction and activity_independent_fraction; the old names are "
        "deprecated aliases for one release."
    )
    fractions += confound_paragraph(group_by, shared)
    fractions += table_html(stats_header(prior_stats), stats_rows(stats, [shared], prior_stats))
    fractions += posterior_histograms(posterior, [shared], "fraction (1)", prior)
    units = posterior[variances[0]].attrs.get("units", "") if variances else ""
    components = table_html(
        stats_header(prior_stats),
        stats_rows(stats, variances, prior_stats),
        f"Variance components ({units})",
    )
    components += posterior_histograms(posterior, variances, f"variance {units}")
    sections = [
        ReportSection(f"Shared and unshared fractions (by {group_by})", fractions),
        ReportSection("Variance components", components),
    ]
    if data.attrs.get(dims.ATTR_DATA_KIND) == dims.KIND_SNAPSHOT:
        pairs = _pair_scatter(data, group_by)
    else:
        pairs = _change_pair_scatter(data, group_by)
    sections.append(ReportSection("Pairs within a group", pairs))
    if "ci_excess" in stats:
        sections.append(
            _baseline_section(
                posterior, stats, summary.get("empirical_pair_correlations"), prior_stats, prior
            )
        )
    return sections
