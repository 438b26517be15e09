"""Saving and loading results (netCDF DataTrees): atomic writes, format version checked."""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from spinefit.errors import ResultError
from spinefit.io.atomic import write_atomically
from spinefit.results.names import (
    FORMAT_ATTR,
    FORMAT_VERSION,
    MODEL_ATTR,
    POSTERIOR_GROUP,
    RESULT_PATH_ATTR,
)


def _clean_for_netcdf(tree: xr.DataTree) -> xr.DataTree:
    """Make attrs netCDF-safe: nested dicts/lists and None become JSON strings."""

    def clean(attrs: dict) -> dict:
        out = {}
        for key, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, dict | list | tuple) and not all(
                isinstance(v, int | float | str) for v in value
            ):
                value = json.dumps(value)
            elif isinstance(value, dict):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = int(value)
            out[key] = value
        return out

    tree = tree.copy()
    for node in tree.subtree:
        node.attrs = clean(node.attrs)
        for var in node.variables:
            node[var].attrs = clean(node[var].attrs)
    return tree


def save_result(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a fitted result to a netCDF file, atomically.

    Parameters
    ----------
    tree : xarray.DataTree
        Result from :meth:`spinefit.models.base.SpineModel.fit`.
    path : str or Path
        Destination ``.nc`` file.
    """
    tree = _clean_for_netcdf(tree)
    tree.attrs.pop(RESULT_PATH_ATTR, None)
    tree.attrs[FORMAT_ATTR] = FORMAT_VERSION
    return write_atomically(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))


def load_result(path: str | Path) -> xr.DataTree:
    """Read a result written by :func:`save_result`, checking that it is one.

    Results without a recorded format version (written before it existed, version 1)
    load as they are; a newer version than this spinefit writes is refused.

    Raises
    ------
    ResultError
        If the file is missing, truncated or unreadable, not a spinefit result, or of a
        format version this spinefit cannot read (the message names both versions).
    """
    path = Path(path)
    if not path.exists():
        raise ResultError(f"{path}: result file not found")
    if path.is_dir():
        raise ResultError(f"{path}: is a folder, not a result file")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as err:  # noqa: BLE001 - any reader failure means "not a result"
        raise ResultError(
            f"{path}: not a readable netCDF result, truncated or corrupted ({type(err).__name__})"
        ) from None
    if MODEL_ATTR not in tree.attrs or POSTERIOR_GROUP not in tree.children:
        raise ResultError(f"{path}: not a spinefit result (no model name or posterior)")
    version = format_version(tree, path)
    if version > FORMAT_VERSION:
        raise ResultError(
            f"{path}: result format version {version} is newer than the version this "
            f"spinefit reads ({FORMAT_VERSION}); upgrade spinefit to read it"
        )
    tree.attrs[RESULT_PATH_ATTR] = str(path)
    return tree


def format_version(tree: xr.DataTree, path: str | Path = "result") -> int:
    """Return the result's format version (1 when none is recorded)."""
    value = tree.attrs.get(FORMAT_ATTR, 1)
    try:
        version = int(value)
    except (TypeError, ValueError):
        version = 0
    if version < 1 or str(version) != str(value).strip():
        raise ResultError(f"{path}: result format version {value!r} is not a version number")
    return version


def add_group(path: str | Path, name: str, dataset: xr.Dataset) -> xr.DataTree:
    """Store ``dataset`` as group ``name`` of the result at ``path`` (replacing it), atomically.

    The file is rewritten whole; a failure leaves the original result untouched.

    Returns
    -------
    xarray.DataTree
        The updated result.
    """
    tree = load_result(path)
    tree[name] = xr.DataTree(dataset=dataset)
    save_result(tree, path)
    tree.attrs[RESULT_PATH_ATTR] = str(path)
    return tree
