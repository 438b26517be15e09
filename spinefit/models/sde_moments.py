r"""Exact and approximate transition moments of a scalar SDE over a finite interval.

For :math:`dw = \mu(w)\,dt + \sigma(w)\,dB` observed at :math:`w_0` and again after
:math:`\Delta t`, the likelihood of a transition uses the mean :math:`m(\Delta t)` and
variance :math:`V(\Delta t)` of :math:`w_{\Delta t}` given :math:`w_0`.

Linear family, :math:`\mu = a + b w`, :math:`\sigma^2 = c + d w^2`: the first two moments
obey the closed linear system

.. math::

    \frac{d}{dt}\begin{pmatrix}1\\ m\\ S\end{pmatrix} =
    \begin{pmatrix}0&0&0\\ a&b&0\\ c&2a&2b+d\end{pmatrix}
    \begin{pmatrix}1\\ m\\ S\end{pmatrix},\qquad S = E[w^2],

so :math:`(1, m, S)^T(\Delta t) = \exp(M\Delta t)\,(1, w_0, w_0^2)^T` exactly, for any sign
of :math:`b` (no division by :math:`b`), and :math:`V = S - m^2`. One 3×3 matrix
exponential is needed per distinct interval length, not per transition.

Flexible families use the second-order moment ODEs

.. math::

    \dot m = \mu(m) + \tfrac12 \mu''(m) V,\qquad
    \dot V = 2\mu'(m) V + \sigma^2(m) + \tfrac12 (\sigma^2)''(m) V,

integrated with classical Runge–Kutta sub-steps. They are exact for the linear family
(which the tests check against the matrix exponential) and second-order accurate
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor.tensor as pt
from scipy.linalg import expm as np_expm

from spinefit.models.expm_op import batch_expm

MAX_EXPONENT = 30.0
"""Bound on the entries of M·Δt passed to the matrix exponential."""


def _generator(a, b, c, d, xp):
    zero = a * 0.0
    rows = [
        xp.stack([zero, zero, zero]),
        xp.stack([a, b, zero]),
        xp.stack([c, 2.0 * a, 2.0 * b + d]),
    ]
    return xp.stack(rows)


def linear_moments(a, b, c, d, w_start, interval_index, intervals, scale=None):
    """Return the exact transition mean and variance of the linear family (PyTensor).

    Parameters
    ----------
    a, b, c, d : TensorVariable
        Scalars, or vectors indexed like ``w_start`` (per-transition parameters, e.g. with
        per-animal pooling). Units: a in w/day, b in 1/day, c in w²/day, d in 1/day.
    w_start : TensorVariable or ndarray
        Size at the start of each transition.
    interval_index : ndarray of int, TensorVariable or None
        For each transition, the index into ``intervals`` of its length (None: every
        transition has the first interval).
    intervals : ndarray of float or TensorVariable
        The distinct interval lengths (days). Symbolic data (``pm.Data``) lets one compiled
        model serve another data set of the same structure.
    scale : float or TensorVariable, optional
        The size unit of the computation (default: the median start size, which needs
        numeric ``w_start``; 1 for symbolic input).

    Returns
    -------
    mean, variance : TensorVariable
        Moments of the size at the end of each transition.
    """
    steps = pt.as_tensor(intervals).astype("float64")
    per_transition = any(getattr(p, "ndim", 0) > 0 for p in (a, b, c, d))
    if per_transition:
        return rk4_moments(
            lambda w: a + b * w,
            lambda w: b + 0.0 * w,
            lambda w: 0.0 * w,
            lambda w: c + d * w**2,
            lambda w: 2.0 * d + 0.0 * w,
            w_start,
            steps[0 if interval_index is None else interval_index],
            n_steps=16,
        )
    # Work in units of the median start size, so that every entry of M·Δt is unit-free
    # (b·Δt, (2b+d)·Δt and a·Δt, c·Δt in units of that size) and the bound below means the
    # same whatever the volume units: clipping a·Δt in raw fluorescence units (~1e4) made
    # variances 44–98% too small.
    if scale is None:
        scale = _size_scale(w_start)
    a, c, w_start = a / scale, c / scale**2, w_start / scale
    generator = _generator(a, b, c, d, pt)
    # Far in the tails a sampler can propose rates whose exponential overflows in the
    # squaring (an OverflowError, not an inf); bounding |M·Δt| at 30 keeps the
    # log-likelihood finite (and hopeless) there without touching any plausible value.
    # Only five entries of each propagator enter the moments. Gathering them as five
    # vectors over the distinct intervals (or not at all with one interval) instead of a
    # 3x3 matrix per transition makes the gradient's scatter 5/9 as large, or nothing.
    entries = ((1, 0), (1, 1), (2, 0), (2, 1), (2, 2))
    if interval_index is None or (isinstance(intervals, np.ndarray) and len(intervals) == 1):
        exponent = pt.clip(generator * steps[0], -MAX_EXPONENT, MAX_EXPONENT)
        propagator = batch_expm(exponent[None, :, :])[0]
        p10, p11, p20, p21, p22 = (propagator[i, j] for i, j in entries)
    else:
        # One batched expm over the distinct intervals: a Python list of K expm nodes made
        # graph rewriting slow (405 of 431 s of a 120-spine fit with 3 intervals).
        exponent = pt.clip(
            generator[None, :, :] * steps[:, None, None], -MAX_EXPONENT, MAX_EXPONENT
        )
        propagators = batch_expm(exponent)
        index = interval_index if hasattr(interval_index, "owner") else np.asarray(interval_index)
        p10, p11, p20, p21, p22 = (propagators[:, i, j][index] for i, j in entries)
    mean = p10 + p11 * w_start
    second = p20 + p21 * w_start + p22 * w_start**2
    return mean * scale, pt.maximum(second - mean**2, 1e-12) * scale**2


def _size_scale(w_start) -> float:
    """Median absolute start size of a numpy array (1 for symbolic or all-zero input)."""
    if isinstance(w_start, np.ndarray) and w_start.size:
        value = float(np.median(np.abs(w_start)))
        if np.isfinite(value) and value > 0:
            return value
    return 1.0


def linear_moments_numpy(a, b, c, d, w_start, dt):
    """Numpy twin of :func:`linear_moments` for scalar parameters and one interval.

    Parameters
    ----------
    a, b, c, d : float
        Linear-family parameters.
    w_start : ndarray
        Start sizes.
    dt : float
        Interval length (days).

    Returns
    -------
    mean, variance : ndarray
    """
    p = np_expm(_generator(*(np.asarray(x, dtype=float) for x in (a, b, c, d)), np) * dt)
    w_start = np.asarray(w_start, dtype=float)
    mean = p[1, 0] + p[1, 1] * w_start
    second = p[2, 0] + p[2, 1] * w_start + p[2, 2] * w_start**2
    return mean, np.maximum(second - mean**2, 0.0)


def rk4_moments(
    drift: Callable,
    drift_slope: Callable,
    drift_curvature: Callable,
    variance: Callable,
    variance_curvature: Callable,
    w_start,
    dt,
    n_steps: int = 8,
):
    r"""Propagate mean and variance with the second-order moment ODEs (PyTensor or numpy).

    Parameters
    ----------
    drift, drift_slope, drift_curvature : callable
        :math:`\mu`, :math:`\mu'` and :math:`\mu''` as functions of w.
    variance, variance_curvature : callable
        :math:`\sigma^2` and :math:`(\sigma^2)''` as functions of w.
    w_start : tensor or ndarray
        Start sizes.
    dt : tensor or ndarray
        Interval length of each transition (days).
    n_steps : int
        Runge–Kutta sub-steps per interval.

    Returns
    -------
    mean, variance : tensor or ndarray
    """
    h = dt / n_steps

    def rates(m, v):
        dm = drift(m) + 0.5 * drift_curvature(m) * v
        dv = 2.0 * drift_slope(m) * v + variance(m) + 0.5 * variance_curvature(m) * v
        return dm, dv

    m, v = w_start, 0.0 * w_start
    for _ in range(n_steps):
        k1m, k1v = rates(m, v)
        k2m, k2v = rates(m + 0.5 * h * k1m, v + 0.5 * h * k1v)
        k3m, k3v = rates(m + 0.5 * h * k2m, v + 0.5 * h * k2v)
        k4m, k4v = rates(m + h * k3m, v + h * k3v)
        m = m + h / 6.0 * (k1m + 2 * k2m + 2 * k3m + k4m)
        v = v + h / 6.0 * (k1v + 2 * k2v + 2 * k3v + k4v)
    return m, v


def family_moments(drift: Callable, variance: Callable, w_start, dt, scale: float, n_steps: int):
    r"""Transition mean and variance of any SDE family (PyTensor), by :func:`rk4_moments`.

    Parameters
    ----------
    drift, variance : callable
        :math:`\mu_s(x)` and :math:`\sigma^2_s(x)` in units of ``scale`` (x = w/s),
        elementwise in x (parameters may be vectors aligned with ``w_start``).
    w_start : ndarray
        Start sizes (volume units).
    dt : ndarray
        Interval of each transition (days).
    scale : float
        s.
    n_steps : int
        Runge–Kutta sub-steps per interval.

    Returns
    -------
    mean, variance : tensor
        In volume units; the variance is floored at 1e-12 s².
    """

    # The derivatives the moment equations need are taken by automatic differentiation of
    # the family's functions at each sub-step's mean (an intermediate of the graph).
    def derivative(function):
        # A constant slope (the linear family) has a disconnected second derivative: zero.
        return lambda m: pt.grad(function(m).sum(), m, disconnected_inputs="ignore")

    slope = derivative(drift)
    curvature = derivative(slope)
    variance_curvature = derivative(derivative(variance))

    mean, var = rk4_moments(
        drift,
        slope,
        curvature,
        variance,
        variance_curvature,
        # Not a constant: the derivatives are taken with respect to it.
        pt.as_tensor_variable(np.asarray(w_start, dtype=float) / scale) * pt.constant(1.0),
        dt,
        n_steps=n_steps,
    )
    return mean * scale, pt.maximum(var, 1e-12) * scale**2
