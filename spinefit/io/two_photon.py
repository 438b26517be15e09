"""Readers for chronic two-photon spine-volume time series.

Two layouts are accepted and both give the same Dataset:

* a **long table** (CSV, TSV or Parquet) with one row per spine per session, read by
  :func:`read_long_table`; its spine-id, time and volume columns are recognised by name
  (ignoring case; ``Spine``, ``Day``, ``Date``, ``Volume (um3)``, ...) or named with the
  mapping options ``spine_col``, ``time_col`` and ``volume_col``
  (:mod:`spinefit.io.long_columns`);
* a **wide matrix** (``.npy`` or CSV) with one row per spine and one column per session,
  read by :func:`spinefit.io.wide_matrix.read_wide_matrix`.

:func:`read_two_photon` picks the reader from the file's header. In every layout a volume of ``0``,
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
from spinefit.io.long_columns import (
    MAPPING_FLAGS,
    TIME_SESSION,
    LongColumns,
    Times,
    long_columns,
    looks_long,
    origin_text,
    parse_times,
    spine_column,
)
from spinefit.io.tables import (
    check_label_columns,
    file_hash,
    find_column,
    is_set,
    label_column_map,
    label_text,
    normalize_unit,
    read_notes,
    read_table,
    shown_cell,
    split_value_and_unit,
    table_columns,
)
from spinefit.io.time_series import (
    ABSENT_NOTE,
    ATTR_TIME_ORIGIN,
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
SE_LONG_NAMES = {
    dims.VOLUME_SE: "standard error of the volume (NaN where unknown)",
    dims.VOLUME_SE_SESSION: "standard error of the volume independent between sessions "
    "(NaN where unknown)",
}
"""``long_name`` of each standard-error column the reader keeps."""
RESERVED_LABEL_NAMES = frozenset(
    {
        dims.SPINE,
        dims.SESSION,
        dims.SPINE_ID,
        dims.TIME_DAYS,
        dims.VOLUME,
        dims.ATTR_DETECTION_LIMIT,
        *UNITS_COLUMNS,
    }
)
"""Names that cannot be extra label columns: they are already columns or coords."""

REASON_NON_NUMERIC = "non-numeric volume"
REASON_NEGATIVE = "negative volume"
REASON_DUPLICATE = "duplicate spine/time"
REASON_MISSING_ID = "missing spine_id"
REASON_BAD_TIME = "non-numeric time"
REASON_BAD_DATE = "unreadable date"

LONG_ABSENT_NOTE = "a spine with no row for a session is absent in that session"

MAPPING_OPTIONS = ("spine_col", "time_col", "volume_col")
"""Options naming a long table's columns; any of them makes a file a long table."""
_LONG_OPTIONS = {"interval_days", "volume_units", "drop_bad_rows", "label_columns"}
_LONG_OPTIONS |= set(MAPPING_OPTIONS)
_WIDE_OPTIONS = {"interval_days", "session_times", "dendrite_map", "volume_units"}
OPTIONS = frozenset(_LONG_OPTIONS | _WIDE_OPTIONS)
"""Keyword options of :func:`read_two_photon`."""


# --------------------------------------------------------------------------- dispatch


def read_two_photon(path: str | Path, **options: Any) -> xr.Dataset:
    """Read a two-photon time series, choosing the long or wide reader from the header.

    A ``.npy`` file is a wide matrix. A table is a long table when a column mapping
    (`spine_col`, `time_col`, `volume_col`) is given, or when its header names a spine-id,
    time or volume column (see :mod:`spinefit.io.long_columns`; ``Spine``, ``Day`` and
    ``Volume (um3)`` count, as does a close misspelling of ``spine_id``, ``time_days`` or
    ``volume``), unless the header is a spine-id column followed only by session times.
    A header of session times, or any header when `interval_days` or `session_times` is
    given, is a wide matrix. Only the header is read to decide.

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
        If the file is malformed, or its header is neither a long table's nor a matrix's
        (the one-line message names ``--spine-col``, ``--time-col`` and ``--volume-col``).
    ConfigError
        If an option does not apply to the file's layout.
    """
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"read_two_photon() got unexpected keyword argument(s) {sorted(unknown)}")
    is_long = _is_long(path, options)
    allowed = _LONG_OPTIONS if is_long else _WIDE_OPTIONS
    layout = "long table" if is_long else "wide matrix"
    for name, value in options.items():
        if name not in allowed and is_set(value):
            raise ConfigError(f"option '{name}' does not apply to {path}, read as a {layout}")
    chosen = {name: value for name, value in options.items() if name in allowed}
    if is_long:
        return read_long_table(path, **chosen)
    return read_wide_matrix(path, **chosen)


def recognises(columns: list[str], source: str) -> bool:
    """Return True when a header has a spine-id column, the mark of a time series.

    Parameters
    ----------
    columns : list of str
        A table's header.
    source : str
        The file name, for messages.

    Returns
    -------
    bool
        Whether :func:`spinefit.io.read.input_kind` takes the file for a time series.
    """
    return spine_column(columns) is not None


def _is_long(path: str | Path, options: dict[str, Any]) -> bool:
    """Decide from the header alone whether a file is a long table (see read_two_photon)."""
    if Path(path).suffix.lower() == ".npy":
        return False
    columns = table_columns(path)
    if any(is_set(options.get(name)) for name in MAPPING_OPTIONS):
        return True
    if len(columns) < 2:  # not a table at all: the reader says why in one line
        return False
    if len(columns) > 1 and all(header_time(c) is not None for c in columns[1:]):
        return False
    if looks_long(columns):
        return True
    if is_set(options.get("interval_days")) or is_set(options.get("session_times")):
        return False
    shown = ", ".join(columns[:6]) + (", ..." if len(columns) > 6 else "")
    raise DataError(
        f"cannot tell the layout from the header ({shown}): name a long table's columns "
        f"with {MAPPING_FLAGS}, or give --interval-days for a matrix with one column per "
        "session",
        source=str(path),
    )


# --------------------------------------------------------------------------- long tables


def read_long_table(
    path: str | Path,
    *,
    interval_days: float | None = None,
    volume_units: str | None = None,
    drop_bad_rows: bool = False,
    label_columns: Sequence[str] | None = None,
    spine_col: str | None = None,
    time_col: str | None = None,
    volume_col: str | None = None,
) -> xr.Dataset:
    """Read a long table with one row per spine per imaging session.

    Parameters
    ----------
    path : str or Path
        CSV, TSV or Parquet file. Column names are matched ignoring case. Required: a
        spine-id column (``spine_id``, ``Spine``, ...), a volume column (``volume``,
        ``Volume (um3)``, ...) and a time column: days (``time_days``, ``Day``), another
        time unit stated in the header (``Time (h)``, ``time_weeks``), dates or datetimes
        (``Date`` with ``2024-03-01`` or ``2024-03-01 10:00``; read as days since the
        first date in the file, fractional for datetimes), or ``session`` numbers
        (multiplied by `interval_days`); see :mod:`spinefit.io.long_columns`. Optional
        columns: ``dendrite_id``, ``animal_id``, ``condition`` and ``treatment``
        (per-spine labels; constant within a spine, empty cells are ignored), and
        ``units`` or ``volume_units`` (one unit for the whole file). Volumes may carry a
        unit suffix (``"0.5 um3"``), and the volume column's header may state the unit
        (``volume_um3``, ``Volume (um^3)``); all units in a file must agree. Other
        columns are ignored and named in the report.
    interval_days : float, optional
        Days between sessions; required when times are given as ``session`` numbers.
    volume_units : str, optional
        Units of the volumes. Must agree with any units written in the file; defaults to
        those, else to :data:`spinefit.dims.DEFAULT_VOLUME_UNITS`.
    drop_bad_rows : bool, default False
        Drop rows with an empty spine id, a non-numeric time (or unreadable date), a
        non-numeric or negative volume, and exact duplicates of an earlier row, listing
        each in the report, instead of raising. Conflicting duplicates, unsorted times,
        mixed units and missing columns always raise.
    label_columns : sequence of str, optional
        Further per-spine label columns to keep as string coords on ``spine`` (named as
        given here, found ignoring case), beyond ``dendrite_id``, ``animal_id``,
        ``condition`` and ``treatment`` and under the same rules (constant within a
        spine, empty cells ignored, ``""`` for a spine with no value).
    spine_col, time_col, volume_col : str, optional
        The spine-id, time and volume columns, for tables whose names are not recognised
        (matched ignoring case). A time column holds days, unless its header states
        another time unit, its name is a session or date name, or its cells are dates.

    Returns
    -------
    xarray.Dataset
        Dims ``(spine, session)``. ``volume`` is NaN where a spine is absent (volume 0,
        empty, NaN, or no row for that session). Sessions are the sorted union of the
        times in the table. Spines are in order of first appearance; spines never present
        are dropped. The ingestion report (``attrs["ingestion_report"]``) accounts for
        every row. When times were dates, ``attrs["time_origin"]`` is the date of day 0.

    Raises
    ------
    DataError
        If the table is malformed or lacks a needed column (including one named in
        `label_columns` or a mapping option); the message names the file, the 1-based
        data row (header excluded) and the column, and for a missing column the closest
        names and the mapping option.
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
    report.notes += [*read_notes(frame), ABSENT_NOTE, LONG_ABSENT_NOTE]

    header = list(frame.columns)
    columns = long_columns(
        header,
        source,
        spine_col=spine_col,
        time_col=time_col,
        volume_col=volume_col,
        interval_days=interval_days,
    )
    if not columns.is_canonical():
        report.notes.append(
            f"spine ids from '{columns.spine}', times from '{columns.time}', volumes from "
            f"'{columns.volume}'"
        )
    if interval_days is not None and columns.time_kind != TIME_SESSION:
        report.notes.append(f"interval_days ignored: times come from column '{columns.time}'")
    labels = label_column_map(
        frame,
        LABEL_COLUMNS,
        extra_labels,
        (columns.spine, columns.time, columns.volume),
        source,
        "the spine id, time or volume",
    )
    units_columns = [c for name in UNITS_COLUMNS if (c := find_column(header, name, source))]
    se_columns = {
        name: column
        for name in dims.STANDARD_ERRORS
        if (column := find_column(header, name, source))
    }
    limit_column = find_column(header, dims.ATTR_DETECTION_LIMIT, source)
    used = {columns.spine, columns.time, columns.volume, *labels.values(), *units_columns}
    used |= set(se_columns.values()) | {limit_column}
    ignored = [c for c in header if c not in used]
    if ignored:
        report.notes.append(f"ignored columns: {', '.join(ignored)}")
    if extra_labels:
        report.notes.append(f"label columns kept: {', '.join(extra_labels)}")

    spine = label_text(frame[columns.spine])
    label_cells = {column: label_text(frame[column]) for column in labels.values()}
    times = parse_times(frame[columns.time], columns, interval_days, source)
    if times.note:
        report.notes.append(times.note)
    volume, written_units, bad_volume = split_value_and_unit(frame[columns.volume])
    bad_volume |= np.isinf(volume)
    volume[bad_volume] = np.nan
    units = _long_units(frame, columns, units_columns, written_units, volume_units, source)

    keep = np.ones(len(frame), dtype=bool)
    _drop_bad_rows(frame, columns, spine, times, bad_volume, volume, keep, drop_bad_rows, report)
    _drop_duplicates(
        spine, times.days, volume, label_cells, keep, drop_bad_rows, report, source, columns.time
    )
    _check_time_order(spine, times.days, keep, source, columns.time)
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

    attrs = {dims.ATTR_SOURCE: source, dims.ATTR_CONTENT_HASH: file_hash(path)}
    if times.origin is not None:
        attrs[ATTR_TIME_ORIGIN] = origin_text(times.origin)
        report.notes.append(
            f"time_days = days since {attrs[ATTR_TIME_ORIGIN]} (the first date in '{columns.time}')"
        )
    spine_ids = pd.unique(spine[keep])
    sessions = np.unique(times.days[keep])
    matrix = np.full((len(spine_ids), len(sessions)), np.nan)
    rows = pd.Index(spine_ids).get_indexer(spine[keep])
    session_of_row = np.searchsorted(sessions, times.days[keep])
    matrix[rows, session_of_row] = np.where(present[keep], volume[keep], np.nan)
    report.rows_kept = int(keep.sum())
    coords = {
        name: [spine_labels[column].get(s, "") for s in spine_ids]
        for name, column in labels.items()
    }
    standard_errors = {
        name: _standard_errors(frame[column], name, keep, present, rows, session_of_row, report)
        for name, column in se_columns.items()
    }
    limit = None
    if limit_column is not None:
        limit = _detection_limit(frame[limit_column], keep, source, limit_column)
    if limit is not None:
        attrs[dims.ATTR_DETECTION_LIMIT] = limit
        report.notes.append(
            f"detection limit {limit:.4g} {units} (column '{limit_column}'): a latent-process "
            "fit reads an absent spine as dead or alive and unseen below it"
        )
    dataset = time_series_dataset(
        matrix, [str(s) for s in spine_ids], sessions, coords, units, report, attrs
    )
    for name, values in standard_errors.items():
        dataset[name] = (
            (dims.SPINE, dims.SESSION),
            values,
            {"units": units, "long_name": SE_LONG_NAMES[name]},
        )
    return dataset


def _detection_limit(cells: pd.Series, keep: np.ndarray, source: str, column: str) -> float | None:
    """Return the one detection limit of a long table's column (None if every cell is empty).

    Raises DataError at the first cell of a kept row that is not a positive number, or
    that differs from the first one (relative tolerance 1e-6).
    """
    values, _, bad = split_value_and_unit(cells)
    written = cells.astype(str).str.strip().ne("").to_numpy() & cells.notna().to_numpy()
    rows = np.flatnonzero(keep & written)
    if rows.size == 0:
        return None
    unusable = bad[rows] | ~(np.isfinite(values[rows]) & (values[rows] > 0))
    first = float(values[rows[0]])
    differing = ~unusable & ~np.isclose(values[rows], first, rtol=1e-6, atol=0.0)
    offending = np.flatnonzero(unusable | differing)
    if offending.size == 0:
        return first
    position = int(rows[offending[0]])
    if unusable[offending[0]]:
        message = f"detection limit {shown_cell(cells.iloc[position])} is not a positive number"
    else:
        message = (
            f"detection limit {values[position]:g} here but {first:g} at row {rows[0] + 1}: the "
            "column must hold one value per file (or give the fit -o detection_limit=X)"
        )
    raise DataError(message, source=source, row=position + 1, column=column)


def _standard_errors(
    cells: pd.Series,
    name: str,
    keep: np.ndarray,
    present: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    report: IngestionReport,
) -> np.ndarray:
    """Return the (spine, session) matrix of a standard-error column (NaN where unknown).

    ``rows`` and ``columns`` place the kept rows in the volume matrix. A standard error
    that is not a non-negative number leaves the row's volume in place; it is counted in a
    report note and stored as NaN (unknown).
    """
    values, _, bad = split_value_and_unit(cells)
    bad |= ~np.isfinite(values) | (values < 0)
    written = cells.astype(str).str.strip().ne("").to_numpy()
    unusable = keep & present & bad & written
    if unusable.any():
        report.notes.append(
            f"{int(unusable.sum())} {name} value(s) not a non-negative number: stored as unknown"
        )
    kept = np.flatnonzero(keep)
    seen = present[kept]
    matrix = np.full((rows.max() + 1, columns.max() + 1), np.nan)
    matrix[rows[seen], columns[seen]] = np.where(bad, np.nan, values)[kept[seen]]
    return matrix


def _long_units(
    frame: pd.DataFrame,
    columns: LongColumns,
    units_columns: list[str],
    written_units: np.ndarray,
    volume_units: str | None,
    source: str,
) -> str:
    """Return the one volume unit of a long table, raising on mixed units.

    The unit may be stated in the volume column's header, in a units column and after each
    volume; all must agree.
    """
    declared = {c: label_text(frame[c]) for c in units_columns}
    declared[columns.volume] = written_units
    first: tuple[str, int | None, str] | None = None
    if columns.volume_unit:
        first = (columns.volume_unit, None, columns.volume)
    for position in range(len(frame)):
        for column, cells in declared.items():
            unit = cells[position]
            if not unit:
                continue
            if first is None:
                first = (unit, position + 1, column)
            elif normalize_unit(unit) != normalize_unit(first[0]):
                where = "in the header" if first[1] is None else f"at row {first[1]}"
                raise DataError(
                    f"mixed units: {unit!r} here but {first[0]!r} {where} "
                    f"(column '{first[2]}'); convert all volumes to one unit",
                    source=source,
                    row=position + 1,
                    column=column,
                )
    return resolve_volume_units(first, volume_units, source)


def _drop_bad_rows(
    frame: pd.DataFrame,
    columns: LongColumns,
    spine: np.ndarray,
    times: Times,
    bad_volume: np.ndarray,
    volume: np.ndarray,
    keep: np.ndarray,
    drop_bad_rows: bool,
    report: IngestionReport,
) -> None:
    """Raise on the first unusable row, or drop every such row when `drop_bad_rows`."""
    time_reason, time_message = (
        (REASON_BAD_DATE, "time {} is not a date like 2024-03-01 or 2024-03-01 10:00")
        if times.dates
        else (REASON_BAD_TIME, "time {} is not a finite number")
    )
    checks = [
        (spine == "", REASON_MISSING_ID, columns.spine, "spine id is empty"),
        (times.bad, time_reason, columns.time, time_message),
        (bad_volume, REASON_NON_NUMERIC, columns.volume, "volume {} is not a number"),
        (volume < 0, REASON_NEGATIVE, columns.volume, "volume {} is negative"),
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
