"""Report section of the synaptic-precision model (CV, distinguishable sizes, bits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.models.precision import PRIOR_GROUP, REPORTED
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.report.variance_split import posterior_histograms, stats_header, stats_rows
from spinefit.results.names import DATA_GROUP

if TYPE_CHECKING:
    from spinefit.models.precision import SynapticPrecision


def _pair_scatter(data: xr.Dataset, index: np.ndarray) -> str:
    """Plot the two sizes of every pair of synapses of one connection (log axes)."""
    name = data.attrs.get("size_variable") or next(iter(data.data_vars))
    sizes = data[name].values[index]
    units = data[name].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    first, second = [], []
    groups = pd.Series(np.arange(len(index))).groupby(data[dims.CONNECTION].values[index])
    for members in groups.indices.values():
        i, j = np.triu_indices(len(members), 1)
        first.append(sizes[members[i]])
        second.append(sizes[members[j]])
    a, b = np.concatenate(first), np.concatenate(second)
    fig, axes = new_figure(1, height=4.0)
    ax = axes[0]
    ax.scatter(a, b, s=8, alpha=0.6)
    low, high = min(a.min(), b.min()), max(a.max(), b.max())
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{name}, synapse A ({units})")
    ax.set_ylabel(f"{name}, synapse B ({units})")
    return figure_html(fig, f"The two sizes of every pair within a connection ({len(a)} pairs).")


def precision_sections(model: SynapticPrecision, tree: xr.DataTree) -> list[ReportSection]:
    """Return the section with CV, distinguishable sizes and bits."""
    summary = model.summarize(tree)
    stats, prior_stats, info = summary["parameters"], summary.get("prior"), summary["data"]
    posterior = tree["posterior"].to_dataset()
    prior = tree[PRIOR_GROUP].to_dataset() if PRIOR_GROUP in tree.children else None
    data = tree[DATA_GROUP].to_dataset()
    cv, bits = stats["cv"], stats["bits"]
    empirical = summary["empirical_pair_cv"]
    body = paragraph(
        f"{info['synapses']} synapses in {info['connections']} connections "
        f"(multiplicity {info['multiplicity']}). Within-connection CV of synapse size "
        f"{cv['mean']:.3f} (94% HDI {cv['hdi_low']:.3f} to {cv['hdi_high']:.3f}); with a "
        f"{info['size_range']:.0f}-fold size range and z = {info['z']:g} that is "
        f"{stats['distinguishable_sizes']['mean']:.1f} distinguishable sizes, "
        f"{bits['mean']:.2f} bits (94% HDI {bits['hdi_low']:.2f} to {bits['hdi_high']:.2f}). "
        f"Empirical pair CV (Bartol et al. 2015's estimator): mean {empirical['mean']:.3f}, "
        f"median {empirical['median']:.3f} over {empirical['pairs']} pairs."
    )
    body += paragraph(
        "Segmentation and measurement error add to the within-connection spread, so the CV "
        "is an upper bound on biological imprecision and the bits a lower bound on "
        "capacity; pairs whose synapses differ in binary state also widen the CV."
    )
    body += table_html(stats_header(prior_stats), stats_rows(stats, REPORTED, prior_stats))
    body += posterior_histograms(posterior, ["cv"], "CV of size within a connection (1)", prior)
    body += posterior_histograms(posterior, ["bits"], "bits per synapse (bit)", prior)
    body += _pair_scatter(data, model.selection(data))
    return [ReportSection("Synaptic precision", body)]
