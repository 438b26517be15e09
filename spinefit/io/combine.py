"""Combine several ingested Datasets of one kind into one, labelled by where they came from.

A lab often keeps one file per condition (``wt.csv``, ``ko.csv``). :func:`combine_labelled`
joins the Datasets read from such files into one and records each file's label in a
per-spine (time series) or per-synapse (snapshot) coord, ``condition`` by default, so a
model that compares conditions can be fitted to the result.

Ids are prefixed with the label (``"WT/s1"``) because ids from different files name
different spines, cells and dendrites even when they are spelled the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.ssem import (
    ATTR_SIZE_VARIABLE,
    MICRONS_POSITIONS,
    MULTIPLICITY,
    POST_ID,
    PRE_ID,
    label_coords,
    synapse_dataset,
)
from spinefit.io.tables import normalize_unit
from spinefit.io.time_series import time_series_dataset
from spinefit.io.two_photon import SE_LONG_NAMES

ATTR_COMBINED_LABELS = "combined_labels"
"""Dataset attribute: JSON list of the labels of the combined Datasets, in order."""
LABEL_SEPARATOR = "/"
"""Separator between a label and an id in the combined ids (``"WT/s1"``)."""

_KINDS = (dims.KIND_TIME_SERIES, dims.KIND_SNAPSHOT)
_RESERVED = frozenset(
    {
        dims.SPINE,
        dims.SESSION,
        dims.TIME_DAYS,
        dims.SPINE_ID,
        dims.IMAGED,
        dims.VOLUME,
        dims.SYNAPSE,
        dims.CONNECTION,
        PRE_ID,
        POST_ID,
        MULTIPLICITY,
        *MICRONS_POSITIONS,
    }
)
_PREFIXED_SPINE_COORDS = (dims.SPINE_ID, dims.DENDRITE_ID, dims.ANIMAL_ID)
"""Per-spine coords naming things that belong to one file, so prefixed with its label."""


def combine_labelled(
    datasets: Sequence[xr.Dataset], labels: Sequence[str], *, by: str = dims.CONDITION_LABEL
) -> xr.Dataset:
    """Combine Datasets of one kind into one, recording each one's label in a coord.

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        Two or more Datasets as returned by the readers (or simulators), all time series
        or all snapshots (``attrs["data_kind"]``), with the same volume or size units.
    labels : sequence of str
        One distinct, non-empty label per Dataset (e.g. ``["WT", "KO"]``), without
        ``"/"``.
    by : str, default "condition"
        Name of the coord, along ``spine`` or ``synapse``, that holds the labels. No
        input may already have a coord of that name.

    Returns
    -------
    xarray.Dataset
        In the layout of the inputs' reader.

        *Time series*: spines of every Dataset in the order given, with ids
        ``"{label}/{id}"`` (also ``spine_id``, ``dendrite_id`` and ``animal_id``, where
        not empty). Sessions are the sorted union of all ``time_days``, numbered
        0, 1, ...; a spine is NaN at sessions only other Datasets imaged. If the
        Datasets' session times differ, a bool coord ``imaged`` (spine, session) is True
        where the spine's own Dataset imaged the session (and wherever an input's own
        ``imaged`` coord is True), so :mod:`spinefit.io.transitions` skips those sessions
        for its spines instead of counting them as absence; with the same session times
        everywhere there is no ``imaged`` coord. Other per-spine coords are kept as
        strings, ``""`` for spines of a Dataset without that coord.

        *Snapshots*: synapses of every Dataset in the order given; synapse, ``pre_id``
        and ``post_id`` ids are prefixed ``"{label}/"`` (so connections never span
        Datasets), ``connection`` and ``multiplicity`` are rebuilt from them, positions
        are NaN and label coords ``""`` where a Dataset lacks them.

        Attrs: ``source`` (the sources joined by ``"; "``), ``content_hash`` (SHA-256
        over the inputs' hashes in order), ``spinefit_version``, ``data_kind``,
        ``combined_labels`` (JSON list), ``size_variable`` (snapshots) and a merged
        ``ingestion_report``: counts summed, dropped rows keep their reason and row and
        name their file in the detail, notes are prefixed ``"{label}: "``;
        ``detection_limit`` when every input has the same one (a note says when they
        differ). Other attrs of the inputs are not kept.

    Raises
    ------
    ConfigError
        If there are fewer than two Datasets, the labels do not match them one to one
        (count, duplicates, empty), `by` is a name spinefit already uses or is a coord
        of an input, or the inputs differ in kind or units.
    DataError
        If an input is not in a reader's layout.

    Examples
    --------
    >>> wt = read_two_photon("wt.csv")  # doctest: +SKIP
    >>> ko = read_two_photon("ko.csv")  # doctest: +SKIP
    >>> both = combine_labelled([wt, ko], ["WT", "KO"])  # doctest: +SKIP
    >>> both["condition"].values  # doctest: +SKIP
    array(['WT', 'WT', ..., 'KO'], dtype='<U2')
    """
    datasets, labels = _check_inputs(datasets, labels)
    kind = _common_kind(datasets, labels)
    _check_by(datasets, labels, by)
    source = "; ".join(_source_of(ds, label) for ds, label in zip(datasets, labels, strict=True))
    report = _merged_report(datasets, labels, by)
    limit = _common_detection_limit(datasets, labels, report)
    content_hash = _combined_content_hash(datasets)
    if kind == dims.KIND_TIME_SERIES:
        combined = _combine_time_series(datasets, labels, by, report, source, content_hash)
    else:
        combined = _combine_snapshots(datasets, labels, by, report, source, content_hash)
    combined.attrs[ATTR_COMBINED_LABELS] = json.dumps(labels)
    if limit is not None:
        combined.attrs[dims.ATTR_DETECTION_LIMIT] = limit
    return combined


def _common_detection_limit(
    datasets: Sequence[xr.Dataset], labels: Sequence[str], report: IngestionReport
) -> float | None:
    """Return the inputs' detection limit when all have the same one; else note why not."""
    limits = [ds.attrs.get(dims.ATTR_DETECTION_LIMIT) for ds in datasets]
    if all(limit is None for limit in limits):
        return None
    if all(limit is not None for limit in limits) and np.allclose(limits, limits[0], rtol=1e-6):
        return float(limits[0])
    shown = ", ".join(
        f"{label} {'none' if limit is None else f'{float(limit):.4g}'}"
        for label, limit in zip(labels, limits, strict=True)
    )
    report.notes.append(
        f"detection limits differ ({shown}): none kept; give the fit one with -o detection_limit=X"
    )
    return None


def _merged_report(
    datasets: Sequence[xr.Dataset], labels: Sequence[str], by: str
) -> IngestionReport:
    """Merge the ingestion reports of labelled Datasets into one.

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        Datasets with an ``ingestion_report`` attr (JSON); one without is noted.
    labels : sequence of str
        The label of each Dataset.
    by : str
        The coord that holds the labels (named in a note).

    Returns
    -------
    IngestionReport
        Source ``"; "``-joined; rows read and kept summed; each dropped row with its
        reason, its row number in its own file and ``"<file>: <detail>"``; each note as
        ``"<label>: <note>"``, after a first note naming every label and its file.
    """
    sources = [_source_of(ds, label) for ds, label in zip(datasets, labels, strict=True)]
    merged = IngestionReport(source="; ".join(sources))
    merged.notes.append(
        f"combined {len(datasets)} datasets, labelled in the '{by}' coord: "
        + ", ".join(f"{label} = {source}" for label, source in zip(labels, sources, strict=True))
    )
    for dataset, label, source in zip(datasets, labels, sources, strict=True):
        raw = dataset.attrs.get(dims.ATTR_INGESTION_REPORT)
        if not raw:
            merged.notes.append(f"{label}: no ingestion report")
            continue
        part = _parse_report(raw, source)
        merged.rows_read += part.rows_read
        merged.rows_kept += part.rows_kept
        for dropped in part.dropped:
            detail = f"{part.source}: {dropped.detail}" if dropped.detail else part.source
            merged.drop(dropped.row, dropped.reason, detail)
        merged.notes.extend(f"{label}: {note}" for note in part.notes)
    return merged


# --------------------------------------------------------------------------- checks


def _check_inputs(
    datasets: Sequence[xr.Dataset], labels: Sequence[str]
) -> tuple[list[xr.Dataset], list[str]]:
    """Return datasets and labels as lists, raising ConfigError unless they pair up."""
    if isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    datasets = list(datasets)
    for dataset in datasets:
        if not isinstance(dataset, xr.Dataset):
            raise TypeError(f"combine_labelled() expects xarray Datasets, got {type(dataset)}")
    if len(datasets) < 2:
        raise ConfigError(f"combining needs at least 2 datasets, got {len(datasets)}")
    if isinstance(labels, str):
        raise ConfigError(f"labels must be a list with one label per dataset, got {labels!r}")
    labels = [str(label).strip() for label in labels]
    if len(labels) != len(datasets):
        raise ConfigError(
            f"got {len(labels)} label(s) for {len(datasets)} datasets; give one label per file"
        )
    for position, label in enumerate(labels, start=1):
        if not label:
            raise ConfigError(f"label {position} is empty; give every file a non-empty label")
        if LABEL_SEPARATOR in label:
            raise ConfigError(
                f"label {label!r} contains '{LABEL_SEPARATOR}', which separates labels from "
                "ids; choose another label"
            )
        if labels.index(label) != position - 1:
            raise ConfigError(f"label {label!r} is given twice; labels must be distinct")
    return datasets, labels


def _common_kind(datasets: list[xr.Dataset], labels: list[str]) -> str:
    """Return the data kind shared by every Dataset, raising ConfigError on a mix."""
    kinds = [ds.attrs.get(dims.ATTR_DATA_KIND) for ds in datasets]
    for dataset, label, kind in zip(datasets, labels, kinds, strict=True):
        if kind not in _KINDS:
            raise ConfigError(
                f"{label} ({_source_of(dataset, label)}) has data_kind {kind!r}; only "
                f"{' and '.join(_KINDS)} Datasets can be combined"
            )
    for dataset, label, kind in zip(datasets, labels, kinds, strict=True):
        if kind != kinds[0]:
            raise ConfigError(
                f"cannot combine a {kinds[0]} ({labels[0]}, {_source_of(datasets[0], labels[0])}) "
                f"with a {kind} ({label}, {_source_of(dataset, label)})"
            )
    return kinds[0]


def _check_by(datasets: list[xr.Dataset], labels: list[str], by: str) -> None:
    """Raise ConfigError unless `by` is a free name for the label coord."""
    if not isinstance(by, str) or not by.strip():
        raise ConfigError(f"by must be a non-empty coord name, got {by!r}")
    if by in _RESERVED:
        raise ConfigError(f"by = '{by}' is a name spinefit already uses; choose another")
    for dataset, label in zip(datasets, labels, strict=True):
        if by in dataset.variables or by in dataset.dims:
            raise ConfigError(
                f"{label} ({_source_of(dataset, label)}) already has a '{by}' coord; store "
                f"the file labels under another name with --by (e.g. --by group)"
            )


def _check_units(datasets: list[xr.Dataset], labels: list[str], variable: str) -> str:
    """Return the units of `variable`, raising ConfigError if two Datasets differ."""
    units = [ds[variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS) for ds in datasets]
    for dataset, label, unit in zip(datasets, labels, units, strict=True):
        if normalize_unit(str(unit)) != normalize_unit(str(units[0])):
            raise ConfigError(
                f"{variable} units differ: {units[0]!r} in {labels[0]} "
                f"({_source_of(datasets[0], labels[0])}) but {unit!r} in {label} "
                f"({_source_of(dataset, label)}); convert them to one unit"
            )
    return str(units[0])


def _check_same_units(
    datasets: list[xr.Dataset], labels: list[str], variable: str, units: str
) -> None:
    """Raise ConfigError unless `variable`, where a Dataset has it, is in `units`."""
    for dataset, label in zip(datasets, labels, strict=True):
        if variable not in dataset.data_vars:
            continue
        unit = str(dataset[variable].attrs.get("units", units))
        if normalize_unit(unit) != normalize_unit(units):
            raise ConfigError(
                f"{variable} is in {unit!r} but volume in {units!r} in {label} "
                f"({_source_of(dataset, label)}); give both in one unit"
            )


def _check_layout(
    dataset: xr.Dataset, label: str, variables: set[str], item_dim: str, known: set[str]
) -> None:
    """Raise DataError unless a Dataset has exactly `variables` and no unknown coords."""
    source = _source_of(dataset, label)
    if set(dataset.data_vars) != variables:
        raise DataError(
            f"expected the data variables {sorted(variables)}, found "
            f"{sorted(map(str, dataset.data_vars))}; combine only Datasets of one layout",
            source=source,
        )
    for name, coord in dataset.coords.items():
        if name not in known and coord.dims != (item_dim,):
            raise DataError(
                f"cannot combine coord '{name}' with dims {coord.dims}; only per-{item_dim} "
                "coords are combined",
                source=source,
            )


# --------------------------------------------------------------------------- time series


def _combine_time_series(
    datasets: list[xr.Dataset],
    labels: list[str],
    by: str,
    report: IngestionReport,
    source: str,
    content_hash: str,
) -> xr.Dataset:
    """Stack time series along ``spine`` over the union of their session times.

    Adds the ``imaged`` (spine, session) mask when the inputs' session times differ, or
    when an input already has one (a combination being combined again).
    """
    known = {dims.SESSION, dims.TIME_DAYS, dims.IMAGED}
    for dataset, label in zip(datasets, labels, strict=True):
        errors = {name for name in dims.STANDARD_ERRORS if name in dataset.data_vars}
        _check_layout(dataset, label, {dims.VOLUME} | errors, dims.SPINE, known)
        if dims.TIME_DAYS not in dataset.coords:
            raise DataError("no time_days coord", source=_source_of(dataset, label))
    units = _check_units(datasets, labels, dims.VOLUME)
    error_names = [n for n in dims.STANDARD_ERRORS if any(n in ds.data_vars for ds in datasets)]
    for name in error_names:
        _check_same_units(datasets, labels, name, units)
    times = np.unique(
        np.concatenate([ds[dims.TIME_DAYS].to_numpy().astype(float) for ds in datasets])
    )
    blocks, masks = [], []
    errors: dict[str, list[np.ndarray]] = {name: [] for name in error_names}
    for dataset, label in zip(datasets, labels, strict=True):
        own_times = dataset[dims.TIME_DAYS].to_numpy().astype(float)
        columns = np.searchsorted(times, own_times)
        block = _on_sessions(dataset, dims.VOLUME, columns, len(times))
        blocks.append(block)
        for name in error_names:
            errors[name].append(_on_sessions(dataset, name, columns, len(times)))
            if name not in dataset.data_vars:
                report.notes.append(f"{label}: no {name}; its spines' errors are unknown (NaN)")
        mask = np.zeros(block.shape, dtype=bool)
        mask[:, columns] = _own_imaged(dataset, label)
        masks.append(mask)
        unimaged = np.setdiff1d(times, own_times)
        if len(unimaged):
            shown = ", ".join(f"{t:g}" for t in unimaged)
            report.notes.append(
                f"{label}: no session at day(s) {shown} (other files have one); its spines "
                "are NaN there and marked not imaged, so transitions skip those sessions "
                "for them instead of counting them as absence"
            )
    spine_ids = _prefixed(datasets, labels, dims.SPINE)
    coords = {
        name: _item_labels(datasets, labels, name, dims.SPINE, name in _PREFIXED_SPINE_COORDS)
        for name in _item_coords(datasets, dims.SPINE, exclude={dims.SPINE})
    }
    coords[by] = _repeat_labels(datasets, labels, dims.SPINE)
    combined = time_series_dataset(
        np.vstack(blocks),
        spine_ids,
        times,
        coords,
        units,
        report,
        {dims.ATTR_SOURCE: source, dims.ATTR_CONTENT_HASH: content_hash},
    )
    for name in error_names:
        combined[name] = (
            (dims.SPINE, dims.SESSION),
            np.vstack(errors[name]),
            {"units": units, "long_name": SE_LONG_NAMES[name]},
        )
    imaged = np.vstack(masks)
    if imaged.all():
        return combined
    return combined.assign_coords(
        {
            dims.IMAGED: (
                (dims.SPINE, dims.SESSION),
                imaged,
                {"long_name": "session imaged for this spine (False: not imaged, not absent)"},
            )
        }
    )


def _on_sessions(dataset: xr.Dataset, name: str, columns: np.ndarray, n: int) -> np.ndarray:
    """Return a (spine, session) variable on `n` combined sessions, NaN elsewhere.

    A Dataset without the variable gives all NaN.
    """
    values = np.full((dataset.sizes[dims.SPINE], n), np.nan)
    if name in dataset.data_vars:
        own = dataset[name].transpose(dims.SPINE, dims.SESSION).to_numpy().astype(float)
        values[:, columns] = own
    return values


def _own_imaged(dataset: xr.Dataset, label: str) -> np.ndarray:
    """Return a Dataset's (spine, session) imaged mask: its ``imaged`` coord, else all True.

    Raises
    ------
    DataError
        If the ``imaged`` coord is not bool over (spine, session).
    """
    shape = (dataset.sizes[dims.SPINE], dataset.sizes[dims.SESSION])
    if dims.IMAGED not in dataset.coords:
        return np.ones(shape, dtype=bool)
    imaged = dataset[dims.IMAGED]
    if set(imaged.dims) != {dims.SPINE, dims.SESSION} or imaged.dtype != bool:
        raise DataError(
            f"the '{dims.IMAGED}' coord must be bool with dims (spine, session), got "
            f"{imaged.dtype} with dims {imaged.dims}",
            source=_source_of(dataset, label),
        )
    return imaged.transpose(dims.SPINE, dims.SESSION).to_numpy()


# --------------------------------------------------------------------------- snapshots


def _combine_snapshots(
    datasets: list[xr.Dataset],
    labels: list[str],
    by: str,
    report: IngestionReport,
    source: str,
    content_hash: str,
) -> xr.Dataset:
    """Concatenate snapshots along ``synapse`` with label-prefixed synapse and cell ids."""
    first = datasets[0]
    size_names = [str(name) for name in first.data_vars]
    size_variable = first.attrs.get(ATTR_SIZE_VARIABLE, size_names[0] if size_names else None)
    for dataset, label in zip(datasets, labels, strict=True):
        _check_layout(dataset, label, set(size_names), dims.SYNAPSE, set())
        missing = {PRE_ID, POST_ID} - set(dataset.coords)
        if missing:
            raise DataError(
                f"no {' or '.join(sorted(missing))} coord", source=_source_of(dataset, label)
            )
        if dataset.attrs.get(ATTR_SIZE_VARIABLE, size_variable) != size_variable:
            raise ConfigError(
                f"{label} ({_source_of(dataset, label)}) has primary size "
                f"{dataset.attrs.get(ATTR_SIZE_VARIABLE)!r} but {labels[0]} has "
                f"{size_variable!r}; read every file with the same size_cols"
            )
    units = {name: _check_units(datasets, labels, name) for name in size_names}
    positions = {
        name: np.concatenate([_floats_or_nan(ds, name) for ds in datasets])
        for name in MICRONS_POSITIONS
        if any(name in ds.coords for ds in datasets)
    }
    names = dict.fromkeys(name for ds in datasets for name in label_coords(ds))
    extra = {name: _item_labels(datasets, labels, name, dims.SYNAPSE, False) for name in names}
    extra[by] = _repeat_labels(datasets, labels, dims.SYNAPSE)
    combined = synapse_dataset(
        synapse_ids=np.asarray(_prefixed(datasets, labels, dims.SYNAPSE)),
        pre_ids=np.asarray(_prefixed(datasets, labels, PRE_ID)),
        post_ids=np.asarray(_prefixed(datasets, labels, POST_ID)),
        sizes={
            name: np.concatenate([ds[name].to_numpy().astype(float) for ds in datasets])
            for name in size_names
        },
        units=units,
        source=source,
        content_hash=content_hash,
        report=report,
        positions=positions,
        long_names={name: first[name].attrs.get("long_name", name) for name in size_names},
        labels=extra,
    )
    if size_variable is not None:
        combined.attrs[ATTR_SIZE_VARIABLE] = size_variable
    return combined


# --------------------------------------------------------------------------- helpers


def _source_of(dataset: xr.Dataset, label: str) -> str:
    """Return a Dataset's source attr, or a stand-in naming its label."""
    return str(dataset.attrs.get(dims.ATTR_SOURCE) or f"<dataset {label}>")


def _parse_report(raw: str, source: str) -> IngestionReport:
    """Rebuild an ingestion report, raising DataError if the attr is not one."""
    try:
        return IngestionReport.from_json(raw)
    except (ValueError, KeyError, TypeError):
        raise DataError("the ingestion_report attr is not readable", source=source) from None


def _combined_content_hash(datasets: list[xr.Dataset]) -> str:
    """Return one SHA-256 over the inputs' content hashes, in order."""
    digest = hashlib.sha256()
    for dataset in datasets:
        digest.update(str(dataset.attrs.get(dims.ATTR_CONTENT_HASH, "")).encode())
    return f"sha256:{digest.hexdigest()}"


def _prefixed(datasets: list[xr.Dataset], labels: list[str], name: str) -> list[str]:
    """Return ``"{label}/{value}"`` for every value of `name` across the Datasets."""
    return [
        f"{label}{LABEL_SEPARATOR}{value}"
        for dataset, label in zip(datasets, labels, strict=True)
        for value in dataset[name].to_numpy().astype(str)
    ]


def _item_coords(datasets: list[xr.Dataset], item_dim: str, exclude: set[str]) -> list[str]:
    """Return the names of coords along `item_dim` in any Dataset, in first-seen order."""
    names = (
        str(name)
        for dataset in datasets
        for name, coord in dataset.coords.items()
        if coord.dims == (item_dim,) and name not in exclude
    )
    return list(dict.fromkeys(names))


def _item_labels(
    datasets: list[xr.Dataset], labels: list[str], name: str, item_dim: str, prefix: bool
) -> list[str]:
    """Return coord `name` as strings across the Datasets, ``""`` where one lacks it."""
    values: list[str] = []
    for dataset, label in zip(datasets, labels, strict=True):
        if name not in dataset.coords:
            values += [""] * dataset.sizes[item_dim]
            continue
        texts = dataset[name].to_numpy().astype(str)
        if prefix:
            texts = [f"{label}{LABEL_SEPARATOR}{t}" if t else "" for t in texts]
        values += list(texts)
    return values


def _repeat_labels(datasets: list[xr.Dataset], labels: list[str], item_dim: str) -> list[str]:
    """Return each Dataset's label once per spine or synapse."""
    return [
        label
        for dataset, label in zip(datasets, labels, strict=True)
        for _ in range(dataset.sizes[item_dim])
    ]


def _floats_or_nan(dataset: xr.Dataset, name: str) -> np.ndarray:
    """Return a float coord along ``synapse``, or NaN for a Dataset without it."""
    if name in dataset.coords:
        return dataset[name].to_numpy().astype(float)
    return np.full(dataset.sizes[dims.SYNAPSE], np.nan)


__all__ = ["ATTR_COMBINED_LABELS", "LABEL_SEPARATOR", "combine_labelled"]
