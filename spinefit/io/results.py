"""Saving and loading fitted results (netCDF DataTrees), atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from spinefit.errors import ResultError, SpinefitError


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the file into place only if it succeeds.

    A failure leaves no partial file at ``path`` (and no temporary file behind).

    Parameters
    ----------
    path : str or Path
        Final destination. Its directory is created if needed.
    write : callable
        Writes the complete output to the path it is given.

    Returns
    -------
    Path
        The destination.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpinefitError(
            f"{path.parent}: cannot create output folder ({err.strerror})"
        ) from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
    return write_atomically(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))


def load_result(path: str | Path) -> xr.DataTree:
    """Read a result written by :func:`save_result`, checking that it is one.

    Raises
    ------
    ResultError
        If the file is missing, unreadable, or not a spinefit result.
    """
    path = Path(path)
    if not path.exists():
        raise ResultError(f"{path}: result file not found")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as err:  # noqa: BLE001 - any reader failure means "not a result"
        raise ResultError(f"{path}: not a readable netCDF result ({type(err).__name__})") from None
    if "spinefit_model" not in tree.attrs or "posterior" not in tree.children:
        raise ResultError(f"{path}: not a spinefit result (no model name or posterior)")
    tree.attrs["result_path"] = str(path)
    return tree
