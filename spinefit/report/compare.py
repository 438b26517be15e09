"""Report sections contrasting conditions: curves per condition, forest plot, sentences, LOO."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.compare import (
    HUMAN_NAMES,
    compare_with_draws,
    examined_sentence,
    secondary_sentences,
    sentences,
)
from spinefit.comparison.rope import rope_text
from spinefit.report.sections import ReportSection, figure_html, new_figure, paragraph, table_html
from spinefit.stats import HDI_HIGH, HDI_LOW, HDI_PROB, curve_stats

BAND_ALPHA = 0.22


def _units(tree: xr.DataTree) -> str:
    if "data" in tree.children and dims.VOLUME in tree["data"]:
        return tree["data"][dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    return dims.DEFAULT_VOLUME_UNITS


def _short(label: str, width: int = 28) -> str:
    """Return a label shortened for a legend (the tables below show it in full)."""
    return label if len(label) <= width else label[: width - 1] + "…"


def _curves_section(
    result: dict[str, Any], draws: dict[str, xr.DataArray], units: str
) -> ReportSection:
    grid = np.asarray(result["curves"]["drift"][dims.SIZE_GRID])
    fig, (ax_mu, ax_sigma, ax_p) = new_figure(3, height=3.8)
    for ax, key, ylabel in (
        (ax_mu, "drift", f"drift μ(w) ({units}/day)"),
        (ax_sigma, "diffusion", f"diffusion σ(w) ({units}/√day)"),
        (ax_p, "stationary", f"stationary density p(w) (1/{units})"),
    ):
        for i, label in enumerate(result["conditions"]):
            stats = curve_stats(draws[key].sel({dims.CONDITION: label}), dims.SIZE_GRID)
            ax.fill_between(
                grid, stats["hdi_low"], stats["hdi_high"], alpha=BAND_ALPHA, color=f"C{i}"
            )
            ax.plot(grid, stats["mean"], color=f"C{i}", label=_short(label))
        ax.set_xlabel(f"spine size w ({units})")
        ax.set_ylabel(ylabel)
    ax_mu.axhline(0, color="0.6", lw=0.8)
    ax_p.set_xscale("log")  # sizes spread over decades; the density's tails show on log w
    handles, names = ax_mu.get_legend_handles_labels()
    # One legend under the panels: inside three narrow panels it hid the curves.
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return ReportSection(
        "Drift and diffusion by condition",
        figure_html(
            fig,
            f"Posterior mean curves per condition with {HDI_PROB:.0%} HDI bands. The "
            "stationary density "
            "is that of the fitted SDE on the plotted size range (reflecting ends, no "
            "turnover).",
        ),
    )


def _fraction_section(
    result: dict[str, Any], curve_draws: dict[str, xr.DataArray], units: str
) -> ReportSection:
    grid = np.asarray(result["curves"]["intrinsic_fraction"][dims.SIZE_GRID])
    draws = curve_draws["intrinsic_fraction"]
    fig, (ax,) = new_figure(1, height=3.4)
    for i, label in enumerate(result["conditions"]):
        stats = curve_stats(draws.sel({dims.CONDITION: label}), dims.SIZE_GRID)
        ax.fill_between(grid, stats["hdi_low"], stats["hdi_high"], alpha=BAND_ALPHA, color=f"C{i}")
        ax.plot(grid, stats["mean"], color=f"C{i}", label=_short(label))
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel(f"spine size w ({units})")
    ax.set_ylabel("σ²_silenced(w) / σ²_control(w) (1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return ReportSection(
        "Intrinsic fraction by condition",
        figure_html(
            fig,
            f"Share of the size-fluctuation variance that remains with activity silenced, "
            f"per condition (posterior mean, {HDI_PROB:.0%} HDI).",
        ),
    )


def _parameter_units(tree: xr.DataTree, name: str, units: str) -> str:
    """Return the units of a contrasted parameter (``mu[small]`` → units of ``mu``).

    Read from the posterior variable's ``units`` attr, which every model sets.
    """
    var = name.split("[")[0]
    posterior = tree["posterior"]
    text = posterior[var].attrs.get("units", "") if var in posterior.data_vars else ""
    return "" if text == "1" else text


def _forest_section(tree: xr.DataTree, result: dict[str, Any], units: str) -> ReportSection:
    hidden = ("tau_", "omega_", "sigma_total", "variance_share")
    rows = [
        (name, label, s)
        for name, by_label in result["contrasts"].items()
        if not name.startswith(hidden)
        for label, s in by_label.items()
    ]
    fig, axes = new_figure(1, height=0.55 * max(len(rows), 1) + 1.0)
    ax = axes[0]
    # Parameters have different units, so each row is scaled by its largest |bound| and
    # its label carries the numbers in the parameter's own units.
    y = np.arange(len(rows))[::-1]
    for yi, (_name, _label, s) in zip(y, rows, strict=True):
        width = max(abs(s["hdi_low"]), abs(s["hdi_high"]), abs(s["diff_mean"])) or 1.0
        excludes = s["hdi_low"] > 0 or s["hdi_high"] < 0
        colour = "C3" if excludes else "C0"
        ax.plot([s["hdi_low"] / width, s["hdi_high"] / width], [yi, yi], color=colour, lw=2)
        ax.plot(s["diff_mean"] / width, yi, "o", color=colour)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(
        y,
        [
            f"{HUMAN_NAMES.get(n, n)}: {lab} − {result['reference']}  "
            f"[{s['hdi_low']:.3g}, {s['hdi_high']:.3g}] "
            f"{_parameter_units(tree, n, units)}"
            for n, lab, s in rows
        ],
        fontsize=7,
    )
    ax.set_xlabel("difference / max(|HDI bound|) (each row on its own scale)")
    ax.set_xlim(-1.1, 1.1)
    fig.tight_layout()
    body = figure_html(
        fig,
        "Posterior mean and 94% HDI of each difference from the reference; each row is "
        "scaled by its largest |bound| so rows with different units fit one axis (the "
        "numbers in the labels are in the parameter's units). Red: HDI excludes 0.",
    )
    body += table_html(
        [
            "quantity",
            "role",
            "condition",
            "difference",
            HDI_LOW,
            HDI_HIGH,
            "P(diff > 0)",
            "ratio [94% HDI]",
            "ROPE applied",
            "P(in ROPE)",
            "finding",
        ],
        [
            [
                HUMAN_NAMES.get(n, n),
                s.get("role", "primary"),
                f"{lab} − {result['reference']}",
                s["diff_mean"],
                s["hdi_low"],
                s["hdi_high"],
                s["prob_positive"],
                _ratio_text(s),
                rope_text(s.get("rope")),
                "–" if s["prob_rope"] is None else s["prob_rope"],
                "yes" if s.get("finding") else "–",
            ]
            for n, lab, s in rows
        ],
        caption=(
            "Primary quantities are judged jointly (simultaneous 94% region); secondary ones "
            "are shown for reading, not corrected for multiplicity. Positive quantities are "
            "also contrasted as a ratio to the reference."
        ),
    )
    return ReportSection("Contrasts between conditions", body)


def _ratio_text(s: dict[str, Any]) -> str:
    if not s.get("positive"):
        return "–"
    return f"{s['ratio_median']:.3g} [{s['ratio_hdi_low']:.3g}, {s['ratio_hdi_high']:.3g}]"


def _loo_section(loo: dict[str, Any] | None) -> ReportSection:
    if not loo:
        return ReportSection(
            "Pooled vs by-condition model (LOO)",
            paragraph("LOO was not computed for this fit (model option loo=false)."),
        )
    if "elpd_diff" not in loo:
        reason = loo.get("skipped", "no comparison was stored")
        return ReportSection(
            "Pooled vs by-condition model (LOO)",
            paragraph(f"LOO was not computed for this fit: {reason}."),
        )
    better = "condition-specific" if loo["elpd_diff"] > 0 else "pooled (no-difference)"
    body = table_html(
        ["model", "elpd_loo", "se"],
        [
            ["pooled (no condition effects)", loo["pooled"], loo.get("se_pooled", float("nan"))],
            ["by condition", loo["by_condition"], loo.get("se_by_condition", float("nan"))],
        ],
        caption=(
            f"PSIS-LOO per {loo.get('loo_unit', 'transition')} (higher is better). Pooled: "
            + loo.get("pooled_model", "the model without condition effects")
        ),
    ) + paragraph(
        f"elpd difference (by condition − pooled) = {loo['elpd_diff']:.1f} ± {loo['se']:.1f} "
        f"(SE); the {better} model predicts held-out transitions better"
        + (
            "; the difference is within 2 SE, so the data do not clearly prefer either."
            if abs(loo["elpd_diff"]) < 2 * loo["se"]
            else "."
        )
    )
    return ReportSection("Pooled vs by-condition model (LOO)", body)


def compare_sections(
    tree: xr.DataTree, result: dict[str, Any], curve_draws: dict[str, xr.DataArray]
) -> list[ReportSection]:
    """Return the report sections of a condition comparison.

    Parameters
    ----------
    tree : xarray.DataTree
        The fitted result (for the per-condition curves).
    result, curve_draws : dict
        Output of :func:`spinefit.compare.compare_with_draws` on ``tree``: the curves are
        plotted from its draws, not recomputed.
    """
    units = _units(tree)
    sections = []
    if "drift" in result.get("curves", {}):
        sections.append(_curves_section(result, curve_draws, units))
    if "intrinsic_fraction" in result.get("curves", {}):
        sections.append(_fraction_section(result, curve_draws, units))
    sections.append(_forest_section(tree, result, units))
    found = sentences(result)
    sections.append(
        ReportSection(
            "Findings",
            (
                "".join(paragraph(s) for s in found)
                or paragraph("No primary contrast differs between conditions (joint 94% region).")
            )
            + paragraph(examined_sentence(result)),
        )
    )
    secondary = secondary_sentences(result)
    if secondary:
        sections.append(
            ReportSection(
                "Secondary differences (exploratory)",
                paragraph(
                    "Not corrected for multiplicity across quantities; curve ranges use "
                    "simultaneous 94% bands along the size axis."
                )
                + "".join(paragraph(s) for s in secondary),
            )
        )
    sections.append(_loo_section(result.get("loo")))
    return sections


def condition_sections(model: Any, tree: xr.DataTree) -> list[ReportSection]:
    """Return the sections of a model fitted jointly across conditions: its contrasts."""
    return compare_sections(tree, *compare_with_draws(tree))


def by_condition_sections(model: Any, tree: xr.DataTree) -> list[ReportSection]:
    """Return the contrast sections, then each condition's own sections."""
    from spinefit.report.registry import model_sections

    sections = compare_sections(tree, *compare_with_draws(tree))
    inner = model.inner()
    for label, fit in model.condition_fits(tree).items():
        sections.append(
            ReportSection(
                f"{model.config['by']} = {label}",
                subsections=model_sections(type(inner).from_result(fit), fit),
                anchor=f"condition-{label}",
            )
        )
    return sections
