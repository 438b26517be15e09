"""Default cuts and aperture of ``spinefit measure``: plain numbers, cheap to import.

The CLI shows them in ``--help`` without importing the measuring code (scikit-image,
scipy), and :mod:`~spinefit.measure.run` and :mod:`~spinefit.measure.photometry` use them,
so the command and the library cannot disagree.
"""

from __future__ import annotations

DEFAULT_MIN_SNR = 4.0
"""A spine is present when its detection SNR is at least this (false-positive rate of an
absent spine about 3e-5 per measurement for Gaussian noise)."""
DEFAULT_MIN_SNR_ADJACENT = 3.0
"""Hysteresis: a spine with detection SNR at least this is present when it is present
(at either cut) in an adjacent session. An absent spine passes it with probability about
1e-3 per measurement for Gaussian noise, but only next to a detection; it keeps the
shrinking ends and brief dips of tracks that the single cut breaks."""
DEFAULT_RADIUS_XY = 5.0
"""Aperture radius in the image plane (pixels)."""
DEFAULT_HALF_DEPTH_Z = 2.0
"""Aperture half-depth along z (planes)."""

__all__ = [
    "DEFAULT_HALF_DEPTH_Z",
    "DEFAULT_MIN_SNR",
    "DEFAULT_MIN_SNR_ADJACENT",
    "DEFAULT_RADIUS_XY",
]
