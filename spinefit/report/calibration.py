"""Report of ``spinefit calibrate``: one self-contained HTML page.

It draws what :func:`spinefit.calibration.run.calibrate` computed and stored (the summary
and the per-replicate records); it computes no rank or coverage again.
"""

from __future__ import annotations

import importlib.metadata
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import stats

from spinefit.report.sections import (
    FIGURE_WIDTH_IN,
    ReportSection,
    figure_html,
    paragraph,
    render_page,
    table_html,
)

__all__ = ["render_calibration_report"]

PANEL_COLUMNS = 4
REPLICATE_ROWS = 50
"""Replicates listed in the diagnostics table (the rest are in replicates.jsonl)."""


def render_calibration_report(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Render the calibration page from the summary and the replicate records.

    Parameters
    ----------
    summary : dict
        As written to ``calibration.json``.
    records : list of dict
        The replicate records (``replicates.jsonl``).

    Returns
    -------
    str
        The HTML page.
    """
    sections = [
        _verdict_section(summary),
        _table_section(summary),
        _histogram_section(summary),
        _coverage_section(summary),
        _replicate_section(summary, records),
        _provenance_section(summary),
    ]
    subtitle = (
        f"model {summary['model']} · {summary['replicates_done']} replicates · L = "
        f"{summary['n_thinned']} · generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    return render_page(f"spinefit calibrate: {summary['model']}", subtitle, sections)


def _verdict_section(summary: dict[str, Any]) -> ReportSection:
    approximation = summary["prior_approximation"]
    body = paragraph(summary["verdict"])
    body += paragraph(
        "Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788): each replicate "
        "draws the parameters from the model's priors, simulates a data set from the model's "
        "own likelihood, fits it, and ranks every parameter's true value among "
        f"L = {summary['n_thinned']} thinned posterior draws. If the software fits the "
        "model it claims to, ranks are uniform on 0..L and central intervals cover the "
        "truth at their nominal rate."
    )
    if approximation.get("method"):
        verdict = (
            "Every fit used exactly the prior its truth was drawn from (exact SBC); the "
            "mismatch is that of the data's own statistics, used only to select data sets."
            if approximation.get("exact")
            else "This is not exact SBC; see the simulators' documentation."
        )
        body += paragraph(
            f"How the data were made: {approximation['method']}. Largest realised mismatch: "
            + json.dumps(approximation.get("largest_realised_mismatch", {}))
            + ". "
            + verdict
        )
    if summary["replicates_failed"]:
        body += paragraph(
            f"{summary['replicates_failed']} replicate(s) failed and are left out (a rerun "
            "retries them): "
            + "; ".join(f"{f['key']}: {f['error']}" for f in summary["failures"][:5])
        )
    return ReportSection("Verdict", body, anchor="verdict")


def _table_section(summary: dict[str, Any]) -> ReportSection:
    rows = []
    for name, entry in summary["parameters"].items():
        ranks = entry["rank_uniformity"]
        row = [name, ranks["chi2"], ranks["dof"], ranks["p_value"]]
        for label in ("50", "94"):
            c = entry["coverage"][label]
            row.append(f"{c['coverage']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}]")
        c94 = entry["coverage"]["94"]
        row.append(f"[{c94['expected_low']:.3f}, {c94['expected_high']:.3f}]")
        row.append(c94.get("p_value_bonferroni", float("nan")))
        passed = name not in summary["failing"] and name not in summary["coverage_outside"]
        row.append("yes" if passed else "NO")
        rows.append(row)
    body = table_html(
        [
            "parameter",
            "rank χ²",
            "dof",
            "p",
            "50% coverage [95% CI]",
            "94% coverage [95% CI]",
            "94%: binomial range",
            "94%: Bonferroni p",
            "passes",
        ],
        rows,
        caption=(
            f"Uniformity fails when p < {summary['bonferroni_threshold']:.2g} (family-wise "
            f"{summary['family_alpha']:g}, Bonferroni over {len(rows)} parameters); coverage "
            "fails when it leaves the central 95% range of Binomial(n, 0.94)/n, per parameter "
            "(uncorrected, so some parameters leave it by chance; the Bonferroni p says how "
            "surprising the worst one is)."
        ),
    )
    return ReportSection("Per-parameter results", body, anchor="parameters")


def _histogram_section(summary: dict[str, Any]) -> ReportSection:
    import matplotlib.pyplot as plt

    names = list(summary["parameters"])
    if not names:
        return ReportSection("Rank histograms", paragraph("No replicates yet."), anchor="ranks")
    columns = min(PANEL_COLUMNS, len(names))
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(FIGURE_WIDTH_IN, 1.7 * rows + 0.4),
        squeeze=False,
        sharey=True,
    )
    values = summary["rank_values"]
    for ax, name in zip(axes.ravel(), names, strict=False):
        ranks = summary["parameters"][name]["rank_uniformity"]
        counts = np.asarray(ranks["counts"])
        n_bins = ranks["n_bins"]
        n = counts.sum()
        edges = np.linspace(0, values, n_bins + 1)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#7a9cc6")
        # 99% range of one bin's count under uniform ranks.
        low, high = stats.binom.ppf([0.005, 0.995], n, 1.0 / n_bins)
        ax.axhspan(low, high, color="0.85", zorder=0)
        ax.axhline(n / n_bins, color="0.4", lw=0.8)
        ax.set_title(f"{name}\np = {ranks['p_value']:.2g}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(names) :]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("rank", fontsize=7)
    fig.tight_layout()
    caption = (
        "Rank histograms; grey band: central 99% range of a bin's count when ranks are "
        "uniform. A U shape means posteriors too narrow, a hump too wide, a slope biased."
    )
    return ReportSection("Rank histograms", figure_html(fig, caption), anchor="ranks")


def _coverage_section(summary: dict[str, Any]) -> ReportSection:
    import matplotlib.pyplot as plt

    names = list(summary["parameters"])
    if not names:
        return ReportSection("Coverage", paragraph("No replicates yet."), anchor="coverage")
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH_IN, 0.22 * len(names) + 1.2), sharey=True)
    y = np.arange(len(names))
    for ax, label in zip(axes, ("50", "94"), strict=True):
        entries = [summary["parameters"][n]["coverage"][label] for n in names]
        value = np.array([e["coverage"] for e in entries])
        low = np.array([e["ci_low"] for e in entries])
        high = np.array([e["ci_high"] for e in entries])
        ax.errorbar(value, y, xerr=[value - low, high - value], fmt="o", ms=3, color="#2b5d8a")
        ax.axvline(int(label) / 100, color="0.3", lw=0.8, ls="--")
        ax.axvspan(entries[0]["expected_low"], entries[0]["expected_high"], color="0.88")
        ax.set_xlabel(f"coverage of central {label}% intervals", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    fig.tight_layout()
    caption = (
        "Observed coverage with 95% Clopper–Pearson intervals; dashed: nominal; grey: "
        "central 95% range of the observed fraction if coverage were nominal."
    )
    return ReportSection("Coverage", figure_html(fig, caption), anchor="coverage")


def _replicate_section(summary: dict[str, Any], records: list[dict[str, Any]]) -> ReportSection:
    records = sorted(records, key=lambda r: r["replicate"])
    rows = [
        [
            r["replicate"],
            r["seed"],
            r["diagnostics"]["max_r_hat"],
            r["diagnostics"]["min_ess_bulk"],
            r["diagnostics"]["divergences"],
            r["notes"].get("attempts", ""),
            r["fit_seconds"],
        ]
        for r in records[:REPLICATE_ROWS]
    ]
    body = paragraph(
        f"Fitting took {summary['fit_minutes']:.1f} min in all "
        f"({summary['task_minutes']:.1f} min with simulation); largest R-hat "
        f"{summary['max_r_hat'] if summary['max_r_hat'] is not None else float('nan'):.3f}, "
        f"{summary['divergent_replicates']} replicate(s) with divergences."
    )
    body += table_html(
        ["replicate", "seed", "max R-hat", "min bulk ESS", "divergences", "draws tried", "fit s"],
        rows,
        caption=f"First {min(len(records), REPLICATE_ROWS)} replicates (all in replicates.jsonl)",
    )
    return ReportSection("Replicates", body, anchor="replicates")


def _provenance_section(summary: dict[str, Any]) -> ReportSection:
    rows = [
        ["command", summary.get("command_line") or ""],
        ["seed", summary["seed"]],
        ["sampler", json.dumps(summary["sampler"], sort_keys=True)],
        ["design", json.dumps(summary["design"], sort_keys=True)],
        ["model options", json.dumps(summary["options"], sort_keys=True)],
    ]
    for library in ("spinefit", "pymc", "pytensor", "nutpie", "numpy", "scipy"):
        try:
            rows.append([library, importlib.metadata.version(library)])
        except importlib.metadata.PackageNotFoundError:
            continue
    return ReportSection("Provenance", table_html(["", ""], rows), anchor="provenance")
