"""Robust MCMC: starts near the mode, stuck chains re-run, draws extended to an ESS target.

Layers, lowest first:

- :mod:`~spinefit.sampling.starts` (numpy/scipy): the best of a few L-BFGS optimisations
  of the unconstrained log density, jittered by the conditional posterior SDs;
- :mod:`~spinefit.sampling.hints` : a model's own estimates, placed on the sampler's
  scale as one more optimisation's start;
- :mod:`~spinefit.sampling.modes` (numpy): chains grouped by overlapping 90% intervals,
  stable chains, chains stuck in a low-density mode;
- :mod:`~spinefit.sampling.ess` : the next round's draw count for the ESS target;
- :mod:`~spinefit.sampling.backends` : nutpie and PyMC behind one interface;
- :mod:`~spinefit.sampling.run` : :func:`sample_robustly`, what
  :func:`spinefit.models.base.sample_model` calls.
"""

from spinefit.sampling.ess import CAP_FACTOR
from spinefit.sampling.modes import ModeCheck, check_chains, check_posterior
from spinefit.sampling.run import (
    DRAWS_ATTR,
    NOTES_ATTR,
    RESTARTED_ATTR,
    START_ATTR,
    sample_robustly,
    sampling_notes,
)
from spinefit.sampling.starts import StartPoint, robust_start

__all__ = [
    # running
    "sample_robustly",
    "CAP_FACTOR",
    # checks
    "ModeCheck",
    "check_chains",
    "check_posterior",
    # starts
    "StartPoint",
    "robust_start",
    # result attrs
    "DRAWS_ATTR",
    "NOTES_ATTR",
    "RESTARTED_ATTR",
    "START_ATTR",
    "sampling_notes",
]
