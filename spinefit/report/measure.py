"""QC report of ``spinefit measure``: one self-contained HTML page.

It draws what :func:`spinefit.measure.measure_stacks` computed and kept (projections,
crops, shifts, SNRs); it measures nothing again.
"""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime

import numpy as np

from spinefit.measure.run import MeasureResult
from spinefit.report.known_biases import MEASURED_VOLUME_BIAS
from spinefit.report.sections import (
    FIGURE_WIDTH_IN,
    ReportSection,
    figure_html,
    new_figure,
    paragraph,
    render_page,
    table_html,
)

__all__ = ["render_measure_report"]

GALLERY_SPINES = 24
"""Spines shown in the crop gallery (the first ones in ROI order)."""


def render_measure_report(result: MeasureResult, command_line: str | None = None) -> str:
    """Render the QC page of a measurement.

    Parameters
    ----------
    result : MeasureResult
        From :func:`spinefit.measure.measure_stacks`.
    command_line : str, optional
        Shown under provenance.

    Returns
    -------
    str
        The HTML page.
    """
    sections = [
        _summary_section(result),
        _projection_section(result),
        _gallery_section(result),
        _shift_section(result),
        _snr_section(result),
        _provenance_section(result, command_line),
    ]
    subtitle = (
        f"{len(result.sessions)} sessions, {len(result.rois.spine_ids)} spines · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    return render_page("spinefit measure: QC", subtitle, sections)


def _summary_section(result: MeasureResult) -> ReportSection:
    table = result.table
    present = table.groupby("time_days")["volume"].apply(lambda v: int(v.notna().sum()))
    rows = [
        [
            f"{s.time_days:g}",
            s.path.name,
            int(present.get(s.time_days, 0)),
            *np.round(result.shifts[k][::-1], 2).tolist(),
        ]
        for k, s in enumerate(result.sessions)
    ]
    body = table_html(
        [
            "time (days)",
            "file",
            "spines present",
            "shift x (px)",
            "shift y (px)",
            "shift z (planes)",
        ],
        rows,
        caption="Sessions",
    )
    body += "".join(paragraph(note) for note in result.notes)
    body += paragraph(MEASURED_VOLUME_BIAS)
    return ReportSection("Sessions", body, anchor="sessions")


def _projection_section(result: MeasureResult) -> ReportSection:
    step = result.projection_step
    n = len(result.sessions)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(FIGURE_WIDTH_IN, FIGURE_WIDTH_IN / columns * rows),
        squeeze=False,
    )
    low, high = np.percentile(result.projections, [1, 99.7])
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(result.projections[k], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        spines = result.spine_positions[:, k] / step
        shaft = result.shaft_positions[:, k] / step
        ax.scatter(shaft[:, 2], shaft[:, 1], s=12, marker="x", color="tab:purple", linewidths=0.8)
        ax.scatter(
            spines[:, 2],
            spines[:, 1],
            s=14,
            facecolors="none",
            edgecolors="tab:orange",
            linewidths=0.6,
        )
        ax.set_title(f"day {result.sessions[k].time_days:g}", fontsize=8)
    body = figure_html(
        fig,
        "Max projection over planes of each session, with every ROI where it was measured "
        "(orange circles: spines; purple crosses: shaft points)"
        + (f"; projections reduced {step}× by block maximum" if step > 1 else ""),
    )
    return ReportSection("Stacks and ROIs", body, anchor="stacks")


def _gallery_section(result: MeasureResult) -> ReportSection:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    shown = min(GALLERY_SPINES, result.crops.shape[0])
    n_sessions = result.crops.shape[1]
    if shown == 0:
        return ReportSection("Spine gallery", paragraph("No spines."), anchor="gallery")
    # One mosaic image (one row per spine, each row scaled to its own range) instead of a
    # grid of axes: 24 × 10 small axes took seconds to draw and made a heavy SVG.
    size = result.crops.shape[2]
    cell = size + 2
    mosaic = np.full((shown * cell, n_sessions * cell), np.nan, dtype=np.float32)
    for i in range(shown):
        finite = result.crops[i][np.isfinite(result.crops[i])]
        low, high = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
        scaled = (result.crops[i] - low) / max(high - low, 1e-9)
        for k in range(n_sessions):
            mosaic[i * cell + 1 : i * cell + 1 + size, k * cell + 1 : k * cell + 1 + size] = scaled[
                k
            ]
    width = min(FIGURE_WIDTH_IN, 0.55 * n_sessions + 1.2)
    fig, ax = plt.subplots(figsize=(width, width * shown / n_sessions + 0.4))
    grey = plt.get_cmap("gray").with_extremes(bad="#cfe3f5")
    ax.imshow(np.clip(mosaic, 0, 1), cmap=grey, interpolation="nearest", vmin=0, vmax=1)
    volume = result.table.pivot(index="spine_id", columns="time_days", values="volume")
    for i in range(shown):
        spine_id = result.rois.spine_ids[i]
        for k, session in enumerate(result.sessions):
            present = np.isfinite(volume.loc[spine_id, session.time_days])
            ax.add_patch(
                Rectangle(
                    (k * cell + 0.5, i * cell + 0.5),
                    size,
                    size,
                    fill=False,
                    edgecolor="tab:orange" if present else "0.55",
                    linewidth=1.0 if present else 0.4,
                )
            )
    ax.set_xticks([k * cell + cell / 2 for k in range(n_sessions)])
    ax.set_xticklabels([f"{s.time_days:g} d" for s in result.sessions], fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks([i * cell + cell / 2 for i in range(shown)])
    ax.set_yticklabels(result.rois.spine_ids[:shown], fontsize=6)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    body = figure_html(
        fig,
        f"The first {shown} spines (rows) over sessions (columns): max projection over the "
        f"aperture's planes of a {size}×{size}-pixel crop centred on the registered ROI, "
        "each row on its own grey scale; orange frame = present, grey = absent (below the "
        "SNR criterion); pale blue = outside the stack",
    )
    return ReportSection("Spine gallery", body, anchor="gallery")


def _shift_section(result: MeasureResult) -> ReportSection:
    fig, (ax,) = new_figure(1, height=2.8)
    times = [s.time_days for s in result.sessions]
    for axis, label in ((2, "x (pixels)"), (1, "y (pixels)"), (0, "z (planes)")):
        ax.plot(times, result.shifts[:, axis], marker="o", label=label)
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.set_xlabel("time (days)")
    ax.set_ylabel("displacement from session 1")
    ax.legend(frameon=False, fontsize=8)
    body = figure_html(fig, "Rigid displacement of each session relative to the first")
    if result.settings.get("refine"):
        local = result.table[["shift_x", "shift_y", "shift_z"]].to_numpy()
        body += paragraph(
            "Per-ROI refinement was on: the table's shift columns are each spine's own "
            f"displacement (largest |x|, |y|, |z|: {np.nanmax(np.abs(local), axis=0).round(2)})."
        )
    return ReportSection("Registration", body, anchor="registration")


def _snr_section(result: MeasureResult) -> ReportSection:
    snr = result.table["snr"].to_numpy(dtype=float)
    snr = snr[np.isfinite(snr)]
    cut = result.settings["min_snr"]
    fig, (ax,) = new_figure(1, height=2.8)
    if snr.size:
        bins = np.linspace(min(snr.min(), -5), max(snr.max(), cut + 5), 60)
        ax.hist(snr, bins=bins, color="tab:blue", alpha=0.8)
    ax.axvline(cut, color="tab:red", linewidth=1, label=f"presence cut (SNR {cut:g})")
    low = result.settings.get("min_snr_adjacent", cut)
    if low < cut:
        ax.axvline(
            low,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"next to a present session (SNR {low:g})",
        )
    ax.set_xlabel("detection SNR (integral / its SD without a spine)")
    ax.set_ylabel("spine × session")
    ax.legend(frameon=False, fontsize=8)
    body = figure_html(
        fig,
        "Detection SNR of every measurement; an absent spine scatters around 0 with SD 1",
    )
    se = result.table["volume_se"] / result.table["volume"]
    body += paragraph(
        f"{int(result.table['volume'].notna().sum())} of {snr.size} measurements present; "
        f"median relative standard error of present volumes {np.nanmedian(se):.3f}."
    )
    return ReportSection("Signal-to-noise", body, anchor="snr")


def _provenance_section(result: MeasureResult, command_line: str | None) -> ReportSection:
    rows = [["command line", command_line or ""], ["ROIs", result.rois.source]]
    rows += [[key, str(value)] for key, value in sorted(result.settings.items())]
    for lib in ("spinefit", "scikit-image", "tifffile", "numpy", "scipy"):
        try:
            rows.append([lib, importlib.metadata.version(lib)])
        except importlib.metadata.PackageNotFoundError:
            rows.append([lib, "not installed"])
    return ReportSection("Provenance", table_html(["setting", "value"], rows), anchor="provenance")
