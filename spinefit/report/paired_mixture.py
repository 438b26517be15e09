"""Report sections of the paired mixture (exchangeable binary states within a connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.models.mixture_likelihood import (
    MULTIPLICITY_GROUP,
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
    """Return component figures, the state association and state probabilities."""
    from spinefit.models.mixture_likelihood import flat_draws
    from spinefit.models.paired_mixture import group_label

    sizes = fitted_sizes(tree)
    data, derived, size_variable, y = sizes
    layout = model.layout(data)
    posterior = tree["posterior"].to_dataset()
    draws = model.posterior_draws(posterior)
    summary = model.summarize(tree)

    # Overall large-state weight of the modelled synapses, for the histogram.
    groups = list(draws["groups"])
    p_large_groups = flat_draws(posterior, "p_large_by_group")
    overall = np.zeros(p_large_groups.shape[0])
    for m, rows in layout.members.items():
        if m == 1:
            overall = overall + draws["weight_large_single"] * rows.size
        else:
            g = groups.index(group_label(m, model.config["split_multiplicity_at"]))
            overall = overall + p_large_groups[:, g] * rows.size
    overall = overall / len(layout.used)
    weight = np.stack([1 - overall, overall], axis=-1)
    counts = summary["connections"]["connections_by_multiplicity"]
    body = paragraph(
        f"{len(layout.used)} synapses in {layout.n_units} connections (by multiplicity: "
        + ", ".join(f"{n} × {m}" for m, n in counts.items())
        + f"); likelihood: {summary['connections']['likelihood']}."
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
            "State association within connections",
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
                "Associated vs independent states", comparison_html(summary["state_comparison"])
            )
        )
    if summary.get("with_and_without_connection_effect"):
        sections.append(
            ReportSection(
                "State association with and without the shared analog effect",
                _effect_html(summary),
            )
        )
    return sections


def _effect_html(summary: dict[str, Any]) -> str:
    """Return beta and phi of the fits with and without the shared analog effect."""
    both = summary["with_and_without_connection_effect"]
    names = list(next(iter(both.values())))

    def cell(stats: dict[str, float] | None) -> str:
        if not stats:
            return ""
        return f"{stats['mean']:.3f} [{stats['hdi_low']:.3f}, {stats['hdi_high']:.3f}]"

    rows = [
        [name, cell(both.get("with_effect", {}).get(name)), cell(both["without_effect"].get(name))]
        for name in names
    ]
    html = paragraph(
        "A connection-wide analog offset (the quantity the variance split measures) makes "
        "the sizes of a connection's synapses alike without any shared binary state. The "
        "fit without it can only explain that likeness by shared states, so the share of "
        "the association that survives the offset is the with-effect column."
    )
    html += table_html(
        ["quantity", "with shared analog effect", "without"],
        rows,
        caption="Posterior mean [94% HDI]; beta is a log odds ratio, phi a correlation.",
    )
    return html + comparison_html(summary["effect_comparison"]["loo"])


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

    html = ""
    if "p_SS" in params:
        rows = [
            ["synapse A small", cell("p_SS"), cell("p_SL", 0.5)],
            ["synapse A large", cell("p_SL", 0.5), cell("p_LL")],
        ]
        html += table_html(
            ["", "synapse B small", "synapse B large"],
            rows,
            caption="Joint states of the two synapses of dual connections (posterior mean "
            "[94% HDI]; compare Dorkenwald et al. 2022 Table 3); p_SL counts both mixed "
            "orders, each cell shows p_SL/2.",
        )
    groups = [str(g) for g in posterior[MULTIPLICITY_GROUP].values]
    rows = [
        [g, *(cell(f"{q}_{g}") if f"{q}_{g}" in params else "" for q in ("p_large", "beta", "phi"))]
        for g in groups
    ]
    html += table_html(
        ["multiplicity group", "P(large)", "beta (log odds ratio)", "phi"],
        rows,
        caption="State parameters per multiplicity group; phi is computed within each "
        "multiplicity, so a P(large) that changes with multiplicity does not read as "
        "shared states.",
    )
    prior = summary.get("prior")
    if prior:
        names = [n for n in params if n.startswith(("phi", "beta", "p_S", "p_L")) and n in prior]
        rows = [
            [
                n,
                cell(n),
                f"{prior[n]['mean']:.3f} [{prior[n]['hdi_low']:.3f}, {prior[n]['hdi_high']:.3f}]",
            ]
            for n in names
        ]
        html += table_html(
            ["quantity", "posterior", "implied prior"],
            rows,
            caption="Posterior and implied prior (prior draws of the same quantity), mean "
            "[94% HDI]; β has a Normal(0, 2²) prior, the others follow from it.",
        )
    if "state_dependence" not in summary:
        return html
    dependence = summary["state_dependence"]
    phi = dependence["phi"]
    html += paragraph(
        f"phi (averaged over multi-synapse connections) = {phi['mean']:.3f} (94% HDI "
        f"{phi['hdi_low']:.3f} to {phi['hdi_high']:.3f}); P(phi > 0) = "
        f"{dependence['P(phi>0)']:.3f}."
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
    groups = [
        ("single synapses", layout.singles),
        ("synapses in multi-synapse connections", np.flatnonzero(in_pairs)),
    ]
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
        "connections it uses the sizes of the connection's other synapses too.",
    )
