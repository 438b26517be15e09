"""Start hints: a model's own rough estimates, turned into a point NUTS can start from.

A model may know cheap, robust estimates of some of its parameters from the data (the
drift–diffusion model: a, b, c, d from a regression of each size on the one before), and
a few candidate values for others that the data do not give directly (the noise, the
turnover rates). :func:`attach` stores them beside the PyMC model;
:func:`hinted_point` places them on the flat unconstrained vector that NUTS samples and
picks each candidate list's best value by the log density. The robust start then
optimises from that point as well (:func:`spinefit.sampling.starts.robust_start`).

Why: on noise-free drift–diffusion data imaged every 8 days (issue 12), every
optimisation from the prior's support point ended at log density −20 928 with b = −0.44
per day, τ = 0.31 and a loss rate of 0.26 per day (truth b = −0.02, no noise, no loss),
while the point of the moment estimates with small rates had +2 245 and its optimum
+2 325 (b = −0.019).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from spinefit.sampling.starts import LogpGrad

if TYPE_CHECKING:
    import pymc as pm

SCAN_PASSES = 2
"""Passes over the candidate lists (the best noise depends on the rates, and back)."""


@dataclass(frozen=True)
class StartHints:
    """Rough parameter values of a model, by free variable name (constrained scale).

    Parameters
    ----------
    values : dict of str to float or array
        Estimates to start from: a scalar (for a vector variable, every element) or an
        array of the variable's shape.
    candidates : dict of str to tuple of float
        Values to try, one variable at a time (a vector variable's elements all take the
        same value); the one with the highest log density is kept.
    """

    values: Mapping[str, float | np.ndarray] = field(default_factory=dict)
    candidates: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


_HINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach(model: pm.Model, hints: StartHints) -> None:
    """Keep ``hints`` for ``model`` (read by the robust start when it is sampled)."""
    _HINTS[model] = hints


def hints_of(model: pm.Model) -> StartHints | None:
    """Return the hints attached to ``model``, if any."""
    return _HINTS.get(model)


def _unconstrained(value, transform, size: int) -> np.ndarray | None:
    """Return ``value`` on the sampler's scale, ``size`` elements (None where not handled).

    Handled: no transform, and the log transform of positive values; a value whose
    shape does not broadcast to the variable's is not placed.
    """
    from pymc.logprob.transforms import LogTransform

    value = np.asarray(value, dtype=float)
    if value.size not in (1, size):
        return None
    value = np.broadcast_to(value.ravel(), (size,))
    if transform is None:
        return value.copy()
    if isinstance(transform, LogTransform) and np.all(value > 0):
        return np.log(value)
    return None


def layout(model: pm.Model) -> tuple[np.ndarray, dict[str, tuple[slice, object]]]:
    """Return the model's flat initial point and each free variable's place in it.

    The flat vector is the value variables in model order, raveled (as nutpie and
    PyMC's sampler see it); a place is the variable's slice of it and its transform.
    """
    point = model.initial_point(0)  # compiles a small function: called once per start
    parts, places, cursor = [], {}, 0
    for value_var in model.value_vars:
        values = np.ravel(point[value_var.name])
        rv = model.values_to_rvs[value_var]
        places[rv.name] = (slice(cursor, cursor + values.size), model.rvs_to_transforms.get(rv))
        parts.append(values)
        cursor += values.size
    return np.concatenate(parts), places


def hinted_point(
    model: pm.Model, support_point: np.ndarray, logp_grad: LogpGrad, hints: StartHints
) -> np.ndarray | None:
    """Return the support point with the hints' values, candidates chosen by log density.

    Names that are not free variables of ``model`` (e.g. a fixed noise), and variables
    whose transform is not handled here, are skipped. Returns None when no hint applies,
    when the log density there is not finite, or when ``support_point`` is not
    ``model``'s own in this layout (a sampler that orders the variables otherwise).
    """
    flat, places = layout(model)
    if flat.shape != np.shape(support_point) or not np.allclose(flat, support_point):
        return None
    x = np.array(support_point, dtype=float)
    placed = False
    for name, value in hints.values.items():
        if name not in places:
            continue
        where, transform = places[name]
        if (u := _unconstrained(value, transform, where.stop - where.start)) is not None:
            x[where] = u
            placed = True
    best = logp_grad(x)[0]
    for _ in range(SCAN_PASSES):
        for name, values in hints.candidates.items():
            if name not in places:
                continue
            where, transform = places[name]
            for value in values:
                if (u := _unconstrained(value, transform, where.stop - where.start)) is None:
                    continue
                trial = x.copy()
                trial[where] = u
                logp = logp_grad(trial)[0]
                if np.isfinite(logp) and logp > best:
                    x, best, placed = trial, logp, True
    return x if placed and np.isfinite(best) else None
