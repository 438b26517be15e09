"""Reader for wide two-photon matrices: one row per spine, one column per session.

A wide matrix is a ``.npy`` array or a CSV/TSV/Parquet table, optionally with a header row
of session times and a first column of spine ids. Session times come from the header, from
``interval_days`` (``--interval-days``) or from ``session_times`` (``--session-times``); a
``dendrite_map`` (``--dendrite-map``) ``.npy`` gives each row's dendrite. A volume of ``0``,
an empty cell or NaN means the spine is absent in that session and is stored as NaN.

:func:`read_wide_matrix` returns the Dataset of :mod:`spinefit.io.time_series`;
:func:`spinefit.io.two_photon.read_two_photon` calls it for files that are not long tables.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.tables import (
    combined_hash,
    file_hash,
    is_blank,
    label_text,
    load_npy,
    normalize_unit,
    read_notes,
    read_table,
    shown_cell,
    split_value_and_unit,
)
from spinefit.io.time_series import (
    ABSENT_NOTE,
    REASON_NEVER_PRESENT,
    check_interval_days,
    resolve_volume_units,
    time_series_dataset,
)

ATTR_DENDRITE_MAP = "dendrite_map"
"""Dataset attribute naming the dendrite map file a wide matrix was read with."""

_ID_HEADERS = {"", "spine", "spine_id", "spineid", "spine id", "id", "spine_ids"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DAY_HEADER = re.compile(
    rf"^(?:(?:days?|d)\s*[_=:\-]?\s*(?P<after>{_NUMBER})|(?P<before>{_NUMBER})\s*(?:d|days?))$",
    re.IGNORECASE,
)


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
        As :func:`spinefit.io.two_photon.read_long_table` (see
        :func:`~spinefit.io.time_series.time_series_dataset`). The ingestion report
        counts matrix rows (spines).

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
    interval_days = check_interval_days(interval_days)
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
    units = resolve_volume_units(first_unit, volume_units, source)
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
    return time_series_dataset(
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
        report.notes += read_notes(raw)
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
        parsed = [header_time(h) for h in session_header]
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
        if header_time(header[0]) is not None:
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
                message.format(shown_cell(cells.iat[row, column])),
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


def header_time(cell: Any) -> float | None:
    """Return the time in days a header cell names (``4``, ``day4``, ``4d``), else None.

    Parameters
    ----------
    cell : Any
        One header cell.

    Returns
    -------
    float or None
        The finite number of days the cell names, or None if it names none.
    """
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


def _days(times: np.ndarray) -> str:
    """Format session times for a message."""
    shown = ", ".join(f"{t:g}" for t in times[:8])
    return f"[{shown}{', ...' if len(times) > 8 else ''}]"
