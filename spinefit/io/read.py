"""Read any input file: decide its kind from the header alone, then call its reader.

The kind (:data:`spinefit.dims.KIND_TIME_SERIES` or :data:`spinefit.dims.KIND_SNAPSHOT`)
comes from each reader's own column names, looked up in the header only
(:func:`~spinefit.io.tables.table_columns`), so a malformed row cannot change what a file
is taken for. :data:`READERS` is the one place that names the reader of each kind.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.io import ssem, two_photon
from spinefit.io.tables import is_set, table_columns


@dataclass(frozen=True)
class Reader:
    """The reader of one kind of input and what :func:`read_any` needs to know of it.

    Parameters
    ----------
    read : callable
        ``read(path, **options) -> xarray.Dataset``.
    options : frozenset of str
        Its keyword options.
    mapping : tuple of str
        The options that name its columns; giving one says the file is of this kind.
    recognises : callable
        ``recognises(header, source) -> bool``: whether a header is of this kind.
    described : str
        How messages name the kind (``"a time series"``).
    """

    read: Callable[..., xr.Dataset]
    options: frozenset[str]
    mapping: tuple[str, ...]
    recognises: Callable[[list[str], str], bool]
    described: str


def _keywords(reader: Callable[..., xr.Dataset]) -> frozenset[str]:
    """Return the keyword options of a reader (its parameters after ``path``)."""
    return frozenset(inspect.signature(reader).parameters) - {"path"}


READERS = {
    dims.KIND_TIME_SERIES: Reader(
        two_photon.read_two_photon,
        two_photon.OPTIONS,
        two_photon.MAPPING_OPTIONS,
        two_photon.recognises,
        "a time series",
    ),
    dims.KIND_SNAPSHOT: Reader(
        ssem.read_ssem,
        _keywords(ssem.read_ssem),
        ssem.MAPPING_OPTIONS,
        ssem.recognises,
        "an ssEM table",
    ),
}
"""The reader of each kind of input, in the order their headers are tried."""


def input_kind(path: str | Path, **options: Any) -> str:
    """Return the kind of an input file, from its header alone.

    A ``.npy`` file is a time series (a wide matrix). Otherwise, a column mapping of one
    kind (``spine_col``, ``time_col``, ``volume_col`` for a time series; ``pre_col``,
    ``post_col``, ``size_cols`` for an ssEM table) decides. Without one, a header with a
    spine-id column (:data:`spinefit.io.long_columns.SPINE_NAMES`) is a time series, one
    with a presynaptic-id column (:data:`spinefit.io.ssem.PRE_CANDIDATES`) an ssEM
    snapshot, and any other a time series (whose reader explains what it could not
    recognise). Names are compared ignoring case.

    Parameters
    ----------
    path : str or Path
        The input file.
    **options
        Options for :func:`read_any`; only the column mappings are looked at.

    Returns
    -------
    str
        :data:`spinefit.dims.KIND_TIME_SERIES` or :data:`spinefit.dims.KIND_SNAPSHOT`.

    Raises
    ------
    DataError
        If the file is missing or not a table.
    ConfigError
        If column mappings of both kinds are given.
    """
    if Path(path).suffix.lower() == ".npy":
        return dims.KIND_TIME_SERIES
    mapped = [
        kind
        for kind, reader in READERS.items()
        if any(is_set(options.get(name)) for name in reader.mapping)
    ]
    if len(mapped) > 1:
        raise ConfigError(
            "column mappings of a time series (--spine-col, --time-col, --volume-col) and of "
            "an ssEM table (--pre-col, --post-col, --size-col) cannot be given together"
        )
    if mapped:
        return mapped[0]
    columns = table_columns(path)  # the header only, never the rows
    for kind, reader in READERS.items():
        if reader.recognises(columns, str(path)):
            return kind
    return dims.KIND_TIME_SERIES


def read_any(path: str | Path, kind: str | None = None, **options: Any) -> xr.Dataset:
    """Read a time series or an ssEM table, deciding which from the header.

    Parameters
    ----------
    path : str or Path
        A long table or wide matrix of a time series (``.csv``, ``.tsv``, ``.parquet``,
        ``.npy``), or an ssEM synapse table.
    kind : {"time_series", "snapshot"}, optional
        The kind of the file; by default decided by :func:`input_kind`.
    **options
        Keyword options of the reader of that kind:
        :func:`~spinefit.io.two_photon.read_two_photon` (``interval_days``,
        ``session_times``, ``dendrite_map``, ``volume_units``, ``drop_bad_rows``,
        ``label_columns``, ``spine_col``, ``time_col``, ``volume_col``) or
        :func:`~spinefit.io.ssem.read_ssem` (``size_cols``, ``pre_col``, ``post_col``,
        ``id_col``, ``keep_self_connections``, ``size_units``, ``label_columns``). An
        option of the other kind left at its default (None, False, empty) is ignored.

    Returns
    -------
    xarray.Dataset
        The reader's Dataset; ``attrs["data_kind"]`` is the kind.

    Raises
    ------
    DataError
        If the file is malformed (one line naming the file, row and column).
    ConfigError
        If `kind` is unknown, or an option that is set does not apply to the file's kind.
    TypeError
        If an option is not an option of any reader.

    Examples
    --------
    >>> ds = read_any("spines.csv", time_col="Imaging date")  # doctest: +SKIP
    >>> ds.attrs["data_kind"]  # doctest: +SKIP
    'time_series'
    """
    known = frozenset().union(*(reader.options for reader in READERS.values()))
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"read_any() got unexpected keyword argument(s) {sorted(unknown)}")
    if kind is None:
        kind = input_kind(path, **options)
    if kind not in READERS:
        raise ConfigError(f"unknown input kind {kind!r}; expected one of {sorted(READERS)}")
    reader = READERS[kind]
    for name, value in options.items():
        if name not in reader.options and is_set(value):
            raise ConfigError(
                f"option '{name}' does not apply to {path}, read as {reader.described}"
            )
    return reader.read(path, **{k: v for k, v in options.items() if k in reader.options})
