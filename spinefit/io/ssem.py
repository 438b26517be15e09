"""Reader for serial-section EM synapse tables (one row per synapse).

The reader turns a CSV, TSV or Parquet table into an :class:`xarray.Dataset` along the
``synapse`` dim, with the connection (presynaptic/postsynaptic cell pair) of every synapse
and the number of synapses in that connection (its *multiplicity*). Columns of the
MICrONS layer-2/3 table (``id``, ``pre_root_id``, ``post_root_id``, ``spine_vol_um3``,
``cleft_vx``, ``ctr_pt_{x,y,z}_nm``) are recognised without any mapping, and column
names are matched ignoring case (``PRE_ROOT_ID`` is ``pre_root_id``). An optional
``condition`` column, and any columns named in ``label_columns``, are kept as string
coords on ``synapse``; other columns are ignored and named in the report.

Every input row is either kept or listed in the ingestion report with its reason:

- a self-connection (``pre == post``) is dropped by default (``keep_self_connections``);
- a missing presynaptic or postsynaptic id drops the row;
- a missing, non-finite or non-positive size in any size column drops the row.

Malformed input (missing columns, empty file, non-numeric sizes, missing or duplicate
synapse ids) raises a one-line :class:`~spinefit.errors.DataError` naming the file, row
and column.

:func:`synapse_dataset` builds the same layout from arrays, so simulators and readers
produce identical Datasets, and :func:`write_ssem` writes a Dataset back to a table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.tables import (
    TABLE_SUFFIXES,
    check_label_columns,
    closest_columns,
    did_you_mean,
    file_hash,
    find_column,
    label_column_map,
    label_text,
    read_notes,
    read_table,
    resolve_column,
)

# Names used only by snapshot data; candidates for spinefit.dims.
PRE_ID = "pre_id"
"""Coordinate (along ``synapse``): presynaptic cell id."""
POST_ID = "post_id"
"""Coordinate (along ``synapse``): postsynaptic cell id."""
MULTIPLICITY = "multiplicity"
"""Coordinate (along ``synapse``): synapses in the synapse's connection after exclusions."""
ATTR_SIZE_VARIABLE = "size_variable"
"""Dataset attribute naming the primary size variable."""

MICRONS_ID = "id"
MICRONS_PRE = "pre_root_id"
MICRONS_POST = "post_root_id"
MICRONS_SPINE_VOLUME = "spine_vol_um3"
MICRONS_CLEFT = "cleft_vx"
MICRONS_POSITIONS = ("ctr_pt_x_nm", "ctr_pt_y_nm", "ctr_pt_z_nm")

PRE_CANDIDATES = (MICRONS_PRE, "pre_id", "pre", "presynaptic_id", "pre_cell_id")
"""Presynaptic-id column names recognised (in this order, ignoring case); also how
:func:`spinefit.io.read.input_kind` recognises an ssEM table."""
MAPPING_OPTIONS = ("pre_col", "post_col", "size_cols")
"""Options naming an ssEM table's columns."""
_POST_CANDIDATES = (MICRONS_POST, "post_id", "post", "postsynaptic_id", "post_cell_id")
_ID_CANDIDATES = (MICRONS_ID, "synapse_id", "syn_id")

KNOWN_UNITS = {MICRONS_SPINE_VOLUME: "um^3", MICRONS_CLEFT: "voxel"}
"""Units of the MICrONS size columns."""
KNOWN_LONG_NAMES = {MICRONS_SPINE_VOLUME: "spine-head volume", MICRONS_CLEFT: "synaptic cleft size"}
_SUFFIX_UNITS = {"_um3": "um^3", "_um2": "um^2", "_um": "um", "_nm": "nm", "_vx": "voxel"}


def read_ssem(
    path: str | Path,
    *,
    size_cols: list[str] | None = None,
    pre_col: str | None = None,
    post_col: str | None = None,
    id_col: str | None = None,
    keep_self_connections: bool = False,
    size_units: dict[str, str] | None = None,
    label_columns: Sequence[str] | None = None,
) -> xr.Dataset:
    """Read an ssEM synapse table into a Dataset along the ``synapse`` dim.

    Parameters
    ----------
    path : str or Path
        CSV, TSV or Parquet table with one row per synapse.
    size_cols : list of str, optional
        Size columns to read; the first is the primary size (attr ``size_variable``).
        Default for MICrONS tables: ``["spine_vol_um3", "cleft_vx"]``. This and the other
        column names are matched ignoring case; a missing one raises a one-line error
        naming the closest columns.
    pre_col, post_col : str, optional
        Presynaptic and postsynaptic cell-id columns (default: ``pre_root_id`` /
        ``post_root_id``, or ``pre_id`` / ``post_id``, ``pre`` / ``post``).
    id_col : str, optional
        Synapse-id column (default ``id`` or ``synapse_id``; when there is none, the
        1-based row number is the id, and a note says so).
    keep_self_connections : bool
        Keep synapses whose presynaptic and postsynaptic ids are equal (they are reported
        either way).
    size_units : dict, optional
        ``{column: units}``; default from known MICrONS columns or the column-name suffix
        (``_um3`` → ``um^3``, ``_vx`` → ``voxel``), else ``"a.u."``.
    label_columns : sequence of str, optional
        Per-synapse label columns to keep as string coords on ``synapse`` (``""`` where a
        cell is empty), besides ``condition``, which is kept whenever the table has it.

    Returns
    -------
    xarray.Dataset
        Size variables (float, attrs ``units`` and ``long_name``) along ``synapse``
        (coordinate: synapse ids), with coordinates ``pre_id``, ``post_id``,
        ``connection`` (``"pre->post"``), ``multiplicity`` and, when present, the
        synapse position in nm, ``condition`` and the `label_columns`. Attrs:
        ``source``, ``content_hash``, ``spinefit_version``, ``data_kind="snapshot"``,
        ``size_variable`` and ``ingestion_report`` (JSON).

    Raises
    ------
    DataError
        If the table is missing, empty, not a table, lacks a needed column (including
        one named in `label_columns`), has a non-numeric size, or has missing or
        duplicate synapse ids.
    ConfigError
        If a label column is also read as an id or size column, or would clash with a
        coord name (``pre_id``, ``connection``, ...).
    """
    path = Path(path)
    source = str(path)
    extra_labels = check_label_columns(label_columns, _RESERVED_LABEL_NAMES)
    frame = read_table(path)
    columns = list(frame.columns)

    pre_col = _id_column(columns, pre_col, PRE_CANDIDATES, "--pre-col", source)
    post_col = _id_column(columns, post_col, _POST_CANDIDATES, "--post-col", source)
    if id_col is not None:
        id_col = resolve_column(columns, id_col, source, "id_col")
    else:
        found = (find_column(columns, name, source) for name in _ID_CANDIDATES)
        id_col = next((column for column in found if column is not None), None)
    size_cols = _size_columns(columns, size_cols, source)
    used = [pre_col, post_col, *size_cols] + ([id_col] if id_col else [])
    labels = label_column_map(
        frame, [dims.CONDITION_LABEL], extra_labels, used, source, "an id or size column"
    )

    report = IngestionReport(source=source, rows_read=len(frame))
    report.notes += read_notes(frame)
    rows = np.arange(1, len(frame) + 1)
    if id_col is None:
        synapse_ids = rows.copy()
        report.notes.append("no synapse-id column: the 1-based row number is the synapse id")
    else:
        synapse_ids = _synapse_ids(frame, id_col, path)
    pre = _parse_ids(_column_as_text(frame, pre_col, path))
    post = _parse_ids(_column_as_text(frame, post_col, path))
    if pre[0].dtype != post[0].dtype:  # e.g. integer pre ids, text post ids: compare as text
        pre, post = (pre[0].astype(str), pre[1]), (post[0].astype(str), post[1])
    sizes = {_size_name(col): _numeric_sizes(frame, col, source) for col in size_cols}

    reason, detail = _drop_reasons(pre, post, sizes, (pre_col, post_col), keep_self_connections)
    keep = reason == ""
    for i in np.flatnonzero(~keep):
        report.drop(int(rows[i]), str(reason[i]), str(detail[i]))
    n_self = int(np.sum((pre[0] == post[0]) & ~pre[1] & ~post[1]))
    if keep_self_connections and n_self:
        report.notes.append(f"kept {n_self} self-connection(s) (keep_self_connections)")
    report.rows_kept = int(keep.sum())
    report.check_accounted()
    if report.rows_kept == 0:
        raise DataError(f"no synapses left after exclusions ({report.reasons()})", source=source)

    units = {_size_name(col): _units_for(col, size_units) for col in size_cols}
    position_columns = {
        name: column
        for name in MICRONS_POSITIONS
        if (column := find_column(columns, name, source)) is not None
    }
    positions = {
        name: pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[keep]
        for name, column in position_columns.items()
    }
    label_cells = {name: _label_cells(frame, column, path)[keep] for name, column in labels.items()}
    kept = {*used, *position_columns.values(), *labels.values()}
    ignored = [c for c in columns if c not in kept]
    if ignored:
        report.notes.append(f"ignored columns: {', '.join(ignored)}")
    if labels:
        report.notes.append(f"label columns kept: {', '.join(labels)}")
    dataset = synapse_dataset(
        synapse_ids=synapse_ids[keep],
        pre_ids=pre[0][keep],
        post_ids=post[0][keep],
        sizes={col: values[keep] for col, values in sizes.items()},
        units=units,
        positions=positions,
        labels=label_cells,
        source=source,
        content_hash=file_hash(path),
        report=report,
    )
    report.notes.append(f"connections by multiplicity: {multiplicity_counts(dataset)}")
    report.notes.append("size units: " + ", ".join(f"{c} in {u}" for c, u in units.items()))
    dataset.attrs[dims.ATTR_INGESTION_REPORT] = report.to_json()
    return dataset


def recognises(columns: list[str], source: str) -> bool:
    """Return True when a header has a presynaptic-id column (:data:`PRE_CANDIDATES`).

    Parameters
    ----------
    columns : list of str
        A table's header.
    source : str
        The file name, for messages.

    Returns
    -------
    bool
        Whether :func:`spinefit.io.read.input_kind` takes the file for an ssEM table.
    """
    return any(find_column(columns, name, source) is not None for name in PRE_CANDIDATES)


def synapse_dataset(
    *,
    synapse_ids: np.ndarray,
    pre_ids: np.ndarray,
    post_ids: np.ndarray,
    sizes: dict[str, np.ndarray],
    units: dict[str, str],
    source: str,
    content_hash: str,
    report: IngestionReport | None = None,
    positions: dict[str, np.ndarray] | None = None,
    long_names: dict[str, str] | None = None,
    labels: dict[str, Sequence[str]] | None = None,
) -> xr.Dataset:
    """Build a snapshot Dataset in the :func:`read_ssem` layout from arrays.

    Parameters
    ----------
    synapse_ids, pre_ids, post_ids : numpy.ndarray
        One entry per synapse (kept rows only).
    sizes : dict
        ``{name: values}``; the first entry is the primary size variable.
    units : dict
        ``{name: units}`` for every size variable.
    source, content_hash : str
        Provenance attrs.
    report : IngestionReport, optional
        Stored as JSON; a report keeping every synapse is made when omitted.
    positions : dict, optional
        ``{coord_name: values in nm}``.
    long_names : dict, optional
        Human-readable names of the size variables (used in axis labels).
    labels : dict, optional
        ``{coord_name: one string per synapse}``, e.g. ``condition``; stored as string
        coords on ``synapse``.

    Returns
    -------
    xarray.Dataset
        The Dataset described in :func:`read_ssem`.
    """
    n = len(synapse_ids)
    if report is None:
        report = IngestionReport(source=source, rows_read=n, rows_kept=n)
    pairs = pd.Series(pre_ids).astype(str) + "->" + pd.Series(post_ids).astype(str)
    codes, _ = pd.factorize(pairs)
    connection = pairs.to_numpy(dtype=str)
    multiplicity = np.bincount(codes)[codes]
    coords: dict[str, tuple] = {
        dims.SYNAPSE: (dims.SYNAPSE, np.asarray(synapse_ids)),
        PRE_ID: (dims.SYNAPSE, np.asarray(pre_ids)),
        POST_ID: (dims.SYNAPSE, np.asarray(post_ids)),
        dims.CONNECTION: (dims.SYNAPSE, connection),
        MULTIPLICITY: (dims.SYNAPSE, multiplicity.astype(np.int64)),
    }
    for name, values in (positions or {}).items():
        coords[name] = (dims.SYNAPSE, np.asarray(values, dtype=float), {"units": "nm"})
    for name, values in (labels or {}).items():
        coords[name] = (dims.SYNAPSE, np.asarray(values, dtype=str))
    names = KNOWN_LONG_NAMES | (long_names or {})
    data_vars = {
        name: (
            dims.SYNAPSE,
            np.asarray(values, dtype=float),
            {"units": units[name], "long_name": names.get(name, name.replace("_", " "))},
        )
        for name, values in sizes.items()
    }
    dataset = xr.Dataset(data_vars, coords=coords)
    dataset[MULTIPLICITY].attrs["description"] = "synapses in this connection after exclusions"
    dataset.attrs = {
        dims.ATTR_SOURCE: source,
        dims.ATTR_CONTENT_HASH: content_hash,
        dims.ATTR_VERSION: __version__,
        dims.ATTR_DATA_KIND: dims.KIND_SNAPSHOT,
        ATTR_SIZE_VARIABLE: next(iter(sizes)),
        dims.ATTR_INGESTION_REPORT: report.to_json(),
    }
    return dataset


def multiplicity_counts(dataset: xr.Dataset) -> dict[int, int]:
    """Return ``{multiplicity: number of connections}`` of a snapshot Dataset."""
    per_connection = dict(
        zip(dataset[dims.CONNECTION].values, dataset[MULTIPLICITY].values, strict=True)
    )
    return dict(sorted(Counter(int(m) for m in per_connection.values()).items()))


def write_ssem(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write a snapshot Dataset as a MICrONS-style table that :func:`read_ssem` reads back.

    Parameters
    ----------
    dataset : xarray.Dataset
        A Dataset in the :func:`read_ssem` layout.
    path : str or Path
        Destination; ``.csv``, ``.tsv`` or ``.parquet``.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    frame = pd.DataFrame(
        {
            MICRONS_ID: dataset[dims.SYNAPSE].values,
            MICRONS_PRE: dataset[PRE_ID].values,
            MICRONS_POST: dataset[POST_ID].values,
        }
    )
    for name in dataset.data_vars:
        frame[name] = dataset[name].values
    for name in MICRONS_POSITIONS:
        if name in dataset.coords:
            frame[name] = dataset[name].values
    for name in label_coords(dataset):
        frame[name] = dataset[name].values
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    return path


def label_coords(dataset: xr.Dataset) -> list[str]:
    """Return the names of a snapshot Dataset's string label coords (e.g. ``condition``).

    Parameters
    ----------
    dataset : xarray.Dataset
        A Dataset in the :func:`read_ssem` layout.

    Returns
    -------
    list of str
        Coords along ``synapse`` other than the ids, ``connection``, ``multiplicity``
        and the positions.
    """
    built_in = {dims.SYNAPSE, PRE_ID, POST_ID, dims.CONNECTION, MULTIPLICITY, *MICRONS_POSITIONS}
    return [
        str(name)
        for name, coord in dataset.coords.items()
        if coord.dims == (dims.SYNAPSE,) and name not in built_in
    ]


# -- helpers ------------------------------------------------------------------------------
_RESERVED_LABEL_NAMES = frozenset(
    {dims.SYNAPSE, PRE_ID, POST_ID, dims.CONNECTION, MULTIPLICITY, *MICRONS_POSITIONS}
)


def _label_cells(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Return a label column as the text written in the file, ``""`` where empty."""
    raw = frame[column]
    if raw.dtype.kind != "O" and path.suffix.lower() not in (".parquet", ".pq"):
        # The parser read the labels as numbers; re-read them so "007" stays "007".
        raw = _reread_as_text(path, column)
    return np.asarray(label_text(raw), dtype=str)


def _reread_as_text(path: Path, column: str) -> pd.Series:
    """Read one column of a CSV/TSV again, every cell as the text written in the file."""
    sep = TABLE_SUFFIXES.get(path.suffix.lower(), None)
    return pd.read_csv(
        path,
        sep=sep,
        engine="python" if sep is None else "c",
        usecols=lambda c: str(c).strip() == column,
        dtype=str,
    ).iloc[:, 0]


def _id_column(
    columns: list[str], given: str | None, candidates: tuple[str, ...], option: str, source: str
) -> str:
    """Return the cell-id column: the one `given`, else the first candidate (ignoring case)."""
    if given is not None:
        return resolve_column(columns, given, source, option)
    for name in candidates:
        found = find_column(columns, name, source)
        if found is not None:
            return found
    raise DataError(
        f"missing required column '{candidates[0]}'{did_you_mean(candidates[0], columns)} "
        f"(or name it with {option})",
        source=source,
        column=candidates[0],
    )


def _size_columns(columns: list[str], given: list[str] | None, source: str) -> list[str]:
    """Return the size columns: those `given` (ignoring case), else the MICrONS ones."""
    if given is not None:
        if not given:
            raise DataError("size_cols is empty; name at least one size column", source=source)
        return [resolve_column(columns, name, source, "--size-col") for name in given]
    spine_volume = find_column(columns, MICRONS_SPINE_VOLUME, source)
    if spine_volume is None:
        close = closest_columns(MICRONS_SPINE_VOLUME, columns, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise DataError(
            f"no size column '{MICRONS_SPINE_VOLUME}'; {hint}name the size column(s) "
            "with size_cols (--size-col)",
            source=source,
            column=MICRONS_SPINE_VOLUME,
        )
    cleft = find_column(columns, MICRONS_CLEFT, source)
    return [spine_volume] + ([cleft] if cleft else [])


def _size_name(column: str) -> str:
    """Return the variable name of a size column: MICrONS columns in their own lower case."""
    return column.lower() if column.lower() in KNOWN_UNITS else column


def _units_for(column: str, size_units: dict[str, str] | None) -> str:
    given = {name.lower(): units for name, units in (size_units or {}).items()}
    if column.lower() in given:
        return given[column.lower()]
    if column.lower() in KNOWN_UNITS:
        return KNOWN_UNITS[column.lower()]
    suffix = next((s for s in _SUFFIX_UNITS if column.lower().endswith(s)), None)
    return _SUFFIX_UNITS[suffix] if suffix else dims.DEFAULT_VOLUME_UNITS


def _numeric_sizes(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    raw = frame[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | raw.astype(str).str.strip().isin(["", "nan", "NaN", "NA"])
    bad = numeric.isna() & ~blank
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"non-numeric size {raw.iloc[i]!r}", source=source, row=i + 1, column=column
        )
    return numeric.to_numpy(dtype=float)


def _column_as_text(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """Return a column as exact text, re-reading it if the parser turned big ids into floats.

    Ids such as MICrONS root ids exceed 2**53; a single missing value makes pandas parse
    the whole column as float and silently round them, so the column is re-read as text.
    """
    raw = frame[column]
    if raw.dtype.kind == "f" and path.suffix.lower() not in (".parquet", ".pq"):
        raw = _reread_as_text(path, column)
    text = raw.astype("string").str.strip()
    return text.mask(text.isin(["", "nan", "NaN", "NA", "<NA>"]))


def _parse_ids(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ids, missing)``: int64 ids when every present id is an integer, else str."""
    missing = text.isna().to_numpy()
    filled = text.fillna("0")
    if filled.str.fullmatch(r"[+-]?\d+").all():
        try:
            return np.array([int(v) for v in filled], dtype=np.int64), missing
        except OverflowError:
            pass
    return text.fillna("").to_numpy(dtype=str), missing


def _synapse_ids(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    text = _column_as_text(frame, column, path)
    ids, missing = _parse_ids(text)
    if missing.any():
        row = int(np.flatnonzero(missing)[0]) + 1
        raise DataError("missing synapse id", source=str(path), row=row, column=column)
    duplicated = text.duplicated(keep="first").to_numpy()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero((text == text.iloc[i]).to_numpy())[0])
        raise DataError(
            f"duplicate synapse id {text.iloc[i]} (first seen in row {first + 1})",
            source=str(path),
            row=i + 1,
            column=column,
        )
    return ids


def _drop_reasons(
    pre: tuple[np.ndarray, np.ndarray],
    post: tuple[np.ndarray, np.ndarray],
    sizes: dict[str, np.ndarray],
    columns: tuple[str, str],
    keep_self_connections: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the reason (or ``""``) and detail to drop each row, first reason wins."""
    n = len(pre[0])
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def mark(mask: np.ndarray, why: str, what) -> None:
        new = mask & (reason == "")
        for i in np.flatnonzero(new):
            reason[i] = why
            detail[i] = what(i)

    for (_, missing), column in zip((pre, post), columns, strict=True):
        mark(missing, "missing cell id", lambda i, c=column: f"column {c}")
    if not keep_self_connections:
        mark(pre[0] == post[0], "self-connection", lambda i: f"pre = post = {pre[0][i]}")
    for column, values in sizes.items():
        with np.errstate(invalid="ignore"):
            mark(np.isnan(values), "missing size", lambda i, c=column: f"column {c}")
            mark(
                np.isinf(values),
                "non-finite size",
                lambda i, c=column, v=values: f"column {c} = {v[i]}",
            )
            mark(
                values <= 0,
                "non-positive size",
                lambda i, c=column, v=values: f"column {c} = {v[i]}",
            )
    return reason, detail


__all__ = [
    "ATTR_SIZE_VARIABLE",
    "MULTIPLICITY",
    "POST_ID",
    "PRE_ID",
    "label_coords",
    "multiplicity_counts",
    "read_ssem",
    "recognises",
    "synapse_dataset",
    "write_ssem",
]
