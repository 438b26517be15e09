"""Simulation-based calibration of spinefit's models (``spinefit calibrate``).

:mod:`~spinefit.calibration.ranks` holds the numpy/scipy statistics (ranks, χ² uniformity,
coverage), :mod:`~spinefit.calibration.simulators` the prior draw and simulation of each
model, :mod:`~spinefit.calibration.run` the :func:`calibrate` function behind the CLI.
Importing this package imports neither PyMC nor the models.
"""

from __future__ import annotations

__all__ = ["calibrate"]


def calibrate(*args, **kwargs):
    """Run :func:`spinefit.calibration.run.calibrate` (imported on first use)."""
    from spinefit.calibration.run import calibrate as run_calibrate

    return run_calibrate(*args, **kwargs)
