"""Readers for chronic two-photon spine-volume time series.

Two layouts are accepted and both give the same Dataset:

* a **long table** (CSV, TSV or Parquet) with one row per spine per session, read by
  :func:`read_long_table`;
* a **wide matrix** (``.npy`` or CSV) with one row per spine and one column per session,
  read by :func:`spinefit.io.wide_matrix.read_wide_matrix`.

:func:`read_two_photon` picks the reader from the file. In every layout a volume of ``0``,
an empty cell or NaN means the spine is *absent* in that session; it is stored as NaN,
never as a volume of zero. Spines that are absent in every session are dropped and listed
in the ingestion report.

The Dataset (built by :func:`spinefit.io.time_series.time_series_dataset`) has dims
``(spine, session)``, one variable ``volume`` (with ``units``), the coords ``spine`` (spine
ids as strings), ``session`` (0, 1, ...), ``time_days(session)`` and, when the input has
them, the per-spine labels ``dendrite_id``, ``animal_id``, ``condition`` and ``treatment``
(plus any long-table columns named in ``label_columns``). Its attrs record the source, a
content hash, the spinefit version and the
:class:`~spinefit.io.ingestion_report.IngestionReport`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.tables import (
    check_label_columns,
    file_hash,
    label_text,
    normalize_unit,
    read_table,
    require_columns,
    require_label_columns,
    shown_cell,
    split_value_and_unit,
    table_columns,
)
from spinefit.io.time_series import (
    ABSENT_NOTE,
    REASON_NEVER_PRESENT,
    check_interval_days,
    resolve_volume_units,
    time_series_dataset,
)
from spinefit.io.wide_matrix import header_time, read_wide_matrix

LABEL_COLUMNS = (dims.DENDRITE_ID, dims.ANIMAL_ID, dims.CONDITION_LABEL, dims.TREATMENT)
"""Optional per-spine label columns of a long table, kept as coords on ``spine``."""
UNITS_COLUMNS = ("units", "volume_units")
"""Optional long-table columns naming the volume units (one value for the whole file)."""
SESSION_COLUMN = "session"
RESERVED_LABEL_NAMES = frozenset(
    {dims.SPINE, dims.SESSION, dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME, *UNITS_COLUMNS}
)
"""Names that cannot be extra label columns: they are already columns or coords."""

REASON_NON_NUMERIC = "non-numeric volume"
REASON_NEGATIVE = "negative volume"
REASON_DUPLICATE = "duplicate spine/time"
REASON_MISSING_ID = "missing spine_id"
REASON_BAD_TIME = "non-numeric time"

LONG_ABSENT_NOTE = "a spine with no row for a session is absent in that session"

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
    if len(columns) > 1 and all(header_time(c) is not None for c in columns[1:]):
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
    interval_days = check_interval_days(interval_days)
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
    if dims.VOLUME_SE in frame.columns:
        used.add(dims.VOLUME_SE)
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
    standard_error = None
    if dims.VOLUME_SE in frame.columns:
        standard_error = _standard_errors(frame, keep, present, rows, columns, report)
    dataset = time_series_dataset(
        matrix,
        [str(s) for s in spine_ids],
        sessions,
        labels,
        units,
        report,
        {dims.ATTR_SOURCE: source, dims.ATTR_CONTENT_HASH: file_hash(path)},
    )
    if standard_error is not None:
        dataset[dims.VOLUME_SE] = (
            (dims.SPINE, dims.SESSION),
            standard_error,
            {"units": units, "long_name": "standard error of the volume (NaN where unknown)"},
        )
    return dataset


def _standard_errors(
    frame: pd.DataFrame,
    keep: np.ndarray,
    present: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    report: IngestionReport,
) -> np.ndarray:
    """Return the (spine, session) matrix of the ``volume_se`` column (NaN where unknown).

    ``rows`` and ``columns`` place the kept rows in the volume matrix. A standard error
    that is not a non-negative number leaves the row's volume in place; it is counted in a
    report note and stored as NaN (unknown).
    """
    values, _, bad = split_value_and_unit(frame[dims.VOLUME_SE])
    bad |= ~np.isfinite(values) | (values < 0)
    written = frame[dims.VOLUME_SE].astype(str).str.strip().ne("").to_numpy()
    unusable = keep & present & bad & written
    if unusable.any():
        report.notes.append(
            f"{int(unusable.sum())} volume_se value(s) not a non-negative number: stored as unknown"
        )
    kept = np.flatnonzero(keep)
    seen = present[kept]
    matrix = np.full((rows.max() + 1, columns.max() + 1), np.nan)
    matrix[rows[seen], columns[seen]] = np.where(bad, np.nan, values)[kept[seen]]
    return matrix


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
            f"session {shown_cell(frame[column].iloc[position])} is not a whole number",
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
    return resolve_volume_units(first, volume_units, source)


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
        shown = shown_cell(frame[column].iloc[position])
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


def _same_volume(a: float, b: float) -> bool:
    """Return True if two parsed volumes agree; 0 and NaN both mean absent."""
    a_absent = math.isnan(a) or a == 0
    b_absent = math.isnan(b) or b == 0
    return (a_absent and b_absent) or a == b
