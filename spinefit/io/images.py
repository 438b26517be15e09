"""Readers for two-photon image stacks (one 3-D TIFF per session) and their ROI tables.

Sessions come either from a folder (or a ``sessions.csv`` path) whose ``sessions.csv`` has
columns ``file,time_days`` (files relative to the CSV), or from a list of TIFF files with
their times given separately. Each stack is opened lazily: an uncompressed TIFF is
memory-mapped, so only the voxels a measurement touches are read; a compressed one is
decoded plane by plane into a temporary memory-mapped file, so memory stays bounded.

ROIs are one CSV with columns ``roi_id,kind,x,y,z``: ``x`` and ``y`` are pixel coordinates
(column, row, from 0) and ``z`` the plane (from 0) in the first session; ``kind`` is
``spine`` (a spine-head centre) or ``shaft`` (a point on the dendritic shaft). ImageJ/Fiji
ROI Manager files (``RoiSet.zip``, ``.roi``) are read into the same rows
(:mod:`spinefit.io.imagej_rois`).

Every problem raises :class:`~spinefit.errors.DataError` with one line naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spinefit.errors import ConfigError, DataError
from spinefit.io.imagej_rois import IMAGEJ_SUFFIXES, imagej_roi_table
from spinefit.io.tables import read_table, require_columns, shown_cell

__all__ = [
    "ROI_KINDS",
    "RoiTable",
    "SessionStack",
    "find_sessions",
    "open_stack",
    "read_rois",
]

SESSIONS_FILE = "sessions.csv"
"""Name of the sidecar table listing a folder's stacks and their times."""
ROI_KINDS = ("spine", "shaft")
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class SessionStack:
    """One imaging session: its TIFF file and its time (days)."""

    path: Path
    time_days: float


@dataclass(frozen=True)
class RoiTable:
    """Spine and shaft points of the first session.

    Attributes
    ----------
    spine_ids : list of str
        Spine ROI ids, in file order.
    spine_zyx : numpy.ndarray
        Spine centres, shape ``(n_spines, 3)``, (plane, row, column).
    shaft_zyx : numpy.ndarray
        Shaft points, shape ``(n_shaft, 3)``, (plane, row, column).
    source : str
        The ROI file.
    """

    spine_ids: list[str]
    spine_zyx: NDArray[np.float64]
    shaft_zyx: NDArray[np.float64]
    source: str


def find_sessions(
    inputs: Sequence[str | Path],
    *,
    session_times: Sequence[float] | None = None,
    interval_days: float | None = None,
) -> list[SessionStack]:
    """Return the sessions to measure, in time order.

    Parameters
    ----------
    inputs : sequence of str or Path
        One folder holding ``sessions.csv``, one ``sessions.csv`` (or other CSV with
        ``file,time_days`` columns), or two or more TIFF files (one per session, in time
        order).
    session_times : sequence of float, optional
        Times (days) of listed TIFF files, one per file.
    interval_days : float, optional
        Days between listed TIFF files (times 0, d, 2d, ...).

    Returns
    -------
    list of SessionStack
        Sorted by time.

    Raises
    ------
    DataError
        If a file is missing, the sessions table is malformed, or times repeat.
    ConfigError
        If times are given for a folder, or missing (or given twice) for a list of files.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise ConfigError("no stacks given: pass a folder with sessions.csv or TIFF files")
    if len(paths) == 1 and (paths[0].is_dir() or paths[0].suffix.lower() not in TIFF_SUFFIXES):
        if session_times is not None or interval_days is not None:
            raise ConfigError(
                "--session-times/--interval-days apply to a list of TIFF files; a folder "
                "takes its times from sessions.csv"
            )
        table = paths[0] / SESSIONS_FILE if paths[0].is_dir() else paths[0]
        sessions = _read_sessions_table(table)
    else:
        sessions = _listed_sessions(paths, session_times, interval_days)
    for session in sessions:
        if not session.path.is_file():
            raise DataError("stack file not found (missing session)", source=str(session.path))
    times = [s.time_days for s in sessions]
    if len(set(times)) != len(times):
        repeated = next(t for t in times if times.count(t) > 1)
        raise DataError(f"two sessions at time {repeated:g} days", source=str(paths[0]))
    if len(sessions) < 1:
        raise DataError("no sessions listed", source=str(paths[0]))
    return sorted(sessions, key=lambda s: s.time_days)


def _read_sessions_table(path: Path) -> list[SessionStack]:
    """Read a ``file,time_days`` table; files are relative to the table's folder."""
    if not path.exists():
        raise DataError(
            f"no {SESSIONS_FILE} (columns file,time_days) listing the stacks", source=str(path)
        )
    frame = read_table(path, as_text=True)
    require_columns(frame, ["file", "time_days"], str(path))
    sessions = []
    for row, (name, time) in enumerate(zip(frame["file"], frame["time_days"], strict=True)):
        if pd.isna(name) or not str(name).strip():
            raise DataError("empty file name", source=str(path), row=row + 1, column="file")
        try:
            days = float(time)
        except (TypeError, ValueError):
            days = float("nan")
        if not np.isfinite(days):
            raise DataError(
                f"time {shown_cell(time)} is not a number",
                source=str(path),
                row=row + 1,
                column="time_days",
            )
        sessions.append(SessionStack(path.parent / str(name).strip(), days))
    return sessions


def _listed_sessions(
    paths: list[Path], session_times: Sequence[float] | None, interval_days: float | None
) -> list[SessionStack]:
    """Pair listed TIFF files with times given as a list or an interval."""
    if (session_times is None) == (interval_days is None):
        raise ConfigError(
            "a list of stacks needs their times: pass --session-times t1,t2,... or "
            "--interval-days D (or give a folder with sessions.csv)"
        )
    if interval_days is not None:
        if not interval_days > 0:
            raise ConfigError(f"--interval-days must be positive, got {interval_days}")
        times = [i * float(interval_days) for i in range(len(paths))]
    else:
        times = [float(t) for t in session_times or []]
        if len(times) != len(paths):
            raise ConfigError(f"{len(paths)} stacks but {len(times)} session times")
    return [SessionStack(p, t) for p, t in zip(paths, times, strict=True)]


def open_stack(path: str | Path) -> NDArray:
    """Open one session's 3-D stack without reading it all into memory.

    Parameters
    ----------
    path : str or Path
        A single-channel TIFF with axes (plane, row, column), or repeated frames of one
        session as an ImageJ hyperstack with axes TZYX (frame, plane, row, column).

    Returns
    -------
    numpy.ndarray
        A read-only memory map (uncompressed TIFF) or an array backed by a temporary
        memory-mapped file (compressed TIFF), with the file's numeric dtype; 3-D, or
        4-D with frames first.

    Raises
    ------
    DataError
        If the file is unreadable, not 3-D (a single plane, or several channels), or its
        data are not real numbers.
    """
    import tifffile

    source = str(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(series.shape), np.dtype(series.dtype)
            file_axes = series.axes
            colour = series.keyframe.photometric in (
                tifffile.PHOTOMETRIC.RGB,
                tifffile.PHOTOMETRIC.YCBCR,
                tifffile.PHOTOMETRIC.PALETTE,
            )
    except FileNotFoundError:
        raise DataError("stack file not found (missing session)", source=source) from None
    except Exception as err:  # noqa: BLE001 - any reader failure means "not a TIFF stack"
        raise DataError(
            f"not a readable TIFF stack ({type(err).__name__})", source=source
        ) from None
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        raise DataError(
            f"TIFF data are {dtype} (not real numbers); expected integer or float intensities",
            source=source,
        )
    squeezed = tuple(n for n in shape if n > 1)
    axes = "".join(a for a, n in zip(file_axes, shape, strict=True) if n > 1)
    if colour:
        raise DataError(
            "TIFF holds colour (RGB/palette) images; expected one grey-level channel with axes "
            "(plane, row, column)",
            source=source,
        )
    frames = len(squeezed) == 4 and axes[0] == "T" and "C" not in axes
    if len(squeezed) != 3 and not frames:
        raise DataError(
            f"stack has shape {shape} (axes {file_axes}); expected one channel with axes "
            "(plane, row, column), or repeated frames as an ImageJ hyperstack with axes TZYX",
            source=source,
        )
    try:
        stack = tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or not contiguous: decode into a temporary memmap
        stack = tifffile.imread(path, out="memmap")
    except Exception as err:  # noqa: BLE001
        raise DataError(
            f"not a readable TIFF stack ({type(err).__name__})", source=source
        ) from None
    return stack.reshape(squeezed)


def read_rois(path: str | Path, shape: Sequence[int]) -> RoiTable:
    """Read the ROI table and check every point lies inside the first session's stack.

    Parameters
    ----------
    path : str or Path
        CSV (or TSV/Parquet) with columns ``roi_id, kind, x, y, z``, or an ImageJ/Fiji
        ``RoiSet.zip`` / ``.roi`` file (:mod:`spinefit.io.imagej_rois`).
    shape : sequence of int
        ``(planes, rows, columns)`` of the first session.

    Returns
    -------
    RoiTable
        Spine and shaft points.

    Raises
    ------
    DataError
        If a column is missing, a coordinate is not a number or lies outside the stack, a
        kind is unknown, an id repeats, or there is no spine or no shaft point.
    """
    source = str(path)
    if Path(path).suffix.lower() in IMAGEJ_SUFFIXES:
        frame = imagej_roi_table(path)
    else:
        frame = read_table(path, as_text=True)
    require_columns(frame, ["roi_id", "kind", "x", "y", "z"], source)
    kinds = frame["kind"].fillna("").astype(str).str.strip().str.lower()
    ids = frame["roi_id"].fillna("").astype(str).str.strip()
    for row, (kind, roi_id) in enumerate(zip(kinds, ids, strict=True)):
        if kind not in ROI_KINDS:
            raise DataError(
                f"kind {shown_cell(frame['kind'].iloc[row])} is not 'spine' or 'shaft'",
                source=source,
                row=row + 1,
                column="kind",
            )
        if not roi_id:
            raise DataError("empty roi_id", source=source, row=row + 1, column="roi_id")
    repeated = ids.duplicated()
    if repeated.any():
        row = int(np.argmax(repeated.to_numpy()))
        raise DataError(
            f"roi_id {ids.iloc[row]!r} repeats an earlier row",
            source=source,
            row=row + 1,
            column="roi_id",
        )
    zyx = np.column_stack([_coordinate(frame, c, source) for c in ("z", "y", "x")])
    upper = np.asarray(shape, dtype=float) - 1
    for axis, name, what in ((2, "x", "columns"), (1, "y", "rows"), (0, "z", "planes")):
        outside = (zyx[:, axis] < 0) | (zyx[:, axis] > upper[axis])
        if outside.any():
            row = int(np.argmax(outside))
            raise DataError(
                f"ROI {ids.iloc[row]!r} at {name} = {zyx[row, axis]:g} lies outside the "
                f"volume (the first stack has {int(upper[axis]) + 1} {what}, from 0)",
                source=source,
                row=row + 1,
                column=name,
            )
    spine = (kinds == "spine").to_numpy()
    if not spine.any():
        raise DataError("no spine ROIs (kind = spine)", source=source, column="kind")
    if spine.all():
        raise DataError(
            "no shaft ROIs (kind = shaft): each spine is normalised by the nearest shaft points",
            source=source,
            column="kind",
        )
    return RoiTable(
        spine_ids=list(ids[spine]),
        spine_zyx=zyx[spine],
        shaft_zyx=zyx[~spine],
        source=source,
    )


def _coordinate(frame: pd.DataFrame, column: str, source: str) -> NDArray[np.float64]:
    """Return a coordinate column as floats, raising on the first non-number."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{column} = {shown_cell(frame[column].iloc[row])} is not a number",
            source=source,
            row=row + 1,
            column=column,
        )
    return values
