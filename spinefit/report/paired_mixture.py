"""Report sections of the paired mixture (joint binary states of synapses in one connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.models.mixture_likelihood import (
    P_LARGE,
    FittedSizes,
    component_labels,
    fitted_sizes,
)
from spinefit.report.mixture import (
    comparison_html,
    histogram_figures,
    parameter_table,
    size_axis_label,
)
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html

if TYPE_CHECKING:
    from spinefit.models.paired_mixture import ConnectionLayout, PairedMixture


def paired_mixture_sections(model: PairedMixture, tree: xr.DataTree) -> list[ReportSection]:
    """Return component figures, the joint state table, phi and state probabilities."""
    sizes = fitted_sizes(tree)
    data, derived, size_variable, y = sizes
    layout = model.layout(data)
    posterior = tree["posterior"].to_dataset()
    draws = model.posterior_draws(posterior)
    summary = model.summarize(tree)

    # Overall large-state weight of the modelled synapses, for the histogram.
    n_pair_synapses = len(layout.used) - len(layout.singles)
    p_large_pairs = draws["p_LL"] + draws["p_SL"] / 2
    overall = p_large_pairs * n_pair_synapses
    if len(layout.singles):
        overall = overall + draws["weight_large_single"] * len(layout.singles)
    overall = overall / len(layout.used)
    weight = np.stack([1 - overall, overall], axis=-1)
    body = paragraph(
        f"{len(layout.used)} synapses in {layout.n_units} connections "
        f"({summary['pairs']['n_pairs']} pairs, pair mode '{summary['pairs']['pair_mode']}')."
    )
    body += "".join(
        histogram_figures(
            y[layout.used],
            draws["mu"],
            draws["sigma"],
            weight,
            component_labels(2),
            data,
            size_variable,
        )
    )
    body += parameter_table(summary["parameters"], summary["parameter_units"])
    sections = [ReportSection("Fitted mixture components", body)]
    sections.append(
        ReportSection(
            "Joint states of synapses in one connection",
            _joint_state_html(summary, posterior, sizes, layout),
        )
    )
    sections.append(
        ReportSection(
            "Posterior state probabilities",
            _state_figure(y, derived[P_LARGE].values, layout, data, size_variable),
        )
    )
    if summary["state_comparison"]:
        sections.append(
            ReportSection(
                "Correlated vs independent states", comparison_html(summary["state_comparison"])
            )
        )
    return sections


def _joint_state_html(
    summary: dict[str, Any], posterior: xr.Dataset, sizes: FittedSizes, layout: ConnectionLayout
) -> str:
    """Return the joint state table and, with phi, its posterior and the pair scatter."""
    params = summary["parameters"]

    def cell(name: str, factor: float = 1.0) -> str:
        stats = params[name]
        return (
            f"{stats['mean'] * factor:.3f} [{stats['hdi_low'] * factor:.3f}, "
            f"{stats['hdi_high'] * factor:.3f}]"
        )

    rows = [
        ["synapse A small", cell("p_SS"), cell("p_SL", 0.5)],
        ["synapse A large", cell("p_SL", 0.5), cell("p_LL")],
    ]
    html = table_html(
        ["", "synapse B small", "synapse B large"],
        rows,
        caption="Joint state probabilities of two synapses of one connection "
        "(posterior mean [94% HDI]); p_SL counts both mixed orders, each cell shows p_SL/2.",
    )
    if "state_dependence" not in summary:
        return html
    dependence = summary["state_dependence"]
    phi = dependence["phi"]
    html += paragraph(
        f"phi = {phi['mean']:.3f} (94% HDI {phi['hdi_low']:.3f} to {phi['hdi_high']:.3f}); "
        f"P(phi > 0) = {dependence['P(phi>0)']:.3f}."
    )
    data, size_variable, y = sizes.data, sizes.size_variable, sizes.log10_size
    fig, (left, right) = new_figure(ncols=2)
    left.hist(posterior["phi"].values.ravel(), bins=40, color="0.5")
    left.axvline(0.0, color="black", lw=1)
    left.set_xlabel("phi (state correlation, unitless)")
    left.set_ylabel("posterior draws")
    right.scatter(y[layout.pair_i], y[layout.pair_j], s=6, alpha=0.6)
    for value in posterior["mu"].mean(dims.SAMPLE_DIMS).values:
        right.axvline(value, color="0.6", lw=0.8, ls="--")
        right.axhline(value, color="0.6", lw=0.8, ls="--")
    right.set_xlabel(f"synapse A: {size_axis_label(data, size_variable)}")
    right.set_ylabel(f"synapse B: {size_axis_label(data, size_variable)}")
    fig.tight_layout()
    html += figure_html(
        fig,
        "Left: posterior of phi. Right: log10 sizes of the two synapses of every pair "
        "(dashed: component means).",
    )
    return html


def _state_figure(
    y: np.ndarray,
    p_large: np.ndarray,
    layout: ConnectionLayout,
    data: xr.Dataset,
    size_variable: str,
) -> str:
    """Return P(large) against size and its histogram, singles and paired synapses apart."""
    fig, (left, right) = new_figure(ncols=2)
    in_pairs = np.zeros(len(y), dtype=bool)
    in_pairs[layout.pair_i] = in_pairs[layout.pair_j] = True
    groups = [("single synapses", layout.singles), ("synapses in pairs", np.flatnonzero(in_pairs))]
    for label, index in groups:
        if len(index):
            left.scatter(y[index], p_large[index], s=5, alpha=0.5, label=label)
            right.hist(p_large[index], bins=np.linspace(0, 1, 21), alpha=0.6, label=label)
    left.set_xlabel(size_axis_label(data, size_variable))
    left.set_ylabel("posterior P(large)")
    left.legend(frameon=False, fontsize="small")
    right.set_xlabel("posterior P(large) of a synapse")
    right.set_ylabel("synapses")
    fig.tight_layout()
    return figure_html(
        fig,
        "Posterior probability that each synapse is in the large state; for synapses in "
        "pairs it uses the partner's size too (averaged over the synapse's pairs).",
    )
