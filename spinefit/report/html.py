"""Self-contained HTML reports: one file, inline SVG figures, no network requests."""

from __future__ import annotations

import html
import importlib.metadata
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import xarray as xr

from spinefit import dims
from spinefit.io.atomic import write_text_atomically
from spinefit.io.ingestion_report import IngestionReport
from spinefit.models import model_of
from spinefit.report.diagnostics import diagnostics_section
from spinefit.report.registry import model_sections
from spinefit.report.sections import (
    ReportSection,
    paragraph,
    render_page,
    scope_svg_ids,
    table_html,
)
from spinefit.results.names import DATA_GROUP
from spinefit.sampling import DRAWS_ATTR, RESTARTED_ATTR, sampling_notes
from spinefit.stats import convergence_warnings

LIBRARIES = ("spinefit", "pymc", "pytensor", "arviz", "nutpie", "numpy", "scipy", "xarray")


def equation_html(latex: str) -> str:
    """Render a LaTeX equation to inline SVG with matplotlib mathtext (code if it fails)."""
    if not latex:
        return ""
    import matplotlib.pyplot as plt

    try:
        fig = plt.figure(figsize=(0.01, 0.01))
        fig.text(0, 0, f"${latex}$", fontsize=15)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.05)
        plt.close(fig)
        svg = scope_svg_ids(buffer.getvalue())
        return f'<div class="equation" role="img" aria-label="{html.escape(latex)}">' + (
            svg[svg.index("<svg") :] + "</div>"
        )
    except (ValueError, RuntimeError):
        plt.close("all")
        return f"<pre><code>{html.escape(latex)}</code></pre>"


def data_section(tree: xr.DataTree, prefix: str) -> ReportSection:
    """Return the data overview: dims and the ingestion report (kept, dropped, why)."""
    data = tree[DATA_GROUP].to_dataset()
    body = [
        table_html(
            ["dimension", "size"],
            [[name, int(size)] for name, size in data.sizes.items()],
            caption="Dimensions of the ingested data",
        )
    ]
    raw = data.attrs.get(dims.ATTR_INGESTION_REPORT)
    if raw:
        report = IngestionReport.from_json(raw)
        body.append(
            paragraph(
                f"Source {report.source}: {report.rows_read} rows read, {report.rows_kept} "
                f"kept, {len(report.dropped)} dropped."
            )
        )
        if report.dropped:
            body.append(
                table_html(
                    ["reason", "rows"],
                    [[r, n] for r, n in sorted(report.reasons().items())],
                    caption="Dropped rows by reason",
                )
            )
            body.append(
                table_html(
                    ["row", "reason", "detail"],
                    [[d.row, d.reason, d.detail] for d in report.dropped[:50]],
                    caption="Dropped rows (first 50)",
                )
            )
        body.extend(paragraph(f"Note: {n}") for n in report.notes)
    return ReportSection("Data overview", "".join(body), anchor=f"{prefix}data")


def _priors_html(priors: str) -> str:
    """Show priors as text, or typeset them when a model gives them in LaTeX."""
    if "\\" in priors:
        return paragraph("Priors:") + equation_html(priors.replace("\\(", "").replace("\\)", ""))
    return paragraph("Priors: " + priors)


def model_section(tree: xr.DataTree, prefix: str) -> ReportSection:
    """Return the model section: its equation, priors and options."""
    model = model_of(tree)
    description = model.describe()
    body = [
        paragraph(description.get("title", model.name)),
        equation_html(description.get("equation", "")),
        *(
            [paragraph("Likelihood:"), equation_html(description["likelihood"])]
            if description.get("likelihood")
            else []
        ),
        _priors_html(description.get("priors", "")),
        table_html(
            ["option", "value"],
            [[k, json.dumps(v)] for k, v in sorted(model.config.items())],
            caption="Model options",
        ),
    ]
    return ReportSection("Model", "".join(body), anchor=f"{prefix}model")


def provenance_section(tree: xr.DataTree, prefix: str) -> ReportSection:
    """Versions, seed, command line and input hash."""
    rows = []
    for lib in LIBRARIES:
        try:
            rows.append([lib, importlib.metadata.version(lib)])
        except importlib.metadata.PackageNotFoundError:
            rows.append([lib, "not installed"])
    keys = (
        "spinefit_version",
        "command_line",
        "random_seed",
        "sampler_settings",
        "input_source",
        "input_hash",
        "created",
        "python_version",
        "result_path",
    )
    attrs = [[k, str(tree.attrs[k])] for k in keys if k in tree.attrs]
    body = table_html(["fit attribute", "value"], attrs, caption="Recorded with the result")
    body += table_html(["library", "version (rendering)"], rows, caption="Library versions")
    return ReportSection("Provenance", body, anchor=f"{prefix}provenance")


def sampler_notes(tree: xr.DataTree) -> list[str]:
    """Return what the sampler had to do for a fit, one plain sentence each.

    Reads the root attrs ``sampling_notes`` (the sentences recorded while sampling),
    ``restarted_chains`` and ``sampling_draws``. Empty when the fit needed no help (or
    was saved before these were recorded).

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result.

    Returns
    -------
    list of str
        The recorded sentences; then the re-run chains and the draws kept per chain, when
        chains were re-run or the draws differ from those requested.
    """
    notes = sampling_notes(tree)
    restarted = json.loads(tree.attrs.get(RESTARTED_ATTR, "[]"))
    if restarted:
        notes.append(f"chains re-run from a new start: {', '.join(map(str, restarted))}")
    kept = tree.attrs.get(DRAWS_ATTR)
    requested = json.loads(tree.attrs.get("sampler_settings", "{}")).get("draws")
    extended = kept is not None and requested is not None and int(kept) != int(requested)
    if kept is not None and (notes or extended):
        asked = f" ({requested} requested)" if requested is not None else ""
        notes.append(f"draws per chain in the result: {int(kept)}{asked}")
    return notes


def result_sections(tree: xr.DataTree, prefix: str = "") -> list[ReportSection]:
    """All sections for one result, in reading order."""
    model = model_of(tree)
    results = ReportSection(
        "Results", "", anchor=f"{prefix}results", subsections=model_sections(model, tree)
    )
    pending = list(results.subsections)
    while pending:  # anchors must stay unique when several results share a page
        sub = pending.pop()
        sub.anchor = f"{prefix}{sub.anchor}"
        pending.extend(sub.subsections)
    return [
        data_section(tree, prefix),
        model_section(tree, prefix),
        diagnostics_section(tree, prefix),
        results,
        provenance_section(tree, prefix),
    ]


def render_report(trees: list[xr.DataTree], title: str | None = None) -> str:
    """Render one or more results into a single self-contained HTML page.

    Parameters
    ----------
    trees : list of xarray.DataTree
        Fitted results; several results get one group of sections each.
    title : str, optional
        Page title (default from the model and input names).
    """
    sections: list[ReportSection] = []
    for i, tree in enumerate(trees):
        prefix = f"r{i + 1}-" if len(trees) > 1 else ""
        parts = result_sections(tree, prefix)
        if len(trees) > 1:
            label = (
                f"{i + 1}. {tree.attrs['spinefit_model']} — {tree.attrs.get('input_source', '')}"
            )
            sections.append(ReportSection(label, "", anchor=f"{prefix}top", subsections=parts))
        else:
            sections.extend(parts)
    first = trees[0]
    default_title = f"spinefit report: {first.attrs['spinefit_model']}"
    names = sorted({Path(str(t.attrs.get("input_source", ""))).name for t in trees})
    subtitle = (
        f"Dataset: {', '.join(names)} · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    warnings = [
        (f"{t.attrs.get('spinefit_model', '')}: " if len(trees) > 1 else "") + w
        for t in trees
        for w in convergence_warnings(t)
    ]
    notes = [
        (f"{t.attrs.get('spinefit_model', '')}: " if len(trees) > 1 else "") + note
        for t in trees
        for note in sampler_notes(t)
    ]
    return render_page(
        title or default_title, subtitle, sections, warnings=warnings, sampler_notes=notes
    )


def write_report(trees: list[xr.DataTree], out: str | Path, title: str | None = None) -> Path:
    """Render results and write the HTML page atomically to ``out``."""
    return write_text_atomically(out, render_report(trees, title))
