"""The (spine, session) Dataset that every two-photon reader returns.

A chronic two-photon time series is one Dataset with dims ``(spine, session)``, one
variable ``volume`` (with ``units``; NaN where a spine is absent, never 0), the coords
``spine`` (spine ids as strings), ``session`` (0, 1, ...), ``time_days(session)`` and any
per-spine labels (``dendrite_id``, ``animal_id``, ``condition``, ``treatment``, ...). Its
attrs record the source, a content hash, the spinefit version and the
:class:`~spinefit.io.ingestion_report.IngestionReport`.

:func:`time_series_dataset` builds that layout from arrays; the long-table reader
(:mod:`spinefit.io.two_photon`), the wide-matrix reader (:mod:`spinefit.io.wide_matrix`) and
:func:`spinefit.io.combine.combine_labelled` all go through it. The option checks and
report wording that both readers share live here too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.tables import normalize_unit

REASON_NEVER_PRESENT = "never present"
"""Ingestion-report reason for a spine absent in every session."""
ATTR_TIME_ORIGIN = "time_origin"
"""Dataset attribute: the date (ISO text) of day 0 when times were read from dates.

A candidate for :mod:`spinefit.dims`; only the long-table reader writes it.
"""
ABSENT_NOTE = "volume 0, an empty cell or NaN marks a spine absent in that session (stored as NaN)"
"""Ingestion-report note on how absence is read, shared by the long and wide readers."""


def time_series_dataset(
    matrix: np.ndarray,
    spine_ids: list[str],
    times: np.ndarray,
    labels: dict[str, list[str]],
    units: str,
    report: IngestionReport,
    attrs: dict[str, str],
) -> xr.Dataset:
    """Assemble the (spine, session) Dataset every two-photon reader returns.

    Parameters
    ----------
    matrix : numpy.ndarray
        Volumes, shape ``(n_spines, n_sessions)``; NaN where a spine is absent.
    spine_ids : list of str
        One id per row of `matrix`, stored as the ``spine`` coord.
    times : numpy.ndarray
        Time of each session in days, stored as the ``time_days(session)`` coord.
    labels : dict of str to sequence of str
        Per-spine label coords (e.g. ``dendrite_id``), one string per spine.
    units : str
        Units of the volumes, stored as the ``units`` attr of ``volume``.
    report : IngestionReport
        The ingestion report; every input row must be accounted for.
    attrs : dict of str to str
        Dataset attrs; must hold ``source`` and ``content_hash``, and may add others
        (e.g. the dendrite map of a wide matrix).

    Returns
    -------
    xarray.Dataset
        Dims ``(spine, session)`` with the variable ``volume``, the coords above and the
        attrs ``source``, ``content_hash``, the spinefit version, the data kind
        ``time_series`` and the JSON ingestion report.

    Raises
    ------
    AssertionError
        If `report` does not account for every row it read (a bug in the caller).
    """
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


def check_interval_days(interval_days: float | None) -> float | None:
    """Return `interval_days` as a float, raising ConfigError unless it is positive.

    Parameters
    ----------
    interval_days : float, optional
        Days between imaging sessions, as given by the user.

    Returns
    -------
    float or None
        The interval as a float, or None when none was given.

    Raises
    ------
    ConfigError
        If `interval_days` is not a finite positive number.
    """
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


def resolve_volume_units(
    first: tuple[str, int, str] | None, volume_units: str | None, source: str
) -> str:
    """Combine the units written in a file with the `volume_units` option.

    Parameters
    ----------
    first : tuple of (str, int, str), optional
        The first unit written in the file, with its 1-based row and its column; None
        when the file writes no unit.
    volume_units : str, optional
        The units given as an option.
    source : str
        The file name, for the message.

    Returns
    -------
    str
        `volume_units` if given, else the file's unit, else
        :data:`spinefit.dims.DEFAULT_VOLUME_UNITS`.

    Raises
    ------
    DataError
        If `volume_units` disagrees with the unit written in the file.
    """
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
