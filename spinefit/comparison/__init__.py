"""Pieces of condition comparisons that do not depend on any model.

* :mod:`~spinefit.comparison.rope`: regions of practical equivalence per quantity;
* :mod:`~spinefit.comparison.bands`: simultaneous (family-wise) credible bands and
  contiguous ranges.

:mod:`spinefit.compare` puts them together on a fitted result.
"""
