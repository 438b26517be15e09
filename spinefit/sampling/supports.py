"""The support of each sampled parameter, read from its transform and kept on the result.

NUTS samples every bounded parameter in an unconstrained space; the transform says where
the bounds are: a log transform puts the lower end at 0 (a scale, a rate), a log-odds
transform at 0 and 1 (a fraction), an interval transform with constant ends at those
ends. :func:`record_supports` writes them as attrs of the posterior's variables, where
:mod:`spinefit.stats` closes an HDI at the support's end when the posterior does not
fall off towards it (a truth of exactly 0 is then covered). Deterministic quantities
carry no support: their bounds are not known here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def support_bounds(model: pm.Model) -> dict[str, Support]:
    """Return the support of every free variable whose transform bounds it.

    Parameters
    ----------
    model : pymc.Model
        The sampled model.

    Returns
    -------
    dict
        ``{name: (low, high)}`` for variables with a log transform (``(0, None)``), a
        log-odds transform (``(0, 1)``) or an interval transform with constant ends;
        other variables are left out.
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


__all__ = ["Support", "record_supports", "support_bounds"]
