"""Readers for chronic two-photon spine-volume time series.

Two layouts are accepted and both give the same Dataset:

* a **long table** (CSV, TSV or Parquet) with one row per spine per session, read by
  :func:`read_long_table`;
* a **wide matrix** (``.npy`` or CSV) with one row per spine and one column per session,
  read by :func:`read_wide_matrix`.

:func:`read_two_photon` picks the reader from the file. In every layout a volume of ``0``,
an empty cell or NaN means the spine is *absent* in that session; it is stored as NaN,
never as a volume of zero. Spines that are absent in every session are dropped and listed
in the ingestion report.

The Dataset has dims ``(spine, session)``, one variable ``volume`` (with ``units``), the
coords ``spine`` (spine ids as strings), ``session`` (0, 1, ...), ``time_days(session)``
and, when the input has them, the per-spine labels ``dendrite_id``, ``animal_id``,
``condition`` and ``treatment`` (plus any long-table columns named in ``label_columns``).
Its attrs record the source, a content hash, the spinefit version and the
:class:`~spinefit.io.ingestion_report.IngestionReport`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.tables import (
    combined_hash,
    file_hash,
    is_blank,
    label_text,
    load_npy,
    normalize_unit,
    read_table,
    require_columns,
    split_value_and_unit,
    table_columns,
)

LABEL_COLUMNS = (dims.DENDRITE_ID, dims.ANIMAL_ID, dims.CONDITION_LABEL, dims.TREATMENT)
"""Optional per-spine label columns of a long table, kept as coords on ``spine``."""
UNITS_COLUMNS = ("units", "volume_units")
"""Optional long-table columns naming the volume units (one value for the whole file)."""
SESSION_COLUMN = "session"
RESERVED_LABEL_NAMES = frozenset(
    {dims.SPINE, dims.SESSION, dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME, *UNITS_COLUMNS}
)
"""Names that cannot be extra label columns: they are already columns or coords."""
ATTR_DENDRITE_MAP = "dendrite_map"
"""Dataset attribute naming the dendrite map file a wide matrix was read with."""

REASON_NEVER_PRESENT = "never present"
REASON_NON_NUMERIC = "non-numeric volume"
REASON_NEGATIVE = "negative volume"
REASON_DUPLICATE = "duplicate spine/time"
REASON_MISSING_ID = "missing spine_id"
REASON_BAD_TIME = "non-numeric time"

ABSENT_NOTE = "volume 0, an empty cell or NaN marks a spine absent in that session (stored as NaN)"
LONG_ABSENT_NOTE = "a spine with no row for a session is absent in that session"

_ID_HEADERS = {"", "spine", "spine_id", "spineid", "spine id", "id", "spine_ids"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DAY_HEADER = re.compile(
    rf"^(?:(?:days?|d)\s*[_=:\-]?\s*(?P<after>{_NUMBER})|(?P<before>{_NUMBER})\s*(?:d|days?))$",
    re.IGNORECASE,
)
_LONG_MARKERS = (dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME)
_LONG_OPTIONS = {"interval_days", "volume_units", "drop_bad_rows", "label_columns"}
_WIDE_OPTIONS = {"interval_days", "session_times", "dendrite_map", "volume_units"}


# --------------------------------------------------------------------------- dispatch


def read_two_photon(path: str | Path, **options: Any) -> xr.Dataset:
    """Read a two-photon time series, choosing the long or wide reader from the file.

    A ``.npy`` file is a wide matrix. A table with a ``spine_id``, ``time_days`` or
    ``volume`` column (or a close misspelling of one) is a long table, unless its header
    is a spine-id column followed only by session times. Any other CSV is a wide matrix.

    Parameters
    ----------
    path : str or Path
        The file.
    **options
        Keyword options of :func:`read_long_table` or :func:`read_wide_matrix`. An option
        of the other reader that is set (not None, False or an empty list) raises
        :class:`ConfigError`; e.g. ``label_columns`` with a wide matrix.

    Returns
    -------
    xarray.Dataset
        See :func:`read_long_table`.

    Raises
    ------
    DataError
        If the file is malformed.
    ConfigError
        If an option does not apply to the file's layout.
    """
    unknown = set(options) - _LONG_OPTIONS - _WIDE_OPTIONS
    if unknown:
        raise TypeError(f"read_two_photon() got unexpected keyword argument(s) {sorted(unknown)}")
    suffix = Path(path).suffix.lower()
    is_long = suffix != ".npy" and _looks_long(table_columns(path))
    allowed = _LONG_OPTIONS if is_long else _WIDE_OPTIONS
    layout = "long table" if is_long else "wide matrix"
    for name, value in options.items():
        if name not in allowed and _is_set(value):
            raise ConfigError(f"option '{name}' does not apply to {path}, read as a {layout}")
    chosen = {name: value for name, value in options.items() if name in allowed}
    if is_long:
        return read_long_table(path, **chosen)
    return read_wide_matrix(path, **chosen)


def _is_set(value: Any) -> bool:
    """Return False for an option left at its default: None, False or an empty list."""
    if isinstance(value, list | tuple):
        return len(value) > 0
    return value is not None and value is not False


def _looks_long(columns: list[str]) -> bool:
    """Return True when a header names long-table columns rather than session times."""
    if len(columns) > 1 and all(_header_time(c) is not None for c in columns[1:]):
        return False
    names = [c.strip().lower() for c in columns]
    return any(difflib.get_close_matches(n, _LONG_MARKERS, n=1, cutoff=0.8) for n in names)


# --------------------------------------------------------------------------- long tables


def read_long_table(
    path: str | Path,
    *,
    interval_days: float | None = None,
    volume_units: str | None = None,
    drop_bad_rows: bool = False,
    label_columns: Sequence[str] | None = None,
) -> xr.Dataset:
    """Read a long table with one row per spine per imaging session.

    Parameters
    ----------
    path : str or Path
        CSV, TSV or Parquet file. Required columns: ``spine_id``, ``volume`` and either
        ``time_days`` or ``session`` (a session number, multiplied by `interval_days`).
        Optional columns: ``dendrite_id``, ``animal_id``, ``condition`` and ``treatment``
        (per-spine labels; constant within a spine, empty cells are ignored), and
        ``units`` or ``volume_units`` (one unit for the whole file). Volumes may carry a
        unit suffix (``"0.5 um3"``); all units in a file must agree. Other columns are
        ignored and named in the report.
    interval_days : float, optional
        Days between sessions; required when times are given as ``session`` numbers.
    volume_units : str, optional
        Units of the volumes. Must agree with any units written in the file; defaults to
        those, else to :data:`spinefit.dims.DEFAULT_VOLUME_UNITS`.
    drop_bad_rows : bool, default False
        Drop rows with an empty spine id, a non-numeric time, a non-numeric or negative
        volume, and exact duplicates of an earlier row, listing each in the report,
        instead of raising. Conflicting duplicates, unsorted times, mixed units and
        missing columns always raise.
    label_columns : sequence of str, optional
        Further per-spine label columns to keep as string coords on ``spine``, beyond
        ``dendrite_id``, ``animal_id``, ``condition`` and ``treatment`` and under the
        same rules (constant within a spine, empty cells ignored, ``""`` for a spine
        with no value).

    Returns
    -------
    xarray.Dataset
        Dims ``(spine, session)``. ``volume`` is NaN where a spine is absent (volume 0,
        empty, NaN, or no row for that session). Sessions are the sorted union of the
        times in the table. Spines are in order of first appearance; spines never present
        are dropped. The ingestion report (``attrs["ingestion_report"]``) accounts for
        every row.

    Raises
    ------
    DataError
        If the table is malformed or lacks a column named in `label_columns`; the
        message names the file, the 1-based data row (header excluded) and the column.
    ConfigError
        If `interval_days` is not a positive number, or `label_columns` names a column
        that already has another role (``spine_id``, ``time_days``, ``volume``, ...).

    Notes
    -----
    Within one spine, rows must be in time order: a time earlier than the spine's
    previous row is taken as a sign of mis-sorted or mislabelled data and raises.
    """
    source = str(path)
    interval_days = _check_interval(interval_days)
    extra_labels = check_label_columns(label_columns, RESERVED_LABEL_NAMES)
    frame = read_table(path, as_text=True)
    report = IngestionReport(source=source, rows_read=len(frame))
    report.notes += [ABSENT_NOTE, LONG_ABSENT_NOTE]

    require_columns(frame, [dims.SPINE_ID], source)
    time_column = _long_time_column(frame, source, interval_days, report)
    require_columns(frame, [dims.VOLUME], source)
    require_label_columns(frame, extra_labels, source)
    kept_labels = [c for c in LABEL_COLUMNS if c in frame.columns]
    kept_labels += [c for c in extra_labels if c not in kept_labels]
    units_columns = [c for c in UNITS_COLUMNS if c in frame.columns]
    used = {dims.SPINE_ID, time_column, dims.VOLUME, *kept_labels, *units_columns}
    ignored = [c for c in frame.columns if c not in used]
    if ignored:
        report.notes.append(f"ignored columns: {', '.join(ignored)}")
    if extra_labels:
        report.notes.append(f"label columns kept: {', '.join(extra_labels)}")

    spine = label_text(frame[dims.SPINE_ID])
    label_cells = {c: label_text(frame[c]) for c in kept_labels}
    times, bad_time = _parse_times(frame, time_column, interval_days, source)
    volume, written_units, bad_volume = split_value_and_unit(frame[dims.VOLUME])
    bad_volume |= np.isinf(volume)
    volume[bad_volume] = np.nan
    units = _long_units(frame, units_columns, written_units, volume_units, source)

    keep = np.ones(len(frame), dtype=bool)
    _drop_bad_rows(
        frame, spine, bad_time, bad_volume, volume, time_column, keep, drop_bad_rows, report
    )
    _drop_duplicates(
        spine, times, volume, label_cells, keep, drop_bad_rows, report, source, time_column
    )
    _check_time_order(spine, times, keep, source, time_column)
    spine_labels = _spine_labels(spine, label_cells, keep, source)

    present = np.isfinite(volume) & (volume > 0)
    ever_present = pd.Series(spine).isin(set(spine[keep & present])).to_numpy()
    for position in np.flatnonzero(keep & ~ever_present):
        report.drop(int(position) + 1, REASON_NEVER_PRESENT, f"spine {spine[position]!r}")
        keep[position] = False
    if not keep.any():
        raise DataError(
            "no spine is present in any session (every volume is 0, empty or dropped)",
            source=source,
        )

    spine_ids = pd.unique(spine[keep])
    sessions = np.unique(times[keep])
    matrix = np.full((len(spine_ids), len(sessions)), np.nan)
    rows = pd.Index(spine_ids).get_indexer(spine[keep])
    columns = np.searchsorted(sessions, times[keep])
    matrix[rows, columns] = np.where(present[keep], volume[keep], np.nan)
    report.rows_kept = int(keep.sum())
    labels = {name: [spine_labels[name].get(s, "") for s in spine_ids] for name in kept_labels}
    return _time_series_dataset(
        matrix,
        [str(s) for s in spine_ids],
        sessions,
        labels,
        units,
        report,
        {dims.ATTR_SOURCE: source, dims.ATTR_CONTENT_HASH: file_hash(path)},
    )


def check_label_columns(
    label_columns: Sequence[str] | None, reserved: frozenset[str] | set[str]
) -> list[str]:
    """Return the requested extra label columns as a list without repeats.

    Parameters
    ----------
    label_columns : sequence of str, optional
        Column names; a single string names one column.
    reserved : set of str
        Names that already have a role in the Dataset (columns or coords).

    Returns
    -------
    list of str
        The names, stripped of surrounding whitespace, in the order given.

    Raises
    ------
    ConfigError
        If a name is empty or not a string, or is one of `reserved`.
    """
    if label_columns is None:
        return []
    if isinstance(label_columns, str):
        label_columns = [label_columns]
    names: list[str] = []
    for name in label_columns:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"label_columns must be non-empty column names, got {name!r}")
        if name.strip() in reserved:
            raise ConfigError(
                f"'{name.strip()}' cannot be a label column: spinefit already uses that name"
            )
        if name.strip() not in names:
            names.append(name.strip())
    return names


def require_label_columns(frame: pd.DataFrame, names: list[str], source: str) -> None:
    """Raise a one-line DataError for a requested label column the table lacks.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    names : list of str
        Requested label columns.
    source : str
        The file name, for the message.
    """
    present = [str(c) for c in frame.columns]
    for name in names:
        if name not in present:
            close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise DataError(
                f"no label column '{name}'; {hint}columns are {', '.join(present)}",
                source=source,
                column=name,
            )


def _check_interval(interval_days: float | None) -> float | None:
    """Return `interval_days` as a float, raising ConfigError unless it is positive."""
    if interval_days is None:
        return None
    try:
        value = float(interval_days)
    except (TypeError, ValueError):
        raise ConfigError(
            f"interval_days must be a number of days, got {interval_days!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"interval_days must be a positive number of days, got {interval_days!r}")
    return value


def _long_time_column(
    frame: pd.DataFrame, source: str, interval_days: float | None, report: IngestionReport
) -> str:
    """Return the column that gives each row's time, checking `interval_days` fits it."""
    if dims.TIME_DAYS in frame.columns:
        if interval_days is not None:
            report.notes.append("interval_days ignored: the table has a time_days column")
        return dims.TIME_DAYS
    if SESSION_COLUMN in frame.columns:
        if interval_days is None:
            raise DataError(
                "times are given as session numbers; pass --interval-days (days between "
                "sessions) to convert them to days, or give a time_days column",
                source=source,
                column=SESSION_COLUMN,
            )
        report.notes.append(f"time_days = session x {interval_days:g}")
        return SESSION_COLUMN
    present = list(frame.columns)
    close = difflib.get_close_matches(dims.TIME_DAYS, present, n=1, cutoff=0.5)
    close = close or difflib.get_close_matches(SESSION_COLUMN, present, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else f"; columns are {present}"
    raise DataError(
        f"missing required column 'time_days' (or 'session' with --interval-days){hint}",
        source=source,
        column=dims.TIME_DAYS,
    )


def _parse_times(
    frame: pd.DataFrame, column: str, interval_days: float | None, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's time in days and a mask of rows whose time is not a number."""
    numbers, units, unparseable = split_value_and_unit(frame[column])
    bad = unparseable | ~np.isfinite(numbers) | (units != "")
    numbers = np.where(bad, np.nan, numbers)
    if column != SESSION_COLUMN:
        return numbers, bad
    fractional = ~bad & (numbers != np.round(numbers))
    if fractional.any():
        position = int(np.argmax(fractional))
        raise DataError(
            f"session {_shown(frame[column].iloc[position])} is not a whole number",
            source=source,
            row=position + 1,
            column=column,
        )
    with np.errstate(over="ignore"):  # an absurd session number overflows to inf
        times = numbers * float(interval_days)
    return times, bad | ~np.isfinite(times)


def _long_units(
    frame: pd.DataFrame,
    units_columns: list[str],
    written_units: np.ndarray,
    volume_units: str | None,
    source: str,
) -> str:
    """Return the one volume unit of a long table, raising on mixed units."""
    declared = {c: label_text(frame[c]) for c in units_columns}
    declared[dims.VOLUME] = written_units
    first: tuple[str, int, str] | None = None
    for position in range(len(frame)):
        for column, cells in declared.items():
            unit = cells[position]
            if not unit:
                continue
            if first is None:
                first = (unit, position + 1, column)
            elif normalize_unit(unit) != normalize_unit(first[0]):
                raise DataError(
                    f"mixed units: {unit!r} here but {first[0]!r} at row {first[1]} "
                    f"(column '{first[2]}'); convert all volumes to one unit",
                    source=source,
                    row=position + 1,
                    column=column,
                )
    return _resolve_units(first, volume_units, source)


def _resolve_units(
    first: tuple[str, int, str] | None, volume_units: str | None, source: str
) -> str:
    """Combine the units written in a file with the `volume_units` option."""
    if first is None:
        return volume_units or dims.DEFAULT_VOLUME_UNITS
    if volume_units is not None and normalize_unit(volume_units) != normalize_unit(first[0]):
        raise DataError(
            f"volume_units {volume_units!r} was given but the file gives {first[0]!r}",
            source=source,
            row=first[1],
            column=first[2],
        )
    return volume_units or first[0]


def _drop_bad_rows(
    frame: pd.DataFrame,
    spine: np.ndarray,
    bad_time: np.ndarray,
    bad_volume: np.ndarray,
    volume: np.ndarray,
    time_column: str,
    keep: np.ndarray,
    drop_bad_rows: bool,
    report: IngestionReport,
) -> None:
    """Raise on the first unusable row, or drop every such row when `drop_bad_rows`."""
    checks = [
        (spine == "", REASON_MISSING_ID, dims.SPINE_ID, "spine_id is empty"),
        (bad_time, REASON_BAD_TIME, time_column, "time {} is not a finite number"),
        (bad_volume, REASON_NON_NUMERIC, dims.VOLUME, "volume {} is not a number"),
        (volume < 0, REASON_NEGATIVE, dims.VOLUME, "volume {} is negative"),
    ]
    for position in np.flatnonzero(np.any([mask for mask, *_ in checks], axis=0)):
        _, reason, column, message = next(c for c in checks if c[0][position])
        shown = _shown(frame[column].iloc[position])
        if not drop_bad_rows:
            raise DataError(
                message.format(shown) + "; fix it or pass --drop-bad-rows to drop such rows",
                source=report.source,
                row=int(position) + 1,
                column=column,
            )
        report.drop(int(position) + 1, reason, f"{column} = {shown}")
        keep[position] = False


def _drop_duplicates(
    spine: np.ndarray,
    times: np.ndarray,
    volume: np.ndarray,
    label_cells: dict[str, np.ndarray],
    keep: np.ndarray,
    drop_bad_rows: bool,
    report: IngestionReport,
    source: str,
    time_column: str,
) -> None:
    """Raise on rows repeating an earlier (spine, time), or drop exact repeats."""
    kept = np.flatnonzero(keep)
    repeated = pd.DataFrame({"spine": spine[kept], "time": times[kept]}).duplicated().to_numpy()
    if not repeated.any():
        return
    first_row: dict[tuple[str, float], int] = {}
    for position in kept:
        first_row.setdefault((spine[position], times[position]), position)
    for position in kept[repeated]:
        first = first_row[(spine[position], times[position])]
        where = f"spine {spine[position]!r} at time {times[position]:g} days"
        differing = [] if _same_volume(volume[position], volume[first]) else [dims.VOLUME]
        differing += [c for c, text in label_cells.items() if text[position] != text[first]]
        if differing:
            raise DataError(
                f"conflicting duplicate: {where} already has a row ({first + 1}) with a "
                f"different {differing[0]}",
                source=source,
                row=int(position) + 1,
                column=differing[0],
            )
        if not drop_bad_rows:
            raise DataError(
                f"duplicate row: {where} repeats row {first + 1}; remove it or pass "
                "--drop-bad-rows",
                source=source,
                row=int(position) + 1,
                column=time_column,
            )
        report.drop(int(position) + 1, REASON_DUPLICATE, f"same as row {first + 1}")
        keep[position] = False


def _check_time_order(
    spine: np.ndarray, times: np.ndarray, keep: np.ndarray, source: str, time_column: str
) -> None:
    """Raise if, within one spine, a row's time is earlier than the spine's previous row."""
    kept = np.flatnonzero(keep)
    previous = pd.Series(times[kept]).groupby(spine[kept]).shift().to_numpy()
    backwards = times[kept] < previous
    if backwards.any():
        index = int(np.argmax(backwards))
        position = kept[index]
        raise DataError(
            f"unsorted times: spine {spine[position]!r} goes from {previous[index]:g} to "
            f"{times[position]:g} days; sort each spine's rows by time",
            source=source,
            row=int(position) + 1,
            column=time_column,
        )


def _spine_labels(
    spine: np.ndarray, label_cells: dict[str, np.ndarray], keep: np.ndarray, source: str
) -> dict[str, dict[str, str]]:
    """Return each label column's value per spine, raising if a spine's label changes."""
    labels: dict[str, dict[str, str]] = {}
    for column, text in label_cells.items():
        given = np.flatnonzero(keep & (text != ""))
        first = pd.Series(text[given]).groupby(spine[given]).transform("first").to_numpy()
        changed = text[given] != first
        if changed.any():
            index = int(np.argmax(changed))
            position = given[index]
            raise DataError(
                f"{column} {text[position]!r} differs from {first[index]!r} given earlier for "
                f"spine {spine[position]!r}; a spine's labels must not change (if spine ids "
                "restart per animal or dendrite, make them unique)",
                source=source,
                row=int(position) + 1,
                column=column,
            )
        labels[column] = dict(zip(spine[given], first, strict=True))
    return labels


# --------------------------------------------------------------------------- wide matrices


def read_wide_matrix(
    path: str | Path,
    *,
    interval_days: float | None = None,
    session_times: list[float] | None = None,
    dendrite_map: str | Path | None = None,
    volume_units: str | None = None,
) -> xr.Dataset:
    """Read a matrix with one row per spine and one column per imaging session.

    Parameters
    ----------
    path : str or Path
        A ``.npy`` file holding a 2-D numeric array, or a CSV/TSV/Parquet table. A text
        table may have:

        * a **header row**. A first row with any non-numeric cell is a header. Its cells
          give session times when every one is a number of days (``0,4,8``) or a day
          label (``day0``, ``day 4``, ``4d``). A first row of numbers only is a header
          when it equals the given `session_times` (or multiples of `interval_days`), or,
          with neither given, when it is strictly increasing whole numbers. A header of
          ``0, 1, ..., n-1`` or ``1, ..., n`` is taken as column numbers, not days.
        * a **first column of spine ids**, recognised when its header cell is empty (as
          pandas writes an index) or one of ``spine``, ``spine_id``, ``id``, or when
          every cell in it is non-numeric (``s1``, ``s2``, ...).

        Cells hold volumes, optionally with a unit suffix. A Parquet table always has a
        header. Without spine ids, spines are named ``s0000``, ``s0001``, ... after their
        0-based row.
    interval_days : float, optional
        Days between consecutive sessions (session ``j`` is at ``j * interval_days``).
    session_times : list of float, optional
        The time of each session in days, strictly increasing. Give this or
        `interval_days` unless a header gives the times.
    dendrite_map : str or Path, optional
        A ``.npy`` with one dendrite index (or label) per matrix row, stored as the
        ``dendrite_id`` coord.
    volume_units : str, optional
        Units of the volumes; must agree with any unit written in the cells.

    Returns
    -------
    xarray.Dataset
        As :func:`read_long_table`. The ingestion report counts matrix rows (spines).

    Raises
    ------
    DataError
        If the file or map is malformed or no session times can be found; messages name
        the file, the 1-based data row and the column (for ``.npy`` and header-less
        tables, the 1-based column number).
    ConfigError
        If both `interval_days` and `session_times` are given, or `interval_days` is not
        a positive number.
    """
    source = str(path)
    interval_days = _check_interval(interval_days)
    if interval_days is not None and session_times is not None:
        raise ConfigError("give interval_days or session_times, not both")
    report = IngestionReport(source=source)
    report.notes.append(ABSENT_NOTE)
    if Path(path).suffix.lower() == ".npy":
        matrix = load_npy(path)
        if matrix.ndim != 2 or matrix.dtype.kind not in "iuf" or 0 in matrix.shape:
            raise DataError(
                f"expected a non-empty 2-D numeric array (spines x sessions), found shape "
                f"{matrix.shape} and dtype {matrix.dtype}",
                source=source,
            )
        table = _WideTable(
            cells=pd.DataFrame(matrix.astype(float)),
            spine_ids=None,
            column_labels=[str(j + 1) for j in range(matrix.shape[1])],
            header_times=None,
            header_is_column_numbers=False,
        )
    else:
        table = _read_wide_text(path, source, interval_days, session_times, report)
    matrix, first_unit = _parse_cells(table, source)
    units = _resolve_units(first_unit, volume_units, source)
    n_rows, n_sessions = matrix.shape
    times = _resolve_times(table, n_sessions, interval_days, session_times, source, report)

    spine_ids = table.spine_ids
    if spine_ids is None:
        width = max(4, len(str(n_rows - 1)))
        spine_ids = [f"s{row:0{width}d}" for row in range(n_rows)]
    labels: dict[str, list[str]] = {}
    attrs = {dims.ATTR_SOURCE: source}
    if dendrite_map is not None:
        labels[dims.DENDRITE_ID] = _load_dendrite_map(dendrite_map, n_rows, source)
        attrs[dims.ATTR_CONTENT_HASH] = combined_hash([path, dendrite_map])
        attrs[ATTR_DENDRITE_MAP] = str(dendrite_map)
        report.notes.append(f"dendrite_id from {dendrite_map}; content_hash covers both files")
    else:
        attrs[dims.ATTR_CONTENT_HASH] = file_hash(path)

    report.rows_read = n_rows
    ever_present = np.any(matrix > 0, axis=1)
    for row in np.flatnonzero(~ever_present):
        report.drop(int(row) + 1, REASON_NEVER_PRESENT, f"spine {spine_ids[row]!r}")
    if not ever_present.any():
        raise DataError(
            "no spine is present in any session (every volume is 0 or empty)", source=source
        )
    report.rows_kept = int(ever_present.sum())
    matrix = np.where(matrix > 0, matrix, np.nan)[ever_present]
    return _time_series_dataset(
        matrix,
        [spine_ids[row] for row in np.flatnonzero(ever_present)],
        times,
        {
            name: [values[row] for row in np.flatnonzero(ever_present)]
            for name, values in labels.items()
        },
        units,
        report,
        attrs,
    )


@dataclass
class _WideTable:
    """A wide matrix split into its parts before the volumes are parsed."""

    cells: pd.DataFrame
    spine_ids: list[str] | None
    column_labels: list[str]
    header_times: np.ndarray | None
    header_is_column_numbers: bool


def _read_wide_text(
    path: str | Path,
    source: str,
    interval_days: float | None,
    session_times: list[float] | None,
    report: IngestionReport,
) -> _WideTable:
    """Split a CSV/TSV/Parquet matrix into header, spine-id column and volume cells."""
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        body = read_table(path)
        header: list[str] | None = list(body.columns)
    else:
        raw = read_table(path, header=False, as_text=True)
        first_row = raw.iloc[0].tolist()
        header = None
        body = raw
        if _first_row_is_header(first_row, len(raw), interval_days, session_times):
            header = ["" if is_blank(c) else str(c).strip() for c in first_row]
            body = raw.iloc[1:].reset_index(drop=True)
            report.notes.append("first row read as a header")
    if body.empty:
        raise DataError("no data rows below the header", source=source)

    spine_ids = None
    offset = 0
    if _has_id_column(header, body.iloc[:, 0]):
        id_column = (header[0] if header and header[0] else None) or "1"
        spine_ids = list(label_text(body.iloc[:, 0]))
        _check_matrix_ids(spine_ids, source, id_column)
        body = body.iloc[:, 1:]
        offset = 1
    if body.shape[1] == 0:
        raise DataError("no session columns besides the spine ids", source=source)
    n_sessions = body.shape[1]
    numbers = [str(offset + j + 1) for j in range(n_sessions)]
    session_header = header[offset:] if header is not None else None
    labels = [h or n for h, n in zip(session_header, numbers, strict=True)] if header else numbers

    header_times = None
    column_numbers = False
    if session_header is not None:
        parsed = [_header_time(h) for h in session_header]
        if all(t is not None for t in parsed):
            header_times = np.array(parsed, dtype=float)
            plain = all(_cell_kind(h) == "number" for h in session_header)
            column_numbers = plain and _are_column_numbers(header_times)
    return _WideTable(
        cells=body.reset_index(drop=True).set_axis(range(n_sessions), axis=1),
        spine_ids=spine_ids,
        column_labels=labels,
        header_times=header_times,
        header_is_column_numbers=column_numbers,
    )


def _first_row_is_header(
    first_row: list[Any],
    n_rows: int,
    interval_days: float | None,
    session_times: list[float] | None,
) -> bool:
    """Decide whether the first line of a header-less read is a header (see read_wide_matrix)."""
    kinds = [_cell_kind(c) for c in first_row]
    if kinds[0] == "day" or any(k in ("text", "day") for k in kinds[1:]):
        return True
    if kinds[0] == "text" and str(first_row[0]).strip().lower() in _ID_HEADERS:
        return True
    if n_rows < 2:
        return False
    # Only numbers follow; as in "0,4,8" or ",0,4,8" they may be session times or data.
    candidate = first_row[1:] if kinds[0] in ("blank", "text") else first_row
    if not candidate or any(_cell_kind(c) != "number" for c in candidate):
        return False
    values = np.array([float(str(c)) for c in candidate])
    if not np.all(np.diff(values) > 0):
        return False
    explicit = _explicit_times(interval_days, session_times, len(values))
    if explicit is not None and len(explicit) == len(values) and np.allclose(values, explicit):
        return True
    whole = bool(np.all(values == np.round(values)))
    return whole and (explicit is None or _are_column_numbers(values))


def _explicit_times(
    interval_days: float | None, session_times: list[float] | None, n_sessions: int
) -> np.ndarray | None:
    """Return the session times given as options, or None."""
    if session_times is not None:
        try:
            times = np.asarray(session_times, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(
                f"session_times must be numbers of days, got {session_times!r}"
            ) from None
        if times.ndim != 1:
            raise ConfigError(f"session_times must be a flat list of days, got {session_times!r}")
        return times
    if interval_days is not None:
        with np.errstate(over="ignore"):  # rejected later as a non-finite session time
            return np.arange(n_sessions) * float(interval_days)
    return None


def _are_column_numbers(values: np.ndarray) -> bool:
    """Return True for ``0, 1, ..., n-1`` or ``1, ..., n``: column numbers, not days."""
    count = np.arange(len(values))
    return bool(np.array_equal(values, count) or np.array_equal(values, count + 1))


def _has_id_column(header: list[str] | None, first_column: pd.Series) -> bool:
    """Return True when the first column of a wide table holds spine ids."""
    if header is not None:
        if header[0].strip().lower() in _ID_HEADERS:
            return True
        if _header_time(header[0]) is not None:
            return False
    given = [c for c in first_column.tolist() if not is_blank(c)]
    if not given:
        return False
    _, _, unparseable = split_value_and_unit(pd.Series(given, dtype=object))
    return bool(unparseable.all())


def _check_matrix_ids(spine_ids: list[str], source: str, column: str) -> None:
    """Raise on an empty or repeated spine id in a wide table's id column."""
    first_row: dict[str, int] = {}
    for row, spine_id in enumerate(spine_ids, start=1):
        if not spine_id:
            raise DataError("spine id is empty", source=source, row=row, column=column)
        if spine_id in first_row:
            raise DataError(
                f"spine id {spine_id!r} repeats row {first_row[spine_id]}",
                source=source,
                row=row,
                column=column,
            )
        first_row[spine_id] = row


def _parse_cells(table: _WideTable, source: str) -> tuple[np.ndarray, tuple[str, int, str] | None]:
    """Parse the volume cells of a wide matrix; return the matrix and the first unit seen."""
    cells = table.cells
    n_rows, n_sessions = cells.shape
    matrix = np.empty((n_rows, n_sessions))
    units = np.empty((n_rows, n_sessions), dtype=object)
    bad = np.zeros((n_rows, n_sessions), dtype=bool)
    for j in range(n_sessions):
        matrix[:, j], units[:, j], bad[:, j] = split_value_and_unit(cells.iloc[:, j])
    bad |= np.isinf(matrix)
    for mask, message in (
        (bad, "volume {} is not a number"),
        (matrix < 0, "volume {} is negative"),
    ):
        if mask.any():
            row, column = np.argwhere(mask)[0]
            raise DataError(
                message.format(_shown(cells.iat[row, column])),
                source=source,
                row=int(row) + 1,
                column=table.column_labels[column],
            )
    written = np.argwhere(units != "")
    if len(written) == 0:
        return matrix, None
    row, column = written[0]
    first = (str(units[row, column]), int(row) + 1, table.column_labels[column])
    for row, column in written:
        if normalize_unit(units[row, column]) != normalize_unit(first[0]):
            raise DataError(
                f"mixed units: {units[row, column]!r} here but {first[0]!r} at row {first[1]} "
                f"(column '{first[2]}'); convert all volumes to one unit",
                source=source,
                row=int(row) + 1,
                column=table.column_labels[column],
            )
    return matrix, first


def _resolve_times(
    table: _WideTable,
    n_sessions: int,
    interval_days: float | None,
    session_times: list[float] | None,
    source: str,
    report: IngestionReport,
) -> np.ndarray:
    """Return the session times in days from the options and/or the header."""
    explicit = _explicit_times(interval_days, session_times, n_sessions)
    origin = "session_times" if session_times is not None else "interval_days"
    if explicit is not None and len(explicit) != n_sessions:
        raise DataError(
            f"session_times has {len(explicit)} values but the matrix has {n_sessions} "
            "session columns",
            source=source,
        )
    header = table.header_times
    if header is not None and table.header_is_column_numbers:
        if explicit is None:
            raise DataError(
                "the header row (0, 1, 2, ...) looks like column numbers, not days; pass "
                "--interval-days or --session-times",
                source=source,
            )
        if not np.allclose(header, explicit):
            report.notes.append("header row read as column numbers, not session times")
            header = None
    if header is not None and explicit is not None and not np.allclose(header, explicit):
        raise DataError(
            f"the header gives session times {_days(header)} but {origin} gives {_days(explicit)}",
            source=source,
        )
    times = explicit if explicit is not None else header
    if times is None:
        raise DataError(
            "no session times: pass --interval-days (e.g. 4) or --session-times, or give a "
            "header row of times in days",
            source=source,
        )
    if explicit is None:
        report.notes.append(f"session times from the header row: {_days(times)}")
    not_finite = ~np.isfinite(times)
    if not_finite.any():
        column = int(np.argmax(not_finite))
        raise DataError(
            "session time is not a finite number", source=source, column=table.column_labels[column]
        )
    backwards = np.diff(times) <= 0
    if backwards.any():
        column = int(np.argmax(backwards)) + 1
        raise DataError(
            f"session times are not strictly increasing: {times[column - 1]:g} then "
            f"{times[column]:g} days",
            source=source,
            column=table.column_labels[column],
        )
    return times


def _load_dendrite_map(map_path: str | Path, n_rows: int, source: str) -> list[str]:
    """Load a per-row dendrite map and return its entries as strings."""
    map_source = str(map_path)
    array = load_npy(map_path)
    if array.ndim == 2 and 1 in array.shape:
        array = array.ravel()
    if array.ndim != 1:
        raise DataError(
            f"a dendrite map must be 1-D (one entry per spine row), found shape {array.shape}",
            source=map_source,
        )
    if len(array) != n_rows:
        raise DataError(
            f"the dendrite map has {len(array)} entries but {source} has {n_rows} spine rows",
            source=map_source,
        )
    if array.dtype.kind == "f":
        not_finite = ~np.isfinite(array)
        if not_finite.any():
            row = int(np.argmax(not_finite))
            raise DataError(
                f"dendrite index {array[row]} is not a finite number",
                source=map_source,
                row=row + 1,
            )
        return [str(int(v)) if float(v).is_integer() else f"{v:g}" for v in array]
    if array.dtype.kind in "iu":
        return [str(int(v)) for v in array]
    if array.dtype.kind in "US":
        return list(label_text(pd.Series(array, dtype=object)))
    raise DataError(
        f"a dendrite map must hold numbers or strings, found dtype {array.dtype}", source=map_source
    )


# --------------------------------------------------------------------------- shared


def _time_series_dataset(
    matrix: np.ndarray,
    spine_ids: list[str],
    times: np.ndarray,
    labels: dict[str, list[str]],
    units: str,
    report: IngestionReport,
    attrs: dict[str, str],
) -> xr.Dataset:
    """Assemble the (spine, session) Dataset every two-photon reader returns."""
    report.check_accounted()
    coords: dict[str, Any] = {
        dims.SPINE: (dims.SPINE, np.asarray(spine_ids, dtype=str), {"long_name": "spine id"}),
        dims.SESSION: (
            dims.SESSION,
            np.arange(len(times), dtype=np.int64),
            {"long_name": "imaging session index"},
        ),
        dims.TIME_DAYS: (
            dims.SESSION,
            np.asarray(times, dtype=np.float64),
            {"units": dims.DAY, "long_name": "time of imaging session"},
        ),
    }
    for name, values in labels.items():
        coords[name] = (dims.SPINE, np.asarray(values, dtype=str))
    volume = (
        (dims.SPINE, dims.SESSION),
        np.asarray(matrix, dtype=np.float64),
        {"units": units, "long_name": "spine volume (NaN where the spine is absent)"},
    )
    dataset = xr.Dataset({dims.VOLUME: volume}, coords=coords)
    dataset.attrs = {
        dims.ATTR_SOURCE: attrs[dims.ATTR_SOURCE],
        dims.ATTR_CONTENT_HASH: attrs[dims.ATTR_CONTENT_HASH],
        dims.ATTR_VERSION: __version__,
        dims.ATTR_DATA_KIND: dims.KIND_TIME_SERIES,
        dims.ATTR_INGESTION_REPORT: report.to_json(),
        **{k: v for k, v in attrs.items() if k not in (dims.ATTR_SOURCE, dims.ATTR_CONTENT_HASH)},
    }
    return dataset


def _cell_kind(cell: Any) -> str:
    """Classify a cell as "blank", "number", "quantity" (number + unit), "day" or "text"."""
    if is_blank(cell):
        return "blank"
    text = str(cell).strip()
    if _DAY_HEADER.match(text):
        return "day"
    numbers, units, unparseable = split_value_and_unit(pd.Series([text], dtype=object))
    if unparseable[0]:
        return "text"
    if math.isnan(numbers[0]):
        return "blank"
    return "quantity" if units[0] else "number"


def _header_time(cell: Any) -> float | None:
    """Return the time in days a header cell names (``4``, ``day4``, ``4d``), else None."""
    if is_blank(cell):
        return None
    text = str(cell).strip()
    match = _DAY_HEADER.match(text)
    if match:
        value = float(match["after"] or match["before"])
    elif re.fullmatch(_NUMBER, text):
        value = float(text)
    else:
        return None
    return value if math.isfinite(value) else None


def _shown(cell: Any) -> str:
    """Return a short one-line rendering of a cell for an error message."""
    if is_blank(cell):
        return "(empty)"
    if isinstance(cell, np.generic):
        cell = cell.item()
    text = repr(str(cell).strip() if isinstance(cell, str) else cell)
    return text if len(text) <= 40 else text[:37] + "..."


def _same_volume(a: float, b: float) -> bool:
    """Return True if two parsed volumes agree; 0 and NaN both mean absent."""
    a_absent = math.isnan(a) or a == 0
    b_absent = math.isnan(b) or b == 0
    return (a_absent and b_absent) or a == b


def _days(times: np.ndarray) -> str:
    """Format session times for a message."""
    shown = ", ".join(f"{t:g}" for t in times[:8])
    return f"[{shown}{', ...' if len(times) > 8 else ''}]"
