"""Reading user tables (CSV, TSV, Parquet) with one-line errors, shared by all readers.

Besides reading, this module holds the cell and column helpers every reader uses: unit
parsing, blank and label cells, error-message rendering of a cell, and the checks of
required and user-requested label columns.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinefit.errors import ConfigError, DataError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".parquet": None, ".pq": None}
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
"""Excel workbooks read with openpyxl (the first sheet)."""
UNREAD_WORKBOOKS = (".xls", ".ods", ".numbers")
"""Spreadsheet formats refused with a one-line error that names what to save instead."""
READ_NOTE_ATTR = "read_note"
"""``DataFrame.attrs`` key of :func:`read_table`'s note on how it read the file, if any."""
SEMICOLON_NOTE = (
    "read with ';' between values and ',' as the decimal mark (a spreadsheet's CSV in a "
    "locale that writes 1,5 for 1.5)"
)
_DECIMAL_COMMA = re.compile(r"^(\s*[+-]?\d*),(\d+(?:[eE][+-]?\d+)?\b)")
"""A number written with a decimal comma at the start of a cell (a unit may follow)."""


def file_hash(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes, as ``"sha256:<hex>"``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def combined_hash(paths: Iterable[str | Path]) -> str:
    """Return one SHA-256 over several files, as ``"sha256:<hex>"``.

    The digest covers each file's :func:`file_hash` in the order given, so it changes when
    any of the files changes (used when one Dataset is built from a matrix and a map).
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(file_hash(path).encode())
    return f"sha256:{digest.hexdigest()}"


def read_table(path: str | Path, *, header: bool = True, as_text: bool = False) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table into a DataFrame of strings/numbers.

    Parameters
    ----------
    path : str or Path
        The table. The format is chosen from the suffix; ``.txt`` is sniffed.
    header : bool, default True
        Whether the first line of a text table is a header. If False, the first line is
        data and the columns are named ``"0"``, ``"1"``, ... (Parquet always has a header).
    as_text : bool, default False
        Keep every cell of a text table as the string written in the file (empty cells and
        the usual NA spellings become NaN), so that identifiers keep leading zeros and
        values keep unit suffixes. Parquet columns keep their stored types.

    Returns
    -------
    pandas.DataFrame
        The table, with the header as column names and a default integer index.

    Raises
    ------
    DataError
        If the file does not exist, is empty, or is not a table.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", source=str(path))
    if path.is_dir():
        raise DataError("is a directory, expected a table file", source=str(path))
    if path.stat().st_size == 0:
        raise DataError("file is empty", source=str(path))
    suffix = path.suffix.lower()
    with _reading(path):
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in WORKBOOK_SUFFIXES:
            frame = _read_workbook(path, header, as_text)
        elif suffix in UNREAD_WORKBOOKS:
            raise DataError(
                f"{suffix} workbooks are not read; save the sheet as .xlsx or CSV",
                source=str(path),
            )
        elif suffix in (".csv", ".txt") and _semicolon_separated(path):
            frame = _read_semicolon_table(path, header, as_text)
        else:
            sep = TABLE_SUFFIXES.get(suffix, None)
            frame = pd.read_csv(
                path,
                sep=sep,
                engine="python" if sep is None else "c",
                header=0 if header else None,
                dtype=str if as_text else None,
            )
    if frame.shape[1] < 2 or frame.shape[0] == 0:
        raise DataError(
            f"not a table with a header and data rows (found {frame.shape[1]} column(s), "
            f"{frame.shape[0]} row(s))",
            source=str(path),
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the errors of reading a table file into one-line DataErrors naming it."""
    try:
        yield
    except (
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
        UnicodeDecodeError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
    ) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"not a readable table ({first})", source=str(path)) from None
    except OSError as err:
        raise DataError(f"cannot read file ({err.strerror or err})", source=str(path)) from None


def _read_workbook(path: Path, header: bool, as_text: bool) -> pd.DataFrame:
    """Read the first sheet of an Excel workbook (noted when there are others)."""
    try:
        import openpyxl  # noqa: F401  (pandas reads .xlsx through it)
    except ImportError:
        raise DataError(
            "reading .xlsx needs openpyxl (pip install openpyxl), or save the sheet as CSV",
            source=str(path),
        ) from None
    sheets = pd.read_excel(
        path,
        sheet_name=None,
        header=0 if header else None,
        dtype=str if as_text else None,
        engine="openpyxl",
    )
    if not sheets:
        raise ValueError("the workbook has no sheet")
    name, frame = next(iter(sheets.items()))
    if len(sheets) > 1:
        others = ", ".join(repr(other) for other in list(sheets)[1:])
        frame.attrs[READ_NOTE_ATTR] = (
            f"read the workbook's first sheet {name!r}; not read: {others} (save the sheet "
            "you want first, or as its own file)"
        )
    return frame


def _semicolon_separated(path: Path) -> bool:
    """Return whether a text table's first line has more ``;`` than ``,`` (and one at least)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
    except OSError:
        return False
    return first.count(";") > first.count(",")


def _read_semicolon_table(path: Path, header: bool, as_text: bool) -> pd.DataFrame:
    """Read a ``;``-separated table whose decimal mark is ``,`` (noted in its attrs).

    Cells kept as text have a leading decimal comma turned into a point (``"1,5 µm³"`` →
    ``"1.5 µm³"``), so the readers parse them as they parse any number.
    """
    frame = pd.read_csv(
        path, sep=";", decimal=",", header=0 if header else None, dtype=str if as_text else None
    )
    if as_text:
        frame = frame.map(
            lambda cell: _DECIMAL_COMMA.sub(r"\1.\2", cell) if isinstance(cell, str) else cell
        )
    frame.attrs[READ_NOTE_ATTR] = SEMICOLON_NOTE
    return frame


def read_notes(frame: pd.DataFrame) -> list[str]:
    """Return :func:`read_table`'s note on how it read a table (empty when plain)."""
    note = frame.attrs.get(READ_NOTE_ATTR)
    return [note] if note else []


def require_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    """Raise a one-line DataError naming the first missing column and its closest matches.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table read by :func:`read_table`.
    required : list of str
        Column names that must be present, exactly as written (:func:`find_column` looks
        a name up ignoring case).
    source : str
        The file name, for the message.
    """
    present = [str(c) for c in frame.columns]
    for name in required:
        if name in present:
            continue
        raise DataError(
            f"missing required column '{name}'{did_you_mean(name, present)}",
            source=source,
            column=name,
        )


def closest_columns(name: str, columns: Sequence[str], n: int = 3) -> list[str]:
    """Return up to `n` column names close to `name`, closest first, ignoring case.

    Parameters
    ----------
    name : str
        The name that was looked for.
    columns : sequence of str
        The table's column names.
    n : int, default 3
        Most names to return.

    Returns
    -------
    list of str
        Column names as written in the table.
    """
    by_lower: dict[str, str] = {}
    for column in columns:
        by_lower.setdefault(str(column).lower(), str(column))
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[c] for c in close]


def did_you_mean(name: str, columns: Sequence[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the closest columns, else ``"; columns are [...]"``.

    Parameters
    ----------
    name : str
        The name that was looked for.
    columns : sequence of str
        The table's column names.

    Returns
    -------
    str
        A clause to append to a one-line error message.
    """
    close = closest_columns(name, columns)
    if not close:
        return f"; columns are {list(columns)}"
    quoted = [f"'{c}'" for c in close]
    shown = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"; did you mean {shown}?"


def find_column(columns: Sequence[str], name: str, source: str) -> str | None:
    """Return the column called `name`, ignoring case, as written in the table.

    An exact match wins; otherwise the one column whose name differs only in case.

    Parameters
    ----------
    columns : sequence of str
        The table's column names.
    name : str
        The name to look for.
    source : str
        The file name, for the message.

    Returns
    -------
    str or None
        The column name as written, or None when no column has that name.

    Raises
    ------
    DataError
        If several columns differ from `name` only in case (``Volume`` and ``VOLUME``).
    """
    columns = [str(c) for c in columns]
    if name in columns:
        return name
    matches = [c for c in columns if c.lower() == name.lower()]
    if len(matches) > 1:
        raise DataError(
            f"columns {', '.join(repr(c) for c in matches)} differ only in case; rename "
            "one of them",
            source=source,
            column=matches[1],
        )
    return matches[0] if matches else None


def resolve_column(columns: Sequence[str], name: str, source: str, option: str) -> str:
    """Return the column a user named (ignoring case), or raise naming the closest ones.

    Parameters
    ----------
    columns : sequence of str
        The table's column names.
    name : str
        The column name the user gave.
    source : str
        The file name, for the message.
    option : str
        The option that named it (e.g. ``"--time-col"``), for the message.

    Returns
    -------
    str
        The column name as written in the table.

    Raises
    ------
    DataError
        One line naming the option, the closest columns and, when none is close, all of
        them.
    """
    found = find_column(columns, name, source)
    if found is None:
        raise DataError(
            f"no column '{name}' (given with {option}){did_you_mean(name, list(columns))}",
            source=source,
            column=name,
        )
    return found


_BRACKETED_UNIT = re.compile(r"^(?P<name>.*?\S)\s*[\(\[](?P<unit>[^()\[\]]*\S[^()\[\]]*)[\)\]]$")
_SEPARATED_UNIT = re.compile(r"^(?P<name>.*?[^\s_])[\s_]+(?P<unit>[^\s_]+)$")
HEADER_UNITS = frozenset(
    {"um3", "um2", "um", "nm3", "nm2", "nm", "mm3", "vx", "voxel", "voxels", "au", "a.u."}
    | {"d", "day", "days", "h", "hr", "hrs", "hour", "hours", "min", "mins", "minute", "minutes"}
    | {"w", "wk", "week", "weeks"}
)
"""Units recognised after ``_`` or a space at the end of a column name (``volume_um3``)."""


def header_name_and_unit(header: str) -> tuple[str, str]:
    """Split a column header into its name and the unit it states, if any.

    A unit is either in brackets at the end (``"Volume (um3)"``, ``"volume [µm³]"``; any
    text) or a known unit after ``_`` or a space (``"volume_um3"``, ``"time_days"``; see
    :data:`HEADER_UNITS`, compared with :func:`normalize_unit` and ignoring case).

    Parameters
    ----------
    header : str
        One column header.

    Returns
    -------
    name : str
        The header without the unit, stripped.
    unit : str
        The unit as written (a unit after ``_`` or a space in lower case), ``""`` when the
        header states none.
    """
    text = str(header).strip()
    match = _BRACKETED_UNIT.match(text)
    if match:
        return match["name"].strip(), match["unit"].strip()
    match = _SEPARATED_UNIT.match(text)
    if match and normalize_unit(match["unit"]).lower() in HEADER_UNITS:
        return match["name"].strip(), match["unit"].lower()  # "VOLUME_UM3": a unit, not a shout
    return text, ""


def table_columns(path: str | Path) -> list[str]:
    """Return the header of a CSV, TSV or Parquet table without reading its rows.

    Parameters
    ----------
    path : str or Path
        The table.

    Returns
    -------
    list of str
        The column names, stripped of surrounding whitespace.

    Raises
    ------
    DataError
        If the file does not exist, is empty, or is not a table.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    whole = suffix in (*WORKBOOK_SUFFIXES, *UNREAD_WORKBOOKS) or (
        suffix in (".csv", ".txt") and path.is_file() and _semicolon_separated(path)
    )
    if whole or not path.is_file() or path.stat().st_size == 0:
        # Workbooks and ';' tables are read whole; a bad file raises the one-line DataError.
        return list(read_table(path).columns)
    with _reading(path):
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            sep = TABLE_SUFFIXES.get(suffix, None)
            names = pd.read_csv(
                path, sep=sep, engine="python" if sep is None else "c", nrows=0
            ).columns
    return [str(name).strip() for name in names]


_QUANTITY = re.compile(
    r"^(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[^\W\d_]\S*)?$"
)
_EXPONENT_FRAGMENT = re.compile(r"^[eE][-+]?\d*$")
_NA_TEXT = {"", "nan", "na", "n/a", "none", "null", "<na>"}


def split_value_and_unit(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse cells such as ``"1.5"``, ``"0.5 um3"`` or ``"300nm^3"`` into number and unit.

    Parameters
    ----------
    values : pandas.Series
        Numbers, or strings holding a number optionally followed by a unit.

    Returns
    -------
    numbers : numpy.ndarray of float
        The parsed numbers; NaN where the cell is empty or could not be parsed. Infinite
        values are returned as such, for the caller to reject.
    units : numpy.ndarray of str
        The unit written after each number, ``""`` where there is none.
    unparseable : numpy.ndarray of bool
        True where a non-empty cell is not a number (with optional unit).
    """
    n_values = len(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
        return numbers, np.full(n_values, "", dtype=object), np.zeros(n_values, dtype=bool)
    numbers = np.full(n_values, np.nan)
    units = np.full(n_values, "", dtype=object)
    unparseable = np.zeros(n_values, dtype=bool)
    for i, cell in enumerate(values.to_numpy(dtype=object)):
        if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
            continue
        if isinstance(cell, bool | np.bool_):
            unparseable[i] = True
        elif isinstance(cell, int | float | np.integer | np.floating):
            numbers[i] = float(cell)
        else:
            text = str(cell).strip()
            if text.lower() in _NA_TEXT:
                continue
            match = _QUANTITY.match(text)
            if match is None:
                unparseable[i] = True
                continue
            unit = match["unit"] or ""
            if _EXPONENT_FRAGMENT.match(unit):  # "1.2e" or "1.2e-": a mistyped exponent
                unparseable[i] = True
                continue
            numbers[i] = float(match["number"])
            units[i] = unit
    return numbers, units, unparseable


def normalize_unit(unit: str) -> str:
    """Return a unit spelling for comparison: ``"µm³"``, ``"um^3"`` and ``"um3"`` agree."""
    text = unit.strip().replace("µ", "u").replace("μ", "u")
    text = text.replace("³", "3").replace("²", "2").replace("**", "").replace("^", "")
    return text.replace(" ", "")


def is_blank(cell: Any) -> bool:
    """Return True for None, NaN, NA and whitespace-only cells."""
    if cell is None or cell is pd.NA:
        return True
    if isinstance(cell, float | np.floating):
        return math.isnan(cell)
    return isinstance(cell, str) and not cell.strip()


def label_text(values: pd.Series) -> np.ndarray:
    """Return identifiers or labels as stripped strings, ``""`` where empty.

    Text is kept as written (``"007"`` stays ``"007"``); whole floats from typed columns
    (Parquet, or a numeric column with gaps) lose their ``.0``.

    Parameters
    ----------
    values : pandas.Series
        One column of a table.

    Returns
    -------
    numpy.ndarray of object
        One string per cell.
    """
    out = np.empty(len(values), dtype=object)
    for i, cell in enumerate(values.tolist()):
        if is_blank(cell):
            out[i] = ""
        elif isinstance(cell, float | np.floating) and float(cell).is_integer():
            out[i] = str(int(cell))
        elif isinstance(cell, bytes):
            out[i] = cell.decode("utf-8", errors="replace").strip()
        else:
            out[i] = str(cell).strip()
    return out


def load_npy(path: str | Path) -> np.ndarray:
    """Load one ``.npy`` array without unpickling it.

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file.

    Returns
    -------
    numpy.ndarray
        The array, of any shape and dtype (callers check what they need).

    Raises
    ------
    DataError
        If the file does not exist, is empty, holds pickled objects or is not a ``.npy``.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError("file not found", source=source)
    if path.is_dir():
        raise DataError("is a directory, expected a .npy file", source=source)
    if path.stat().st_size == 0:
        raise DataError("file is empty", source=source)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"not a readable .npy array ({first})", source=source) from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise DataError("not a single .npy array (is it an .npz archive?)", source=source)
    return array


def shown_cell(cell: Any) -> str:
    """Return a short one-line rendering of a cell for an error message.

    Parameters
    ----------
    cell : Any
        One cell of a table or array.

    Returns
    -------
    str
        ``"(empty)"`` for a blank cell, else the cell's repr, cut to 40 characters.
    """
    if is_blank(cell):
        return "(empty)"
    if isinstance(cell, np.generic):
        cell = cell.item()
    text = repr(str(cell).strip() if isinstance(cell, str) else cell)
    return text if len(text) <= 40 else text[:37] + "..."


def is_set(value: Any) -> bool:
    """Return False for a reader option left at its default: None, False or an empty list."""
    if isinstance(value, list | tuple):
        return len(value) > 0
    return value is not None and value is not False


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


def require_label_columns(frame: pd.DataFrame, names: list[str], source: str) -> dict[str, str]:
    """Find requested label columns (ignoring case), raising one line for a missing one.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    names : list of str
        Requested label columns.
    source : str
        The file name, for the message.

    Returns
    -------
    dict of str to str
        ``{requested name: column as written in the table}``; the requested name is the
        name of the coord the label is kept in.

    Raises
    ------
    DataError
        If the table has no column of a requested name; the message lists the columns.
    """
    present = [str(c) for c in frame.columns]
    found: dict[str, str] = {}
    for name in names:
        column = find_column(present, name, source)
        if column is None:
            close = closest_columns(name, present, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise DataError(
                f"no label column '{name}'; {hint}columns are {', '.join(present)}",
                source=source,
                column=name,
            )
        found[name] = column
    return found


def label_column_map(
    frame: pd.DataFrame,
    built_in: Iterable[str],
    extra_labels: list[str],
    used: Iterable[str],
    source: str,
    used_as: str,
) -> dict[str, str]:
    """Return ``{coord name: column}`` of the label columns a reader keeps.

    The `built_in` labels are kept when present (found ignoring case, keeping their own
    name) and not already read for another role; `extra_labels` must be present and keep
    the name the user gave.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    built_in : iterable of str
        Labels the reader keeps without being asked (e.g. ``condition``).
    extra_labels : list of str
        Labels the user asked for (``--by``).
    used : iterable of str
        Columns read for another role (ids, times, sizes).
    source : str
        The file name, for messages.
    used_as : str
        How messages name those roles (``"the spine id, time or volume"``).

    Raises
    ------
    ConfigError
        If an extra label is one of the `used` columns.
    """
    used = set(used)
    header = list(frame.columns)
    labels: dict[str, str] = {}
    for name in built_in:
        column = find_column(header, name, source)
        if column is not None and column not in used:
            labels[name] = column
    for name, column in require_label_columns(frame, extra_labels, source).items():
        if column in used:
            raise ConfigError(f"'{name}' cannot be a label column: it is read as {used_as}")
        if column not in labels.values():
            labels[name] = column
    return labels
