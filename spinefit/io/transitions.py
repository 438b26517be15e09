"""Session-to-session transitions of a two-photon time series, for counting and likelihoods.

A *transition* is a pair of consecutive sessions in which a spine is present in both; its
start and end volumes are what a size-dynamics model is fitted to. Formation (absent then
present) and elimination (present then absent) events are counted alongside.

A time series may carry a bool ``imaged`` coord (spine, session), as
:func:`spinefit.io.combine.combine_labelled` adds when files were imaged on different days.
Then each spine has only the sessions it was imaged at: "consecutive" means consecutive
imaged sessions in time, and a session it was not imaged at is neither presence nor absence.
Spines are counted in groups that share one imaging pattern (one group per combined file).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import DataError

_PROVENANCE = (dims.ATTR_SOURCE, dims.ATTR_CONTENT_HASH, dims.ATTR_VERSION)


def _presence(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Return volumes (spine, session), presence, session times and imaged mask, time-ordered.

    The mask is None when `ds` has no ``imaged`` coord (every spine imaged every session).
    """
    missing = {dims.VOLUME, dims.TIME_DAYS} - set(ds.variables)
    if missing or set(ds[dims.VOLUME].dims) != {dims.SPINE, dims.SESSION}:
        raise DataError(
            "expected a two-photon time series with volume(spine, session) and "
            "time_days(session), as returned by spinefit.io.two_photon.read_two_photon",
            source=ds.attrs.get(dims.ATTR_SOURCE),
        )
    # Sorting the Dataset (not the arrays) keeps the imaged mask aligned with the times.
    ds = ds.sortby(dims.TIME_DAYS)
    volume = ds[dims.VOLUME].transpose(dims.SPINE, dims.SESSION).to_numpy().astype(float)
    present = np.isfinite(volume) & (volume > 0)
    return volume, present, ds[dims.TIME_DAYS].to_numpy().astype(float), _imaged(ds)


def _imaged(ds: xr.Dataset) -> np.ndarray | None:
    """Return the ``imaged`` coord as a (spine, session) bool array, or None without one."""
    if dims.IMAGED not in ds.variables:
        return None
    imaged = ds[dims.IMAGED]
    if set(imaged.dims) != {dims.SPINE, dims.SESSION} or imaged.dtype != bool:
        raise DataError(
            f"the '{dims.IMAGED}' coord must be bool with dims (spine, session), got "
            f"{imaged.dtype} with dims {imaged.dims}",
            source=ds.attrs.get(dims.ATTR_SOURCE),
        )
    return imaged.transpose(dims.SPINE, dims.SESSION).to_numpy()


def imaged_by_group(ds: xr.Dataset, labels: np.ndarray) -> xr.Dataset:
    """Return `ds` with the sessions each group of spines was imaged in marked.

    When conditions imaged on different days share one table, a spine is NaN at sessions
    only another condition has, which would read as absence (and lose the transition that
    spans the session). A group is taken to have imaged a session when any of its spines
    is present there; an existing ``imaged`` coord is kept and narrowed. Nothing is added
    when every group imaged every session, so such data are unchanged.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series.
    labels : numpy.ndarray
        Group (condition) label of every spine.

    Returns
    -------
    xarray.Dataset
        `ds`, with an ``imaged`` (spine, session) coord when some group skipped a session.
    """
    present = ds[dims.VOLUME].transpose(dims.SPINE, dims.SESSION).to_numpy()
    present = np.isfinite(present) & (present > 0)
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    by_group = np.zeros((codes.max(initial=-1) + 1, present.shape[1]), dtype=bool)
    np.logical_or.at(by_group, codes, present)
    imaged = by_group[codes]
    existing = _imaged(ds)
    if existing is not None:
        imaged &= existing
    elif imaged.all():
        return ds
    return ds.assign_coords({dims.IMAGED: ((dims.SPINE, dims.SESSION), imaged)})


def _groups(present: np.ndarray, imaged: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split spines by imaging pattern.

    Parameters
    ----------
    present : numpy.ndarray
        Presence (spine, session), sessions in time order.
    imaged : numpy.ndarray or None
        The imaged mask aligned with `present`, or None if every session was imaged.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        ``(rows, columns)`` per pattern: the spines that share it and the sessions it
        images, both ascending; patterns in the order of their first spine. Without a
        mask (or without spines) one group holds every spine and session.
    """
    n_spines, n_sessions = present.shape
    if imaged is None or n_spines == 0:
        return [(np.arange(n_spines), np.arange(n_sessions))]
    patterns, first, inverse = np.unique(imaged, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)  # numpy 2.0-2.1 keep the axis in return_inverse
    return [(np.flatnonzero(inverse == k), np.flatnonzero(patterns[k])) for k in np.argsort(first)]


def _pair_counts(present: np.ndarray) -> dict[str, int]:
    """Count presence and events over the adjacent columns of one group's presence."""
    start, end = present[:, :-1], present[:, 1:]
    return {
        "present": int(present.sum()),
        "transitions": int((start & end).sum()),
        "formations": int((~start & end).sum()),
        "eliminations": int((start & ~end).sum()),
        "at_risk_formation": int((~start).sum()),
        "at_risk_elimination": int(start.sum()),
    }


def count_transitions(ds: xr.Dataset) -> dict[str, int]:
    """Count transitions, formations and eliminations between consecutive sessions.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`
        (absent spines are NaN), optionally with an ``imaged`` coord.

    Returns
    -------
    dict of str to int
        ``spines``, ``sessions`` (all sessions of `ds`), ``present`` (spine-sessions with a
        volume), ``transitions`` (consecutive pairs present in both), ``formations``
        (absent then present), ``eliminations`` (present then absent),
        ``at_risk_formation`` (consecutive pairs starting absent) and
        ``at_risk_elimination`` (consecutive pairs starting present, which equals
        ``transitions + eliminations``). With an ``imaged`` coord, pairs are consecutive
        imaged sessions of each spine and ``present`` counts imaged sessions only.
    """
    _, present, _, imaged = _presence(ds)
    counts = dict.fromkeys(_pair_counts(present[:0]), 0)
    for rows, columns in _groups(present, imaged):
        for key, value in _pair_counts(present[np.ix_(rows, columns)]).items():
            counts[key] += value
    return {"spines": int(present.shape[0]), "sessions": int(present.shape[1]), **counts}


def _transition_positions(
    present: np.ndarray, imaged: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return spine, start-session and end-session positions of every transition.

    Sessions are positions in time order; the result is ordered by spine then session.
    """
    spine_index, session_start, session_end = [], [], []
    for rows, columns in _groups(present, imaged):
        group = present[np.ix_(rows, columns)]
        row, pair = np.nonzero(group[:, :-1] & group[:, 1:])
        spine_index.append(rows[row])
        session_start.append(columns[pair])
        session_end.append(columns[pair + 1])
    spine_index, session_start, session_end = (
        np.concatenate(part).astype(np.int64) for part in (spine_index, session_start, session_end)
    )
    order = np.lexsort((session_start, spine_index))
    return spine_index[order], session_start[order], session_end[order]


def transitions(ds: xr.Dataset) -> xr.Dataset:
    """Return every transition (present in two consecutive sessions) as one flat table.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`,
        optionally with an ``imaged`` coord (then "consecutive" means consecutive
        sessions at which the spine was imaged).

    Returns
    -------
    xarray.Dataset
        Dim ``transition``, ordered by spine then session, with variables ``w_start`` and
        ``w_end`` (volumes, in the units of ``ds.volume``), ``dt_days`` (the time between
        the two sessions) and ``spine_index`` (the 0-based position of the spine in
        ``ds.spine``, for indexing per-spine or per-dendrite parameters), and coords
        ``spine_id`` and ``session_start`` (the earlier session's position in time order
        among all sessions of `ds`). Attrs carry the source, content hash and
        spinefit version of `ds`.
    """
    volume, present, times, imaged = _presence(ds)
    spine_index, session_start, session_end = _transition_positions(present, imaged)
    with np.errstate(over="ignore"):  # only absurd times (|t| near 1e308) overflow
        dt_days = times[session_end] - times[session_start]
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
                volume[spine_index, session_end],
                {"units": units, "long_name": "volume at the next session"},
            ),
            "dt_days": (
                dim,
                dt_days,
                {"units": dims.DAY, "long_name": "time between the two sessions"},
            ),
            "spine_index": (
                dim,
                spine_index,
                {"long_name": "0-based position of the spine in the source Dataset"},
            ),
        },
        coords={
            dim: np.arange(len(spine_index), dtype=np.int64),
            dims.SPINE_ID: (dim, spine_ids),
            "session_start": (dim, session_start),
        },
        attrs={k: ds.attrs[k] for k in _PROVENANCE if k in ds.attrs},
    )


def turnover_intervals(ds: xr.Dataset) -> xr.Dataset:
    """Count, for each interval between consecutive sessions, spines at risk and events.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series as returned by :func:`spinefit.io.two_photon.read_two_photon`,
        optionally with an ``imaged`` coord.

    Returns
    -------
    xarray.Dataset
        Dim ``interval`` (one per pair of consecutive sessions, numbered 0, 1, ...) with
        ``dt_days``, ``present_start`` (spines present at the earlier session),
        ``eliminated`` (present then absent) and ``formed`` (absent then present). With an
        ``imaged`` coord an interval is one pair of consecutive imaged sessions of one
        group of spines sharing an imaging pattern (one group per combined file), each
        with its own ``dt_days``; groups follow the order of their first spine.
    """
    _, present, times, imaged = _presence(ds)
    dt_days, present_start, eliminated, formed = [], [], [], []
    for rows, columns in _groups(present, imaged):
        group = present[np.ix_(rows, columns)]
        start, end = group[:, :-1], group[:, 1:]
        dt_days.append(np.diff(times[columns]))
        present_start.append(start.sum(axis=0))
        eliminated.append((start & ~end).sum(axis=0))
        formed.append((~start & end).sum(axis=0))
    dim = "interval"
    return xr.Dataset(
        {
            "dt_days": (dim, np.concatenate(dt_days), {"units": dims.DAY}),
            "present_start": (dim, np.concatenate(present_start).astype(np.int64)),
            "eliminated": (dim, np.concatenate(eliminated).astype(np.int64)),
            "formed": (dim, np.concatenate(formed).astype(np.int64)),
        },
        coords={dim: np.arange(sum(len(d) for d in dt_days), dtype=np.int64)},
    )


def imaging_blocks(ds: xr.Dataset) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Return the time series split into blocks of spines that share one imaging pattern.

    Parameters
    ----------
    ds : xarray.Dataset
        A time series, optionally with an ``imaged`` coord.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Per block ``(rows, volume, times)``: the spines' 0-based positions in ``ds.spine``,
        their volumes (rows × the block's imaged sessions, NaN where absent) and those
        sessions' times in days, in time order. Without an ``imaged`` coord there is one
        block with every spine and session.
    """
    volume, present, times, imaged = _presence(ds)
    volume = np.where(present, volume, np.nan)
    return [
        (rows, volume[np.ix_(rows, columns)], times[columns])
        for rows, columns in _groups(present, imaged)
    ]
