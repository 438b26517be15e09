"""Simulators and stationary densities of spine-size dynamics, and datasets with known truth.

Layers, from the bottom: :mod:`~spinefit.simulate.stationary` (numpy-only Fokker–Planck
densities), :mod:`~spinefit.simulate.particles` (numba SDE simulator with turnover, wrapped
into time-series Datasets) and :mod:`~spinefit.simulate.synthetic` (parameter sets and bundled
demo data).
"""

from spinefit.simulate.particles import simulate_particles, simulate_paths
from spinefit.simulate.stationary import (
    linear_family_curves,
    stationary_density,
    stationary_elimination_rate,
)
from spinefit.simulate.synthetic import (
    DEFAULT_TIMES_DAYS,
    DEFAULT_TRUTH,
    simulate_time_series,
    write_demo_data,
)

__all__ = [
    # Fokker–Planck stationary densities (numpy only)
    "linear_family_curves",
    "stationary_density",
    "stationary_elimination_rate",
    # Particle (SDE) simulation
    "simulate_paths",
    "simulate_particles",
    # Datasets with known truth
    "DEFAULT_TIMES_DAYS",
    "DEFAULT_TRUTH",
    "simulate_time_series",
    "write_demo_data",
]
