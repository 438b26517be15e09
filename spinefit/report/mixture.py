"""Report sections of the mixture model, and figure/table helpers shared with the paired one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.models.mixture_likelihood import P_LARGE, component_logpdf, fitted_sizes, flat_draws
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.stats import HDI_HIGH, HDI_LOW, curve_stats

if TYPE_CHECKING:
    from spinefit.models.mixture import Mixture


def size_axis_label(data: xr.Dataset, size_variable: str, log10: bool = True) -> str:
    """Return an axis label with units, e.g. ``log10 spine-head volume (log10 µm³)``."""
    attrs = data[size_variable].attrs
    name = attrs.get("long_name", size_variable)
    units = pretty_units(attrs.get("units", dims.DEFAULT_VOLUME_UNITS))
    return f"log10 {name} (log10 {units})" if log10 else f"{name} ({units})"


def pretty_units(units: str) -> str:
    """Return units for display: ``um^3`` → ``µm³``."""
    return units.replace("um", "µm").replace("^3", "³").replace("^2", "²")


def mixture_sections(model: Mixture, tree: xr.DataTree) -> list[ReportSection]:
    """Return the fitted-component figures, state probabilities and component comparison."""
    data, derived, size_variable, y = fitted_sizes(tree)
    posterior = tree["posterior"].to_dataset()
    mu, sigma, weight = (flat_draws(posterior, v) for v in ("mu", "sigma", "weight"))
    if weight.ndim == 3:  # overall weights: groups weighted by their share of synapses
        group_index, group_labels = model.groups(data)
        share = np.bincount(group_index, minlength=len(group_labels)) / len(group_index)
        weight = np.einsum("sgk,g->sk", weight, share)
    labels = list(posterior[dims.COMPONENT].values)
    summary = model.summarize(tree)
    likelihood = summary["likelihood"]
    method = (
        f"Binned likelihood ({likelihood['n_bins']} bins of width "
        f"{likelihood['bin_width']:.2g} log10 units; shift bound "
        f"{likelihood['binning_shift_bound']:.2g} posterior SD)."
        if likelihood.get("likelihood") == "binned"
        else "Exact likelihood."
    )
    fit_body = paragraph(
        f"{len(y)} synapses, {size_variable}. {method} Bands: 94% HDI of each weighted "
        "component density and of the mixture (black)."
    )
    fit_body += "".join(histogram_figures(y, mu, sigma, weight, labels, data, size_variable))
    fit_body += parameter_table(summary["parameters"], summary["parameter_units"])
    sections = [ReportSection("Fitted mixture components", fit_body)]
    if P_LARGE in derived:
        sections.append(
            ReportSection(
                "Posterior state probabilities",
                paragraph(
                    f"Expected number of large synapses: "
                    f"{summary['p_large']['expected_large_synapses']:.1f} of {len(y)}; "
                    f"{summary['p_large']['synapses_above_0.5']} synapses have P(large) > 0.5."
                )
                + state_probability_figure(
                    summary["curves"], derived[P_LARGE].values, data, size_variable
                ),
            )
        )
    if summary["component_comparison"]:
        sections.append(
            ReportSection("Number of components", comparison_html(summary["component_comparison"]))
        )
    return sections


def _thinned(*arrays: np.ndarray, max_draws: int = 500) -> list[np.ndarray]:
    n = arrays[0].shape[0]
    index = np.unique(np.linspace(0, n - 1, min(n, max_draws)).astype(int))
    return [a[index] for a in arrays]


def _band(values: np.ndarray, grid: np.ndarray) -> dict[str, list[float]]:
    """Return mean and 94% HDI of ``(draws, grid)`` values (via :func:`curve_stats`)."""
    da = xr.DataArray(
        values[None], dims=(*dims.SAMPLE_DIMS, dims.SIZE_GRID), coords={dims.SIZE_GRID: grid}
    )
    return curve_stats(da, dims.SIZE_GRID)


def histogram_figures(
    y: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weight: np.ndarray,
    labels: list[str],
    data: xr.Dataset,
    size_variable: str,
) -> list[str]:
    """Return two figures: log10 and linear histograms with weighted component densities.

    Parameters
    ----------
    y : numpy.ndarray
        Log10 sizes.
    mu, sigma, weight : numpy.ndarray
        ``(draws, K)`` posterior draws (overall weights).
    labels : list of str
        Component labels.
    data : xarray.Dataset
        For the axis labels (long name and units of ``size_variable``).
    size_variable : str
        The modelled size variable.
    """
    mu, sigma, weight = _thinned(mu, sigma, weight)
    span = y.max() - y.min()
    grid = np.linspace(y.min() - 0.05 * span, y.max() + 0.05 * span, 300)
    weighted = np.exp(component_logpdf(grid, mu, sigma) + np.log(weight)[:, None, :])
    curves = [(label, weighted[..., k]) for k, label in enumerate(labels)]
    curves.append(("mixture", weighted.sum(axis=-1)))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    n_bins = int(np.clip(np.sqrt(len(y)), 20, 80))

    figures = []
    for log_axis in (True, False):
        fig, (ax,) = new_figure()
        if log_axis:
            x, scale_factor = grid, 1.0
            ax.hist(y, bins=n_bins, density=True, color="0.8", label=f"synapses (n={len(y)})")
        else:
            x = 10.0**grid
            scale_factor = 1.0 / (x * np.log(10.0))  # density per linear unit
            upper = np.quantile(10.0**y, 0.995)
            ax.hist(10.0**y, bins=np.linspace(0, upper, n_bins), density=True, color="0.8")
            ax.set_xlim(0, upper)
        for i, (label, values) in enumerate(curves):
            band = _band(values * scale_factor, x)
            total = i == len(curves) - 1  # the sum of the components
            color = "black" if total else colors[i % len(colors)]
            ax.plot(x, band["mean"], color=color, label=label)
            ax.fill_between(x, band["hdi_low"], band["hdi_high"], color=color, alpha=0.25, lw=0)
        ax.set_xlabel(size_axis_label(data, size_variable, log10=log_axis))
        units = pretty_units(data[size_variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS))
        ax.set_ylabel(f"density (per log10 {units})" if log_axis else f"density (per {units})")
        ax.legend(frameon=False, fontsize="small")
        caption = (
            "Log10 size with fitted components (lines: posterior mean; bands: 94% HDI)."
            if log_axis
            else "The same fit on a linear size axis (up to the 99.5th percentile)."
        )
        figures.append(figure_html(fig, caption))
    return figures


def state_probability_figure(
    curves: dict[str, dict[str, list[float]]],
    p_large: np.ndarray,
    data: xr.Dataset,
    size_variable: str,
    caption: str = "",
) -> str:
    """Return a figure of P(large | size) curves and the histogram of per-synapse P(large)."""
    fig, (left, right) = new_figure(ncols=2)
    for name, curve in curves.items():
        x = np.log10(curve[dims.SIZE_GRID])
        label = name.replace(f"{P_LARGE}_", "") if name != P_LARGE else "all synapses"
        left.plot(x, curve["mean"], label=label)
        left.fill_between(x, curve["hdi_low"], curve["hdi_high"], alpha=0.25, lw=0)
    left.set_xlabel(size_axis_label(data, size_variable))
    left.set_ylabel("P(large | size)")
    left.set_ylim(-0.02, 1.02)
    left.legend(frameon=False, fontsize="small")
    right.hist(p_large, bins=np.linspace(0, 1, 21), color="0.5")
    right.set_xlabel("posterior P(large) of a synapse")
    right.set_ylabel("synapses")
    fig.tight_layout()
    return figure_html(
        fig,
        caption
        or "Left: probability that a synapse of a given size is in the large state "
        "(mean and 94% HDI). Right: posterior P(large) of every synapse.",
    )


def parameter_table(parameters: dict[str, dict[str, float]], units: str | None) -> str:
    """Return the HTML table of posterior parameter summaries."""
    rows = [
        [
            name,
            stats["mean"],
            stats["sd"],
            stats["hdi_low"],
            stats["hdi_high"],
            stats.get("r_hat", float("nan")),
            stats.get("ess_bulk", float("nan")),
        ]
        for name, stats in parameters.items()
    ]
    return table_html(
        ["parameter", "mean", "sd", HDI_LOW, HDI_HIGH, "R-hat", "bulk ESS"],
        rows,
        caption=f"Means and SDs in {pretty_units(units)}; weights and probabilities unitless."
        if units
        else "",
    )


def comparison_html(comparison: dict[str, Any]) -> str:
    """Return a paragraph and table for a LOO comparison.

    ``comparison`` is a result of :func:`~spinefit.models.mixture_loo.loo_comparison`.
    """
    fitted, alternative = comparison["fitted"], comparison["alternative"]
    rows = [
        [
            label,
            comparison["elpd"][label],
            comparison["se"][label],
            comparison["max_pareto_k"][label],
        ]
        for label in comparison["elpd"]
    ]
    text = (
        f"elpd({fitted}) - elpd({alternative}) = {comparison['elpd_diff']:.1f} "
        f"(SE {comparison['se_diff']:.1f})"
    )
    for label, diff in comparison.get("more_components_vs", {}).items():
        if label != alternative:
            text += f"; against {label}: {diff['elpd_diff']:.1f} (SE {diff['se_diff']:.1f})"
    text += f". Preferred: {comparison['preferred']}"
    if "rule" in comparison:
        text += f" ({comparison['rule']})"
    text += f". {comparison['method']}."
    return paragraph(text) + table_html(["model", "elpd (LOO)", "SE", "max Pareto k"], rows)
