"""The library function behind ``spinefit measure``: stacks + ROIs → long volume table.

Steps, one session at a time (memory holds one plane, the registration window of at most
:data:`REGISTRATION_VOXELS` voxels and small patches, whatever the size of the stacks):

1. open the stack (memory-mapped, never read whole) and check its shape, dtype and values
   plane by plane;
2. register it to the first session (:mod:`spinefit.measure.registration`), optionally
   refining each ROI's displacement on a local patch;
3. measure every spine (:mod:`spinefit.measure.photometry`) and the peaks of the shaft
   points;
4. keep what the QC report shows: a max projection, spine crops, shifts.

The output table has one row per spine and session: ``spine_id, time_days, volume`` (the
long table that ``spinefit fit`` reads; empty volume = absent) and the QC columns
``volume_se, volume_se_session, snr, shift_x, shift_y, shift_z, integral, shaft_peak,
inside_fraction``, and ``detection_limit``: the volume at the presence cut
(:func:`volume_at_cut`, one value for the table), which ``spinefit fit`` reads so that the
latent-process model takes an absent spine for dead or alive and unseen below it.

``volume_se`` is one measurement's standard error: shot and read noise, the shaft peak's
error, and the error from the background's spatial structure around the spine.
``volume_se_session`` leaves the structure part out. The structure (other dendrites,
neighbouring spines) is the same in every session, so its error is a per-spine bias that
does not enter changes between sessions: in crowded synthetic scenes the variance of the
error's session-to-session changes was 0.93–0.96 of the summed ``volume_se_session``²
and 0.47–0.68 of the summed ``volume_se``². A latent-process fit with
``-o measurement_error=column`` uses ``volume_se_session`` when the table has it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage

from spinefit.errors import ConfigError, DataError
from spinefit.io.images import RoiTable, SessionStack, find_sessions, open_stack, read_rois
from spinefit.measure.defaults import DEFAULT_MIN_SNR, DEFAULT_MIN_SNR_ADJACENT
from spinefit.measure.photometry import Aperture, shaft_peak, spine_photometry
from spinefit.measure.registration import (
    default_margin,
    prepare_reference,
    refine_shift,
    register,
)
from spinefit.progress import progress_bar

__all__ = ["MeasureResult", "measure_stacks", "table_csv"]

N_SHAFT_POINTS = 2
"""Each spine is normalised by the mean peak of its nearest shaft point and that point's
nearest neighbour on the shaft (which also give the local shaft axis)."""
CROP_HALF = 10
"""Half-width (pixels) of the spine crops kept for the QC gallery."""
PROJECTION_SIZE = 512
"""Max projections are block-max reduced to at most this many pixels per side."""
MIN_FRAMES = 3
"""Sessions with at least this many repeated frames take volume_se from the frames' spread."""
REGISTRATION_VOXELS = 1 << 24
"""Registration uses a central crop of at most this many voxels, bounding its memory."""
TABLE_COLUMNS = (
    "spine_id",
    "time_days",
    "volume",
    "volume_se",
    "volume_se_session",
    "snr",
    "shift_x",
    "shift_y",
    "shift_z",
    "integral",
    "shaft_peak",
    "inside_fraction",
    "detection_limit",
)


@dataclass
class MeasureResult:
    """Everything ``measure`` computed: the table and what the QC report shows.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per spine and session, columns :data:`TABLE_COLUMNS`.
    sessions : list of SessionStack
        The stacks, in time order.
    rois : RoiTable
        The ROIs as read.
    shifts : numpy.ndarray
        Global displacement of each session, (n_sessions, 3), (planes, pixels, pixels).
    spine_positions : numpy.ndarray
        Spine centres used in each session, (n_spines, n_sessions, 3).
    shaft_positions : numpy.ndarray
        Shaft points used in each session, (n_shaft, n_sessions, 3).
    projections : numpy.ndarray
        Max projection over planes of each session, (n_sessions, rows', cols'), block-max
        reduced by `projection_step`.
    projection_step : int
        Pixels per projection pixel.
    crops : numpy.ndarray
        Max projection over the aperture's planes of a (2·CROP_HALF+1)² crop around each
        spine in each session, (n_spines, n_sessions, h, w); NaN outside the stack.
    settings : dict
        The options used (JSON-serialisable).
    notes : list of str
        Plain-language notes (spines outside the field, etc.).
    """

    table: pd.DataFrame
    sessions: list[SessionStack]
    rois: RoiTable
    shifts: NDArray[np.float64]
    spine_positions: NDArray[np.float64]
    shaft_positions: NDArray[np.float64]
    projections: NDArray[np.float32]
    projection_step: int
    crops: NDArray[np.float32]
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure_stacks(
    stacks: Sequence[str | Path],
    rois: str | Path,
    *,
    session_times: Sequence[float] | None = None,
    interval_days: float | None = None,
    aperture: Aperture | None = None,
    gain: float = 1.0,
    min_snr: float = DEFAULT_MIN_SNR,
    min_snr_adjacent: float | None = DEFAULT_MIN_SNR_ADJACENT,
    refine: bool = False,
    max_refinement: float = 1.5,
    max_shift: Sequence[int] | None = None,
    progressbar: bool = False,
) -> MeasureResult:
    """Register the stacks and measure every spine in every session.

    Parameters
    ----------
    stacks : sequence of str or Path
        A folder with ``sessions.csv``, a sessions table, or TIFF files (see
        :func:`spinefit.io.images.find_sessions`).
    rois : str or Path
        ROI table ``roi_id,kind,x,y,z`` (pixels/planes of the first session).
    session_times, interval_days
        Times of listed TIFF files (days).
    aperture : Aperture, optional
        Aperture, background shell and shaft-peak settings (pixels/planes).
    gain : float
        Detector gain, ADU per detected photon (1 for photon counting). Sets the shot-noise
        part of each standard error.
    min_snr : float
        Detection SNR at or above which a spine is present; below it the volume is empty.
    min_snr_adjacent : float or None
        Lower cut of the hysteresis: a spine with SNR at least this (and below
        ``min_snr``) is present when a run of such sessions, consecutive in time, reaches
        a session at ``min_snr``. None (or ``min_snr``) turns hysteresis off.
    refine : bool
        Refine each spine's displacement by phase correlation of a local patch (tissue
        warping); shaft points keep the global shift.
    max_refinement : float
        Largest accepted local change from the global shift (voxels).
    max_shift : sequence of int, optional
        Largest displacement searched per axis (planes, rows, columns); default 15% of
        each axis.
    progressbar : bool
        Show a progress bar on stderr.

    Returns
    -------
    MeasureResult
        The table and the QC material.

    Raises
    ------
    DataError
        Missing or unreadable stacks, mismatched shapes, non-numeric or non-finite data,
        bad ROI tables or ROIs outside the volume.
    ConfigError
        Invalid options.
    """
    aperture = aperture or Aperture()
    if not gain > 0:
        raise ConfigError(f"--gain must be positive (ADU per photon), got {gain}")
    if not np.isfinite(min_snr):
        raise ConfigError(f"--min-snr must be a number, got {min_snr}")
    low_snr = min_snr if min_snr_adjacent is None else float(min_snr_adjacent)
    if not (np.isfinite(low_snr) and low_snr <= min_snr):
        raise ConfigError(
            f"--min-snr-adjacent must be a number at most --min-snr ({min_snr:g}), got "
            f"{min_snr_adjacent}"
        )
    sessions = find_sessions(stacks, session_times=session_times, interval_days=interval_days)
    opened = [open_stack(s.path) for s in sessions]
    frames = [stack.shape[0] if stack.ndim == 4 else 1 for stack in opened]
    shape = opened[0].shape[-3:]
    for session, stack in zip(sessions[1:], opened[1:], strict=True):
        if stack.shape[-3:] != shape:
            raise DataError(
                f"stack has shape {stack.shape[-3:]} (planes, rows, columns) but the first "
                f"session {sessions[0].path.name} has {shape}; all sessions must match",
                source=str(session.path),
            )
    roi_table = read_rois(rois, shape)
    margin = _margin(max_shift, shape)
    window = _registration_window(shape)

    n_sessions, n_spines, n_shaft = (
        len(sessions),
        len(roi_table.spine_ids),
        len(roi_table.shaft_zyx),
    )
    nearest = _nearest_shaft(roi_table)
    used_shaft = np.unique(nearest)
    shifts = np.zeros((n_sessions, 3))
    spine_pos = np.full((n_spines, n_sessions, 3), np.nan)
    shaft_pos = np.full((n_shaft, n_sessions, 3), np.nan)
    rows: list[dict[str, Any]] = []
    step = max(1, int(np.ceil(max(shape[1:]) / PROJECTION_SIZE)))
    projections = []
    crops = np.full(
        (n_spines, n_sessions, 2 * CROP_HALF + 1, 2 * CROP_HALF + 1), np.nan, dtype=np.float32
    )
    outside = 0
    reference = None
    reference_fft = None
    with progress_bar(progressbar, n_sessions, "measuring sessions", transient=True) as advance:
        for k, (session, stack) in enumerate(zip(sessions, opened, strict=True)):
            # The stack stays memory-mapped: one pass over its planes (projection and value
            # check), the registration window, then small patches per ROI. Repeated frames
            # are measured on their mean (a temporary memory map), whose shot noise is that
            # of gain / frames.
            volume = _frame_mean(stack) if stack.ndim == 4 else stack
            session_gain = gain / frames[k]
            projections.append(_projection_checked(volume, step, session))
            if k == 0:
                reference = volume
                reference_fft = prepare_reference(np.asarray(volume[window]), margin)
            else:
                shifts[k] = register(reference_fft, np.asarray(volume[window]))
            for i, centre in enumerate(roi_table.spine_zyx):
                spine_pos[i, k] = _position(
                    reference, volume, centre, shifts[k], refine, max_refinement, aperture
                )
            # Shaft points follow the global shift: their peak is searched over a few
            # voxels anyway, and refining them too tripled the time of --refine.
            shaft_pos[:, k] = roi_table.shaft_zyx + shifts[k]
            level = _background_level(volume)
            peaks = [shaft_peak(volume, shaft_pos[j, k], aperture, level) for j in range(n_shaft)]
            frame_peaks = (
                _frame_shaft_peaks(stack, shaft_pos[:, k], used_shaft, aperture)
                if frames[k] >= MIN_FRAMES
                else []
            )
            for i, spine_id in enumerate(roi_table.spine_ids):
                row, missing = _measure_one(
                    volume,
                    spine_pos[i, k],
                    peaks,
                    shaft_pos[:, k],
                    nearest[i],
                    _neighbours(spine_pos[:, k], i, aperture),
                    aperture,
                    session_gain,
                    low_snr,
                )
                if frames[k] >= MIN_FRAMES and np.isfinite(row["volume"]):
                    spread = _frame_spread_se(
                        stack,
                        frame_peaks,
                        spine_pos[i, k],
                        shaft_pos[:, k],
                        nearest[i],
                        _neighbours(spine_pos[:, k], i, aperture),
                        aperture,
                        gain,
                    )
                    # The background's structure is the same in every frame.
                    row["volume_se"] = float(np.hypot(spread, row["structure_se"]))
                    row["volume_se_session"] = spread
                outside += missing
                displacement = spine_pos[i, k] - roi_table.spine_zyx[i]
                row.update(
                    spine_id=spine_id,
                    time_days=session.time_days,
                    shift_x=displacement[2],
                    shift_y=displacement[1],
                    shift_z=displacement[0],
                )
                rows.append(row)
                crops[i, k] = _crop(volume, spine_pos[i, k], aperture)
            advance()
    admitted = _hysteresis(rows, n_sessions, n_spines, min_snr, low_snr)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table = table.sort_values(["spine_id", "time_days"], kind="stable", key=_roi_order(roi_table))
    presence = f"present: detection SNR >= {min_snr:g}"
    if low_snr < min_snr:
        presence += (
            f", or >= {low_snr:g} in a run of consecutive sessions that reaches one at "
            f"{min_snr:g} (hysteresis; {admitted} measurements present by it)"
        )
    notes = [
        presence + "; absent spines have an empty volume",
        "volume = integral / mean peak of the nearest shaft point and its neighbour "
        "(unit: voxels of shaft-peak brightness; relative, not µm³)",
    ]
    if outside:
        notes.append(
            f"{outside} spine measurements fell outside the stack after registration, or "
            "had no shaft point inside it (written as absent)"
        )
    if max(frames) >= MIN_FRAMES:
        notes.append(
            "sessions with repeated frames: volumes from the mean frame; volume_se is the "
            "spread of the per-frame volumes (SD / sqrt(frames)) with the background's "
            "spatial error added (volume_se_session: the spread alone), frames per session "
            f"{frames}"
        )
    cut = volume_at_cut(table, min_snr)
    table["detection_limit"] = np.nan if cut is None else cut[1]
    notes += _detection_limit_note(cut, min_snr)
    notes += _crowded_note(roi_table, aperture)
    settings = {
        "aperture": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in aperture.__dict__.items()
        },
        "gain": gain,
        "min_snr": min_snr,
        "min_snr_adjacent": low_snr,
        "refine": refine,
        "max_refinement": max_refinement,
        "max_shift": list(margin),
        "shape": list(shape),
        "frames": frames,
    }
    return MeasureResult(
        table=table.reset_index(drop=True),
        sessions=sessions,
        rois=roi_table,
        shifts=shifts,
        spine_positions=spine_pos,
        shaft_positions=shaft_pos,
        projections=np.stack(projections),
        projection_step=step,
        crops=crops,
        settings=settings,
        notes=notes,
    )


def table_csv(table: pd.DataFrame) -> str:
    """Return the measurement table as CSV text (empty cells for absent volumes)."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()


# --------------------------------------------------------------------------- helpers


def _margin(max_shift: Sequence[int] | None, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return the largest shift searched per axis, checked against the stack shape."""
    if max_shift is None:
        return default_margin(shape)
    margin = tuple(int(m) for m in max_shift)
    if len(margin) != 3 or any(m < 0 or 2 * m >= n for m, n in zip(margin, shape, strict=True)):
        raise ConfigError(
            f"--max-shift takes 3 non-negative numbers (planes, rows, columns) smaller than "
            f"half the stack {shape}; got {list(max_shift)}"
        )
    return margin  # type: ignore[return-value]


def _registration_window(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Return a central lateral crop of at most :data:`REGISTRATION_VOXELS` voxels."""
    planes, rows, cols = shape
    scale = min(1.0, np.sqrt(REGISTRATION_VOXELS / (planes * rows * cols)))
    sizes = (planes, max(32, int(rows * scale)), max(32, int(cols * scale)))
    return tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(shape, sizes, strict=True))


def _nearest_shaft(rois: RoiTable) -> NDArray[np.int64]:
    """Return, per spine, its nearest shaft point and that point's nearest shaft point.

    The second point is taken next to the first rather than next to the spine: a spine
    between two dendrites would otherwise get one point on each, and the "axis" through
    them would cut through the spine. Distances are in pixels and planes.
    """
    shaft = rois.shaft_zyx
    to_spine = np.linalg.norm(rois.spine_zyx[:, None, :] - shaft[None, :, :], axis=2)
    first = np.argmin(to_spine, axis=1)
    if shaft.shape[0] < N_SHAFT_POINTS:
        return first[:, None]
    between = np.linalg.norm(shaft[:, None, :] - shaft[None, :, :], axis=2)
    np.fill_diagonal(between, np.inf)
    return np.column_stack([first, np.argmin(between, axis=1)[first]])


def _position(
    reference: NDArray,
    volume: NDArray,
    centre: NDArray[np.float64],
    shift: NDArray[np.float64],
    refine: bool,
    max_refinement: float,
    aperture: Aperture,
) -> NDArray[np.float64]:
    """Return where a first-session ROI lies in this session."""
    if not refine or volume is reference:
        return centre + shift
    # A patch reaching just past the background shell: the spine and its stretch of
    # shaft, small enough for the local shift to differ from the global one.
    lateral = int(np.ceil(aperture.shell_outer * aperture.radius_xy)) + 4
    half = (max(2, int(np.ceil(aperture.half_depth_z))), lateral, lateral)
    return centre + refine_shift(reference, volume, centre, shift, half, max_refinement)


def _measure_one(
    volume: NDArray,
    centre: NDArray[np.float64],
    peaks: list[tuple[float, float] | None],
    shaft_points: NDArray[np.float64],
    nearest: NDArray[np.int64],
    neighbours: NDArray[np.float64],
    aperture: Aperture,
    gain: float,
    min_snr: float,
) -> tuple[dict[str, Any], int]:
    """Return one table row (without ids and shifts) and 1 if the spine fell outside."""
    empty = dict(
        volume=np.nan,
        volume_se=np.nan,
        volume_se_session=np.nan,
        snr=np.nan,
        integral=np.nan,
        shaft_peak=np.nan,
        inside_fraction=0.0,
    )
    axis = shaft_points[nearest[:2]] if len(nearest) >= 2 else None
    photometry = spine_photometry(volume, centre, aperture, gain, axis, neighbours)
    if photometry is None:
        return empty, 1
    usable = [peaks[j] for j in nearest if peaks[j] is not None]
    row = dict(empty)
    row.update(
        snr=photometry.snr, integral=photometry.integral, inside_fraction=photometry.inside_fraction
    )
    if not usable:
        return row, 1
    raw = np.array([p for p, _ in usable])
    factor = np.array([f for _, f in usable])
    peak = float(raw.mean() - photometry.background)
    # Each peak's variance: its smoothing kernel's sum of squared weights times the voxel
    # variance there (background plus the shaft's own shot noise).
    peak_var = float(
        np.sum(
            factor * (photometry.background_var + gain * np.maximum(raw - photometry.background, 0))
        )
        / len(usable) ** 2
    )
    row["shaft_peak"] = peak
    if peak <= 0 or not photometry.snr >= min_snr:
        return row, 0
    volume_ratio = photometry.integral / peak
    relative_var = photometry.integral_var / photometry.integral**2 + peak_var / peak**2
    structure_se = float(np.sqrt(photometry.structure_var) / peak)
    volume_se = abs(volume_ratio) * np.sqrt(relative_var)
    row.update(
        volume=volume_ratio,
        volume_se=volume_se,
        volume_se_session=float(np.sqrt(max(volume_se**2 - structure_se**2, 0.0))),
    )
    # Not a table column: the frames' spread misses it (see _frame_spread_se).
    row["structure_se"] = structure_se
    return row, 0


def _hysteresis(
    rows: list[dict[str, Any]], n_sessions: int, n_spines: int, high: float, low: float
) -> int:
    """Empty the volumes below ``high`` that no run of sessions at ``low`` links to ``high``.

    ``rows`` are session-major (spine fastest) and carry volumes for every measurement
    with SNR at least ``low``; runs are consecutive sessions of one spine. Returns how
    many measurements below ``high`` stay present.
    """
    volume = np.array([row["volume"] for row in rows]).reshape(n_sessions, n_spines).T
    snr = np.array([row["snr"] for row in rows]).reshape(n_sessions, n_spines).T
    candidate = np.isfinite(volume)
    strong = candidate & (snr >= high)
    runs, _ = ndimage.label(candidate, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])
    keep = np.isin(runs, np.unique(runs[strong])) & candidate
    for i, k in zip(*np.nonzero(candidate & ~keep), strict=True):
        rows[k * n_spines + i].update(volume=np.nan, volume_se=np.nan, volume_se_session=np.nan)
    return int((keep & ~strong).sum())


def volume_at_cut(table: pd.DataFrame, min_snr: float) -> tuple[float, float, float] | None:
    """Return the volume at the presence cut: 10%, 50% and 90% over present measurements.

    A present measurement's volume per unit of detection SNR, times the cut, is the volume
    that would sit exactly at the cut there (the SNR scales with the integral, the volume
    with the integral over the local shaft peak). The median is the detection limit to give
    the latent model (``-o detection_limit``). None if nothing is present.
    """
    present = table["volume"].notna() & (table["snr"] > 0)
    if not present.any():
        return None
    limit = min_snr * table.loc[present, "volume"] / table.loc[present, "snr"]
    low, median, high = np.quantile(limit, [0.1, 0.5, 0.9])
    return float(low), float(median), float(high)


def _detection_limit_note(cut: tuple[float, float, float] | None, min_snr: float) -> list[str]:
    """State the volume at the presence cut: the smallest volume found reliably."""
    if cut is None:
        return []
    low, median, high = cut
    return [
        f"volume at the presence cut (SNR {min_snr:g}): median {median:.3g} (10–90% of "
        f"measurements {low:.3g}–{high:.3g}), written as the detection_limit column; "
        "smaller spines are mostly missed, so an absent spine may be alive: the latent fit "
        "reads the limit from the table (-o detection_limit=none reads every absence as a "
        "loss and places the threshold θ just below the smallest volume)"
    ]


def _crowded_note(rois: RoiTable, aperture: Aperture) -> list[str]:
    """Name spine ROIs closer (laterally) than the aperture radius: their light is split."""
    lateral = np.hypot(*(rois.spine_zyx[:, None, 1:] - rois.spine_zyx[None, :, 1:]).T).T
    close = np.argwhere(np.triu(lateral < aperture.radius_xy, k=1))
    if close.size == 0:
        return []
    pairs = ", ".join(f"{rois.spine_ids[i]}/{rois.spine_ids[j]}" for i, j in close[:5])
    more = f" and {len(close) - 5} more" if len(close) > 5 else ""
    return [
        f"{len(close)} pairs of spine ROIs are closer than the aperture radius "
        f"({aperture.radius_xy:g} px); the light between them is split by distance, so "
        f"their volumes are less certain than their standard errors say: {pairs}{more}"
    ]


def _neighbours(
    positions: NDArray[np.float64], index: int, aperture: Aperture
) -> NDArray[np.float64]:
    """Return the other spines close enough to touch spine ``index``'s aperture or shell."""
    reach = (aperture.shell_outer + 1) * aperture.radius_xy
    lateral = np.hypot(*(positions[:, 1:] - positions[index, 1:]).T)
    close = (lateral <= reach) & np.all(np.isfinite(positions), axis=1)
    close[index] = False
    return positions[close]


def _frame_mean(stack: NDArray) -> NDArray[np.float32]:
    """Return the mean over frames of a (frames, planes, rows, columns) stack.

    Written plane by plane into a temporary memory-mapped file, so memory holds one plane.
    """
    import tempfile

    with tempfile.TemporaryFile() as handle:  # the map keeps its own descriptor
        mean = np.memmap(handle, dtype=np.float32, mode="w+", shape=stack.shape[1:])
    for z in range(stack.shape[1]):
        mean[z] = np.asarray(stack[:, z], dtype=np.float64).mean(axis=0)
    return mean


def _background_level(volume: NDArray) -> float:
    """Return a rough background level: the median of a lateral subsample (≤ 128²/plane)."""
    rows, cols = volume.shape[1:]
    return float(np.median(volume[:, :: max(1, rows // 128), :: max(1, cols // 128)]))


def _frame_shaft_peaks(
    stack: NDArray, shaft_points: NDArray[np.float64], used: NDArray[np.int64], aperture: Aperture
) -> list[list[tuple[float, float] | None]]:
    """Return each frame's shaft peaks at the points some spine is normalised by (else None)."""
    peaks = []
    for frame in stack:
        level = _background_level(frame)
        frame_peaks: list[tuple[float, float] | None] = [None] * len(shaft_points)
        for j in used:
            frame_peaks[j] = shaft_peak(frame, shaft_points[j], aperture, level)
        peaks.append(frame_peaks)
    return peaks


def _frame_spread_se(
    stack: NDArray,
    frame_peaks: list[list[tuple[float, float] | None]],
    centre: NDArray[np.float64],
    shaft_points: NDArray[np.float64],
    nearest: NDArray[np.int64],
    neighbours: NDArray[np.float64],
    aperture: Aperture,
    gain: float,
) -> float:
    """Return SD / sqrt(frames) of one spine's volume measured in each frame on its own.

    Every frame is measured at the same position and normalised by its own shaft peaks
    (:func:`_frame_shaft_peaks`); a frame where the spine or shaft cannot be measured is
    left out. NaN with fewer than :data:`MIN_FRAMES` usable frames.
    """
    volumes = []
    for frame, peaks in zip(stack, frame_peaks, strict=True):
        row, _ = _measure_one(
            frame, centre, peaks, shaft_points, nearest, neighbours, aperture, gain, -np.inf
        )
        if np.isfinite(row["volume"]):
            volumes.append(row["volume"])
    if len(volumes) < MIN_FRAMES:
        return float("nan")
    return float(np.std(volumes, ddof=1) / np.sqrt(len(volumes)))


def _projection_checked(stack: NDArray, step: int, session: SessionStack) -> NDArray[np.float32]:
    """Return the max projection over planes, block-max reduced by ``step`` pixels.

    Reads one plane at a time (memory stays at one plane) and raises on NaN or infinite
    intensities in a floating-point stack.
    """
    projection = None
    for plane in stack:
        values = np.asarray(plane, dtype=np.float32)
        if stack.dtype.kind == "f" and not np.isfinite(values).all():
            raise DataError("stack holds NaN or infinite intensities", source=str(session.path))
        projection = values if projection is None else np.maximum(projection, values)
    if step > 1:
        from skimage.measure import block_reduce

        projection = block_reduce(projection, (step, step), np.max)
    return projection.astype(np.float32)


def _crop(volume: NDArray, centre: NDArray[np.float64], aperture: Aperture) -> NDArray:
    """Return a lateral crop around a spine, max-projected over the aperture's planes."""
    size = 2 * CROP_HALF + 1
    out = np.full((size, size), np.nan, dtype=np.float32)
    if not np.all(np.isfinite(centre)):
        return out
    c = np.rint(centre).astype(int)
    depth = int(np.ceil(aperture.half_depth_z))
    z0, z1 = max(c[0] - depth, 0), min(c[0] + depth + 1, volume.shape[0])
    y0, y1 = max(c[1] - CROP_HALF, 0), min(c[1] + CROP_HALF + 1, volume.shape[1])
    x0, x1 = max(c[2] - CROP_HALF, 0), min(c[2] + CROP_HALF + 1, volume.shape[2])
    if z1 <= z0 or y1 <= y0 or x1 <= x0:
        return out
    block = np.asarray(volume[z0:z1, y0:y1, x0:x1], dtype=np.float32).max(axis=0)
    oy, ox = y0 - (c[1] - CROP_HALF), x0 - (c[2] - CROP_HALF)
    out[oy : oy + block.shape[0], ox : ox + block.shape[1]] = block
    return out


def _roi_order(rois: RoiTable):
    """Return a sort key putting spines in ROI-file order (times stay numeric)."""
    order = {spine_id: i for i, spine_id in enumerate(rois.spine_ids)}

    def key(column: pd.Series) -> pd.Series:
        if column.name == "spine_id":
            return column.map(order)
        return column

    return key
