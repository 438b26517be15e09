"""From two-photon image stacks to spine volumes with per-measurement errors.

Layers: :mod:`~spinefit.measure.registration` (3-D phase correlation, numpy/scikit-image),
:mod:`~spinefit.measure.photometry` (aperture photometry and its noise, numpy only) and
:mod:`~spinefit.measure.run` (measuring stacks into a table) and
:mod:`~spinefit.measure.files` (the library function behind ``spinefit measure``: table
and QC report).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Aperture": "spinefit.measure.photometry",
    "MeasureResult": "spinefit.measure.run",
    "measure_stacks": "spinefit.measure.run",
}
"""Imported on first use, so that :mod:`~spinefit.measure.defaults` stays cheap."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spinefit.measure' has no attribute {name!r}")


__all__ = ["Aperture", "MeasureResult", "measure_stacks"]
