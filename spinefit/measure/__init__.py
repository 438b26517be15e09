"""From two-photon image stacks to spine volumes with per-measurement errors.

Layers: :mod:`~spinefit.measure.registration` (3-D phase correlation, numpy/scikit-image),
:mod:`~spinefit.measure.photometry` (aperture photometry and its noise, numpy only) and
:mod:`~spinefit.measure.run` (measuring stacks into a table) and
:mod:`~spinefit.measure.files` (the library function behind ``spinefit measure``: table
and QC report).
"""

from spinefit.measure.photometry import Aperture
from spinefit.measure.run import MeasureResult, measure_stacks

__all__ = ["Aperture", "MeasureResult", "measure_stacks"]
