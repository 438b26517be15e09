"""Which columns of a two-photon long table hold the spine id, the time and the volume.

Labs name these columns differently: ``spine_id`` or ``Spine``; ``time_days``, ``Day``,
``Time (h)``, ``session`` or ``Date``; ``volume``, ``volume_um3`` or ``Volume (um3)``. This
module recognises them from the header alone, ignoring case and reading a unit written in
the header (:func:`~spinefit.io.tables.header_name_and_unit`), and turns the time column
(days, other time units, session numbers or dates) into days. The mapping options
``spine_col``, ``time_col`` and ``volume_col`` (``--spine-col``, ``--time-col``,
``--volume-col``) name columns it does not recognise.

:func:`spinefit.io.two_photon.read_long_table` reads the rows;
:func:`spinefit.io.two_photon.read_two_photon` and :func:`spinefit.io.read.input_kind` use
:func:`looks_long` and :func:`spine_column` to decide what a file is.
"""

from __future__ import annotations

import datetime
import difflib
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from spinefit import dims
from spinefit.errors import DataError
from spinefit.io.tables import (
    did_you_mean,
    find_column,
    header_name_and_unit,
    is_blank,
    normalize_unit,
    resolve_column,
    shown_cell,
    split_value_and_unit,
)

SPINE_NAMES = ("spine_id", "spine", "spineid", "spine_ids", "spine_name")
"""Names of a spine-id column (compared ignoring case, spaces and punctuation)."""
DAY_NAMES = ("day", "days")
"""Names of a time column in days (or in the unit its header states: ``Day (h)``)."""
TIME_NAMES = ("time", "t", "time_in", "imaging_time")
"""Names of a time column whose header states a time unit: ``time_days``, ``Time (h)``."""
SESSION_NAMES = ("session", "session_number", "session_index")
"""Names of a column of session numbers (0, 1, 2, ...), multiplied by ``interval_days``."""
DATE_NAMES = ("date", "datetime", "date_time", "timestamp", "imaging_date", "session_date")
"""Names of a column of dates (``2024-03-01``) or datetimes (``2024-03-01 10:00``)."""
VOLUME_NAMES = ("volume", "spine_volume", "head_volume", "spine_head_volume", "vol")
"""Names of a volume column; a unit in the header (``Volume (um3)``) is the volume unit."""
DAYS_PER_UNIT = {
    **dict.fromkeys(("d", "day", "days"), 1.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 1 / 24),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 1 / 1440),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7.0),
}
"""Time units a time column's header may state, in days."""
MAPPING_FLAGS = "--spine-col, --time-col and --volume-col"
"""How error messages name the mapping options."""

TIME_DAYS = "days"
TIME_SESSION = "session"
TIME_DATE = "date"

_LONG_MARKERS = (dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME)
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)


@dataclass(frozen=True)
class LongColumns:
    """The columns of a long table that hold the spine id, the time and the volume.

    Parameters
    ----------
    spine, time, volume : str
        The column names as written in the table.
    time_kind : {"days", "session", "date"}
        How the time column is read: numbers in a time unit, session numbers (times
        `interval_days`), or dates. A ``"days"`` column whose cells are dates is read as
        dates.
    days_per_unit : float
        Days per unit of a ``"days"`` column (1 for days, 1/24 for hours).
    time_unit : str
        The time unit its header states, ``""`` for none.
    volume_unit : str
        The volume unit its header states, ``""`` for none.
    """

    spine: str
    time: str
    volume: str
    time_kind: str
    days_per_unit: float = 1.0
    time_unit: str = ""
    volume_unit: str = ""

    def is_canonical(self) -> bool:
        """Return True for the columns ``spine_id``, ``time_days`` or ``session``, ``volume``."""
        return (self.spine, self.time, self.volume) in {
            (dims.SPINE_ID, dims.TIME_DAYS, dims.VOLUME),
            (dims.SPINE_ID, SESSION_NAMES[0], dims.VOLUME),
        }


class Times(NamedTuple):
    """Times of the rows of a long table, in days."""

    days: np.ndarray
    """Time of each row in days; NaN where `bad`."""
    bad: np.ndarray
    """True where a row's time cell is not a time."""
    dates: bool
    """True when the column was read as dates."""
    origin: pd.Timestamp | None
    """The date of day 0 when the times are dates (None if no cell is a date)."""
    note: str
    """How numbers were turned into days, for the ingestion report (``""`` for days)."""


def long_columns(
    columns: list[str],
    source: str,
    *,
    spine_col: str | None = None,
    time_col: str | None = None,
    volume_col: str | None = None,
    interval_days: float | None = None,
) -> LongColumns:
    """Find the spine-id, time and volume columns of a long table from its header.

    Parameters
    ----------
    columns : list of str
        The header.
    source : str
        The file name, for messages.
    spine_col, time_col, volume_col : str, optional
        Columns named by the user (ignoring case); the others are recognised by name
        (:data:`SPINE_NAMES`, :data:`DAY_NAMES`, :data:`TIME_NAMES`, :data:`SESSION_NAMES`,
        :data:`DATE_NAMES`, :data:`VOLUME_NAMES`), the first in the header winning.
    interval_days : float, optional
        Days between sessions, needed when the time column holds session numbers.

    Returns
    -------
    LongColumns
        The three columns and how to read the time and volume.

    Raises
    ------
    DataError
        One line naming the closest columns and the mapping option, if a column is missing
        or a user-named column is not in the table; if session numbers come without
        `interval_days`; or if the time column's header states a unit that is not a time.
    """
    # A typo in a name the user gave explains more than a column it did not find.
    for given, option in (
        (spine_col, "--spine-col"),
        (time_col, "--time-col"),
        (volume_col, "--volume-col"),
    ):
        if given is not None:
            resolve_column(columns, given, source, option)
    spine = _spine(columns, source, spine_col)
    time = _time(columns, source, time_col, interval_days)
    volume = _volume(columns, source, volume_col)
    return LongColumns(spine=spine, volume=volume[0], volume_unit=volume[1], **time)


def spine_column(columns: list[str]) -> str | None:
    """Return the header's spine-id column (see :data:`SPINE_NAMES`), or None.

    Parameters
    ----------
    columns : list of str
        The header.

    Returns
    -------
    str or None
        The column name as written.
    """
    return _first_named(columns, SPINE_NAMES)


def looks_long(columns: list[str]) -> bool:
    """Return True when a header names a long table's spine, time or volume column.

    A close misspelling of ``spine_id``, ``time_days`` or ``volume`` counts too, so that
    the long-table reader can suggest the right name.

    Parameters
    ----------
    columns : list of str
        The header.

    Returns
    -------
    bool
        Whether the header looks like a long table.
    """
    if any(_time_role(c) is not None for c in columns):
        return True
    if _first_named(columns, SPINE_NAMES + VOLUME_NAMES) is not None:
        return True
    names = [str(c).strip().lower() for c in columns]
    return any(difflib.get_close_matches(n, _LONG_MARKERS, n=1, cutoff=0.8) for n in names)


def parse_times(
    cells: pd.Series, columns: LongColumns, interval_days: float | None, source: str
) -> Times:
    """Return each row's time in days from the time column.

    Parameters
    ----------
    cells : pandas.Series
        The time column.
    columns : LongColumns
        How to read it.
    interval_days : float, optional
        Days between sessions (for session numbers).
    source : str
        The file name, for messages.

    Returns
    -------
    Times
        Days (NaN where bad), the bad-cell mask, the date of day 0 for dates, and a note.

    Raises
    ------
    DataError
        If a session number is not a whole number.
    """
    name = columns.time
    if columns.time_kind == TIME_DATE or (columns.time_kind == TIME_DAYS and _holds_dates(cells)):
        return _date_days(cells)
    numbers, units, unparseable = split_value_and_unit(cells)
    bad = unparseable | ~np.isfinite(numbers) | (units != "")
    numbers = np.where(bad, np.nan, numbers)
    if columns.time_kind == TIME_DAYS:
        if columns.days_per_unit == 1.0:
            return Times(numbers, bad, False, None, "")
        with np.errstate(over="ignore"):
            days = numbers * columns.days_per_unit
        note = f"times in '{name}' converted from {columns.time_unit} to days"
        return Times(days, bad | ~np.isfinite(days), False, None, note)
    fractional = ~bad & (numbers != np.round(numbers))
    if fractional.any():
        position = int(np.argmax(fractional))
        raise DataError(
            f"session {shown_cell(cells.iloc[position])} is not a whole number",
            source=source,
            row=position + 1,
            column=name,
        )
    with np.errstate(over="ignore"):  # an absurd session number overflows to inf
        days = numbers * float(interval_days)
    note = f"time_days = {name} x {interval_days:g}"
    return Times(days, bad | ~np.isfinite(days), False, None, note)


def origin_text(origin: pd.Timestamp) -> str:
    """Return the date of day 0 as ISO text: ``2024-03-01``, or with the time if not midnight."""
    if origin == origin.normalize():
        return origin.date().isoformat()
    return origin.isoformat(sep=" ")


# -- helpers ------------------------------------------------------------------------------


def _key(name: str) -> str:
    """Return a name for comparison: lower case, runs of other characters as one ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _first_named(columns: list[str], names: tuple[str, ...]) -> str | None:
    """Return the first column whose name, without a header unit, is one of `names`."""
    for column in columns:
        if _key(header_name_and_unit(column)[0]) in names or _key(column) in names:
            return column
    return None


def _time_role(header: str) -> tuple[int, str, float, str] | None:
    """Return ``(rank, kind, days per unit, unit)`` of a recognised time column, else None.

    Columns in days rank before session numbers, which rank before dates.
    """
    name, unit = header_name_and_unit(header)
    key = _key(name)
    per_day = DAYS_PER_UNIT.get(normalize_unit(unit).lower()) if unit else None
    if key in TIME_NAMES and per_day is not None:
        return 0, TIME_DAYS, per_day, unit
    if key in DAY_NAMES and (not unit or per_day is not None):
        return 0, TIME_DAYS, per_day or 1.0, unit
    if key in SESSION_NAMES and not unit:
        return 1, TIME_SESSION, 1.0, ""
    if key in DATE_NAMES:
        return 2, TIME_DATE, 1.0, ""
    return None


def _spine(columns: list[str], source: str, spine_col: str | None) -> str:
    if spine_col is not None:
        return resolve_column(columns, spine_col, source, "--spine-col")
    found = find_column(columns, dims.SPINE_ID, source) or spine_column(columns)
    if found is None:
        raise DataError(
            f"missing required column '{dims.SPINE_ID}'{did_you_mean(dims.SPINE_ID, columns)} "
            "(or name the spine-id column with --spine-col)",
            source=source,
            column=dims.SPINE_ID,
        )
    return found


def _time(
    columns: list[str], source: str, time_col: str | None, interval_days: float | None
) -> dict:
    """Return the time column and how to read it, as :class:`LongColumns` fields."""
    if time_col is not None:
        column = resolve_column(columns, time_col, source, "--time-col")
        role = _time_role(column)
        if role is None:
            unit = header_name_and_unit(column)[1]
            per_day = DAYS_PER_UNIT.get(normalize_unit(unit).lower()) if unit else 1.0
            if per_day is None:
                raise DataError(
                    f"the time column's header states the unit '{unit}'; times must be "
                    f"dates or numbers in {', '.join(sorted(set(DAYS_PER_UNIT)))}",
                    source=source,
                    column=column,
                )
            role = (0, TIME_DAYS, per_day, unit)
    else:
        ranked = [(r, i, c) for i, c in enumerate(columns) if (r := _time_role(c)) is not None]
        if not ranked:
            wanted = dims.TIME_DAYS
            hint = did_you_mean(wanted, columns)
            if hint.startswith("; columns"):
                hint = did_you_mean(SESSION_NAMES[0], columns)
            raise DataError(
                f"missing required column '{wanted}' (or 'session' with --interval-days)"
                f"{hint} (or name the time column with --time-col)",
                source=source,
                column=wanted,
            )
        role, _, column = min(ranked, key=lambda item: (item[0][0], item[1]))
    _, kind, per_day, unit = role
    if kind == TIME_SESSION and interval_days is None:
        raise DataError(
            "times are given as session numbers; pass --interval-days (days between "
            "sessions) to convert them to days, or give a time_days column",
            source=source,
            column=column,
        )
    return {"time": column, "time_kind": kind, "days_per_unit": per_day, "time_unit": unit}


def _volume(columns: list[str], source: str, volume_col: str | None) -> tuple[str, str]:
    """Return the volume column and the unit its header states (``""`` for none)."""
    if volume_col is not None:
        column = resolve_column(columns, volume_col, source, "--volume-col")
    else:
        column = find_column(columns, dims.VOLUME, source) or _first_named(columns, VOLUME_NAMES)
    if column is None:
        raise DataError(
            f"missing required column '{dims.VOLUME}'{did_you_mean(dims.VOLUME, columns)} "
            "(or name the volume column with --volume-col)",
            source=source,
            column=dims.VOLUME,
        )
    return column, header_name_and_unit(column)[1]


def _holds_dates(cells: pd.Series) -> bool:
    """Return True when the column's first non-empty cell is a date or datetime."""
    if pd.api.types.is_datetime64_any_dtype(cells.dtype):
        return True
    first = next((c for c in cells.tolist() if not is_blank(c)), None)
    if isinstance(first, datetime.date | np.datetime64):
        return True
    return isinstance(first, str) and _ISO_DATE.match(first.strip()) is not None


def _date_days(cells: pd.Series) -> Times:
    """Return days since the earliest date in the column (fractional for datetimes)."""
    texts = np.full(len(cells), None, dtype=object)
    for i, cell in enumerate(cells.tolist()):
        if isinstance(cell, datetime.date | pd.Timestamp):
            texts[i] = cell.isoformat()
        elif isinstance(cell, np.datetime64):
            texts[i] = str(cell)
        elif isinstance(cell, str) and _ISO_DATE.match(cell.strip()):
            texts[i] = cell.strip()
    stamps = pd.to_datetime(pd.Series(texts), format="ISO8601", utc=True, errors="coerce")
    stamps = stamps.dt.tz_convert(None)
    bad = stamps.isna().to_numpy()
    if bad.all():
        return Times(np.full(len(cells), np.nan), bad, True, None, "")
    origin = stamps[~bad].min()
    days = ((stamps - origin) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
    return Times(days, bad, True, origin, "")
