"""The batch report: one row per data set with a link to its own report, and forest plots.

Built from the batch records alone (:mod:`spinefit.batch.run`); it never opens a result.
"""

from __future__ import annotations

import html
import importlib.metadata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spinefit.report.sections import (
    ReportSection,
    figure_html,
    new_figure,
    paragraph,
    render_page,
)

FOREST_PARAMETERS = 6
"""Parameters shown as forest plots (those shared by most successful fits, in order)."""

SHOWN_PARAMETERS = 4
"""Parameters quoted in each data set's row of the table."""


def render_batch_report(
    records: list[dict[str, Any]], *, manifest: Path, skipped: list[str]
) -> str:
    """Render the batch page.

    Parameters
    ----------
    records : list of dict
        One record per manifest row (:func:`spinefit.batch.run.fit_row`), in order.
    manifest : Path
        The manifest (named in the subtitle).
    skipped : list of str
        Labels whose completed outputs were reused by this run.

    Returns
    -------
    str
        The HTML page.
    """
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] != "ok"]
    summary = (
        f"{len(records)} data sets: {len(ok)} fitted, {len(failed)} failed; "
        f"{len(skipped)} reused from an earlier run of this manifest. "
        f"{sum(1 for r in ok if r.get('warnings'))} fits did not pass every convergence check."
    )
    sections = [
        ReportSection("Data sets", paragraph(summary) + _table(records, set(skipped))),
    ]
    forest = _forest_section(ok)
    if forest is not None:
        sections.append(forest)
    version = importlib.metadata.version("spinefit")
    subtitle = (
        f"manifest {manifest.name} · spinefit {version} · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    return render_page("spinefit batch", subtitle, sections)


def _table(records: list[dict[str, Any]], skipped: set[str]) -> str:
    head = ["data set", "status", "model", "time (s)", "estimates (mean [94% HDI])", "notes"]
    rows = []
    for record in records:
        label = html.escape(record["label"])
        if record["status"] == "ok":
            cell = f'<a href="{label}.html">{label}</a>'
            status = "reused" if record["label"] in skipped else "fitted"
            notes = "; ".join(record.get("warnings") or []) or "converged"
        else:
            cell, status, notes = label, "failed", record.get("error") or ""
        estimates = "; ".join(
            f"{name} {s['mean']:.3g} [{s['hdi_low']:.3g}, {s['hdi_high']:.3g}]"
            for name, s in list((record.get("parameters") or {}).items())[:SHOWN_PARAMETERS]
            if s.get("mean") is not None and s.get("hdi_low") is not None
        )
        seconds = record.get("seconds")
        values = [
            status,
            record.get("model") or "",
            f"{seconds:.1f}" if seconds is not None else "",
            estimates,
            notes,
        ]
        rows.append(
            f'<tr class="{status}"><td>{cell}</td>'
            + "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
            + "</tr>"
        )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (
        "<table><caption>One row per manifest row; the data set's name links to its own "
        f"report.</caption><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _forest_section(ok: list[dict[str, Any]]) -> ReportSection | None:
    counts: dict[str, int] = {}
    for record in ok:
        for name in record.get("parameters") or {}:
            counts[name] = counts.get(name, 0) + 1
    shared = [n for n, c in counts.items() if c >= 2][:FOREST_PARAMETERS]
    if not shared:
        return None
    body = []
    for name in shared:
        rows = [(r["label"], r["parameters"][name]) for r in ok if name in r["parameters"]]
        rows = [(label, s) for label, s in rows if s.get("hdi_low") is not None]
        if not rows:
            continue
        fig, (ax,) = new_figure(1, height=0.8 + 0.28 * len(rows))
        y = list(range(len(rows)))
        ax.errorbar(
            [s["mean"] for _, s in rows],
            y,
            xerr=[
                [s["mean"] - s["hdi_low"] for _, s in rows],
                [s["hdi_high"] - s["mean"] for _, s in rows],
            ],
            fmt="o",
            color="#1f4e79",
            capsize=2,
        )
        units = next((s.get("units") for _, s in rows if s.get("units")), None)
        ax.set_yticks(y, [label for label, _ in rows])
        ax.invert_yaxis()
        ax.set_xlabel(f"{name} ({units})" if units else f"{name} (units of the fit's data)")
        body.append(figure_html(fig, f"{name}: posterior mean and 94% HDI per data set."))
    return ReportSection("Estimates across data sets", "".join(body))
