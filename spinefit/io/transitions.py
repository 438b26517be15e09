"""Session-to-session transitions of a two-photon time series, for counting and likelihoods.

A *transition* is a pair of consecutive sessions in which a spine is present in both; its
start and end volumes are what a size-dynamics model is fitted to. Formation (absent then
present) and elimination (present then absent) events are counted alongside.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import DataError

_PROVENANCE = (dims.ATTR_SOURCE, dims.ATTR_CONTENT_HASH, dims.ATTR_VERSION)


def _presence(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return volumes (spine, session), a presence mask and session times, time-ordered."""
    missing = {dims.VOLUME, dims.TIME_DAYS} - set(ds.variables)
    if missing or set(ds[dims.VOLUME].dims) != {dims.SPINE, dims.SESSION}:
        raise DataError(
            "expected a two-photon time series with volume(spine, session) and "
            "time_days(session), as returned by spinefit.io.two_photon.read_two_photon",
            source=ds.attrs.get(dims.ATTR_SOURCE),
        )
    ds = ds.sortby(dims.TIME_DAYS)
    volume = ds[dims.VOLUME].transpose(dims.SPINE, dims.SESSION).to_numpy().astype(float)
    present = np.isfinite(volume) & (volume > 0)
    return volume, present, ds[dims.TIME_DAYS].to_numpy().astype(float)


def count_transitions(ds: xr.Dataset) -> dict[str, int]:
    """Count transitions, formations and eliminations between consecutive sessions.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`
        (absent spines are NaN).

    Returns
    -------
    dict of str to int
        ``spines``, ``sessions``, ``present`` (spine-sessions with a volume),
        ``transitions`` (consecutive pairs present in both), ``formations`` (absent then
        present), ``eliminations`` (present then absent), ``at_risk_formation``
        (consecutive pairs starting absent) and ``at_risk_elimination`` (consecutive pairs
        starting present, which equals ``transitions + eliminations``).
    """
    _, present, _ = _presence(ds)
    start, end = present[:, :-1], present[:, 1:]
    return {
        "spines": int(present.shape[0]),
        "sessions": int(present.shape[1]),
        "present": int(present.sum()),
        "transitions": int((start & end).sum()),
        "formations": int((~start & end).sum()),
        "eliminations": int((start & ~end).sum()),
        "at_risk_formation": int((~start).sum()),
        "at_risk_elimination": int(start.sum()),
    }


def transitions(ds: xr.Dataset) -> xr.Dataset:
    """Return every transition (present in two consecutive sessions) as one flat table.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`.

    Returns
    -------
    xarray.Dataset
        Dim ``transition``, ordered by spine then session, with variables ``w_start`` and
        ``w_end`` (volumes, in the units of ``ds.volume``), ``dt_days`` (the time between
        the two sessions) and ``spine_index`` (the 0-based position of the spine in
        ``ds.spine``, for indexing per-spine or per-dendrite parameters), and coords
        ``spine_id`` and ``session_start`` (the earlier session's position in time order).
        Attrs carry the source, content hash and
        spinefit version of `ds`.
    """
    volume, present, times = _presence(ds)
    spine_index, session_start = np.nonzero(present[:, :-1] & present[:, 1:])
    with np.errstate(over="ignore"):  # only absurd times (|t| near 1e308) overflow
        dt_days = times[session_start + 1] - times[session_start]
    units = ds[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    spine_ids = ds[dims.SPINE].to_numpy()[spine_index] if dims.SPINE in ds.coords else spine_index
    dim = dims.TRANSITION
    return xr.Dataset(
        {
            "w_start": (
                dim,
                volume[spine_index, session_start],
                {"units": units, "long_name": "volume at the earlier session"},
            ),
            "w_end": (
                dim,
                volume[spine_index, session_start + 1],
                {"units": units, "long_name": "volume at the next session"},
            ),
            "dt_days": (
                dim,
                dt_days,
                {"units": dims.DAY, "long_name": "time between the two sessions"},
            ),
            "spine_index": (
                dim,
                spine_index.astype(np.int64),
                {"long_name": "0-based position of the spine in the source Dataset"},
            ),
        },
        coords={
            dim: np.arange(len(spine_index), dtype=np.int64),
            dims.SPINE_ID: (dim, spine_ids),
            "session_start": (dim, session_start.astype(np.int64)),
        },
        attrs={k: ds.attrs[k] for k in _PROVENANCE if k in ds.attrs},
    )


def turnover_intervals(ds: xr.Dataset) -> xr.Dataset:
    """Count, for each interval between consecutive sessions, spines at risk and events.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`.

    Returns
    -------
    xarray.Dataset
        Dim ``interval`` (one per pair of consecutive sessions) with ``dt_days``,
        ``present_start`` (spines present at the earlier session), ``eliminated``
        (present then absent) and ``formed`` (absent then present).
    """
    _, present, times = _presence(ds)
    start, end = present[:, :-1], present[:, 1:]
    dim = "interval"
    return xr.Dataset(
        {
            "dt_days": (dim, np.diff(times), {"units": dims.DAY}),
            "present_start": (dim, start.sum(axis=0).astype(np.int64)),
            "eliminated": (dim, (start & ~end).sum(axis=0).astype(np.int64)),
            "formed": (dim, (~start & end).sum(axis=0).astype(np.int64)),
        },
        coords={dim: np.arange(present.shape[1] - 1, dtype=np.int64)},
    )
