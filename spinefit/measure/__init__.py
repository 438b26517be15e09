"""From two-photon image stacks to spine volumes with per-measurement errors.

Layers: :mod:`~spinefit.measure.registration` (3-D phase correlation, numpy/scikit-image),
:mod:`~spinefit.measure.photometry` (aperture photometry and its noise, numpy only) and
:mod:`~spinefit.measure.run` (the library function behind ``spinefit measure``).
"""

from spinefit.measure.photometry import Aperture
from spinefit.measure.run import MeasureResult, measure_stacks, measure_to_files

__all__ = ["Aperture", "MeasureResult", "measure_stacks", "measure_to_files"]
