r"""The support of each sampled parameter, read from its transform and kept on the result.

NUTS samples every bounded parameter in an unconstrained space; the transform says where
the bounds are: a log transform puts the lower end at 0 (a scale, a rate), a log-odds
transform at 0 and 1 (a fraction), an interval transform with constant ends at those
ends. A deterministic quantity gets a lower end of 0 when its graph shows it cannot be
negative (:func:`nonnegative`: an exponential, a square, a product or sum of such factors
and of positive parameters and constants), as the condition model's
:math:`c = e^{\ln c} s^2` and :math:`d = e^{\ln d}` are. :func:`record_supports` writes
them as attrs of the posterior's variables, where :mod:`spinefit.stats` closes an HDI at
the support's end when the posterior does not fall off towards it (a truth of exactly 0
is then covered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from spinefit import dims

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

Support = tuple[float | None, float | None]
"""Lower and upper end of a parameter's support; None where it is unbounded."""


def _constant(value) -> float | None:
    """Return a constant tensor's value as a float, None when unbounded or not constant."""
    from pytensor.tensor.basic import NotScalarConstantError, get_underlying_scalar_constant_value

    if value is None:
        return None
    try:
        return float(get_underlying_scalar_constant_value(value))
    except (NotScalarConstantError, TypeError, ValueError):
        return None


POSITIVE_FUNCTIONS = ("Exp", "Sqrt", "Sqr", "Abs", "Sigmoid", "Softplus")
"""Scalar ops whose output is never negative, whatever their input."""

CLOSED_UNDER = ("Mul", "TrueDiv", "Add", "Minimum")
"""Scalar ops whose output is never negative when none of their inputs is."""

SHAPE_ONLY = (
    "ViewOp", "DimShuffle", "Subtensor", "AdvancedSubtensor", "AdvancedSubtensor1", "Reshape",
    "SpecifyShape", "Alloc",
)  # fmt: skip
"""Ops that only move or repeat their first input's values."""

GATHERING = {"MakeVector": 0, "Join": 1}
"""Ops that stack their inputs (from this input on; Join's first input is the axis)."""


def _values(variable) -> np.ndarray | None:
    """Return a constant's or a data container's values, None for anything computed."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(variable, Constant):
        return np.asarray(variable.data)
    if isinstance(variable, SharedVariable):
        return np.asarray(variable.get_value())
    return None


def nonnegative(variable, nonnegative_names: set[str], depth: int = 0) -> bool:
    """Return whether ``variable``'s graph shows that it can never be negative.

    Conservative: False whenever a node is not one of the known sign-keeping kinds.

    Parameters
    ----------
    variable : pytensor.Variable
        A model quantity (e.g. a deterministic's output).
    nonnegative_names : set of str
        Names of the model's random variables known to be ≥ 0 (from their supports).
    depth : int
        Recursion depth; a graph deeper than 40 nodes is not examined further.
    """
    if depth > 40:
        return False
    if variable.name in nonnegative_names:
        return True
    values = _values(variable)
    if values is not None:
        return bool(values.size) and bool(np.all(values >= 0))
    node = variable.owner
    if node is None:
        return False
    op = type(getattr(node.op, "scalar_op", node.op)).__name__
    inputs = node.inputs

    def check(item) -> bool:
        return nonnegative(item, nonnegative_names, depth + 1)

    if op in POSITIVE_FUNCTIONS:
        return True
    if op in SHAPE_ONLY:
        return check(inputs[0])
    if op in GATHERING:
        return all(check(item) for item in inputs[GATHERING[op] :])
    if op == "Maximum":
        return any(check(item) for item in inputs)
    if op in CLOSED_UNDER:
        return all(check(item) for item in inputs)
    if op == "Pow":
        exponent = _values(inputs[1])
        even = exponent is not None and bool(np.all(np.mod(exponent, 2) == 0))
        return even or check(inputs[0])
    return False


def support_bounds(model: pm.Model) -> dict[str, Support]:
    """Return the support of every bounded free variable and non-negative deterministic.

    Parameters
    ----------
    model : pymc.Model
        The sampled model.

    Returns
    -------
    dict
        ``{name: (low, high)}`` for variables with a log transform (``(0, None)``), a
        log-odds transform (``(0, 1)``) or an interval transform with constant ends;
        deterministics whose graph shows them ≥ 0 get ``(0, None)``; other variables are
        left out.
    """
    from pymc.logprob.transforms import IntervalTransform, LogOddsTransform, LogTransform

    bounds: dict[str, Support] = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        if isinstance(transform, LogTransform):
            bounds[rv.name] = (0.0, None)
        elif isinstance(transform, LogOddsTransform):
            bounds[rv.name] = (0.0, 1.0)
        elif isinstance(transform, IntervalTransform):
            low, high = transform.args_fn(*rv.owner.inputs)
            support = (_constant(low), _constant(high))
            if support != (None, None):
                bounds[rv.name] = support
    at_least_zero = {name for name, (low, _) in bounds.items() if low is not None and low >= 0}
    for quantity in model.deterministics:  # in the order built: later ones may use earlier
        if nonnegative(quantity, at_least_zero):
            bounds[quantity.name] = (0.0, None)
            at_least_zero.add(quantity.name)
    return bounds


def record_supports(tree: xr.DataTree, bounds: dict[str, Support]) -> xr.DataTree:
    """Write ``bounds`` as support attrs on the posterior's variables; return ``tree``."""
    if "posterior" not in tree.children:
        return tree
    posterior = tree["posterior"]
    for name, (low, high) in bounds.items():
        if name not in posterior.data_vars:
            continue
        for key, value in ((dims.ATTR_SUPPORT_LOW, low), (dims.ATTR_SUPPORT_HIGH, high)):
            if value is not None:
                posterior[name].attrs[key] = value
    return tree


__all__ = ["Support", "nonnegative", "record_supports", "support_bounds"]
