r"""Tails of the stationary size density, and a sample statistic of bimodality; numpy only.

For :math:`dw = \mu(w)\,dt + \sigma(w)\,dB` the stationary density away from the threshold
is :math:`p(w) \propto \sigma^{-2}(w) \exp\int^w 2\mu/\sigma^2`, so

.. math::

    \frac{d \ln p}{dw} = \frac{2\mu(w) - (\sigma^2)'(w)}{\sigma^2(w)}.

Where :math:`p` falls like a power law, :math:`p \sim w^{-(1 + \alpha)}`, the survival
function falls like :math:`P(W > w) \sim w^{-\alpha}`, with the local exponent

.. math::

    \alpha(w) = -w\,\frac{d \ln p}{dw} - 1
              = \frac{w\,(\sigma^2)'(w) - 2 w\,\mu(w)}{\sigma^2(w)} - 1.

For the linear family :math:`\mu = a + b w`, :math:`\sigma^2 = c + d w^2` it tends to
:math:`1 - 2b/d` (the Kesten tail; Statman et al. 2014, Hazan & Ziv 2020); the density
has a normalisable upper tail exactly when :math:`\alpha > 0`, i.e. :math:`b < d/2`.
A drift that beats the noise (e.g. :math:`\mu \sim b w` with additive noise) gives a
faster-than-power tail, and :math:`\alpha(w)` grows without bound.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinefit.errors import ConfigError

__all__ = [
    "BIMODALITY_THRESHOLD",
    "bimodality_coefficient",
    "has_stationary_density",
    "linear_tail_exponent",
    "tail_exponent",
]

BIMODALITY_THRESHOLD = 5.0 / 9.0
"""Sarle's coefficient of a uniform distribution; larger values suggest two modes."""

_LOG_STEP = 1e-4
"""Half-width, in ln w, of the central difference of the variance (truncation ~1e-8)."""


def tail_exponent(
    drift: Callable[[NDArray[np.float64]], ArrayLike],
    variance: Callable[[NDArray[np.float64]], ArrayLike],
    w: ArrayLike,
) -> NDArray[np.float64]:
    r"""Return the local tail exponent :math:`\alpha(w)` of the stationary size density.

    :math:`\alpha(w) = [w(\sigma^2)'(w) - 2w\mu(w)]/\sigma^2(w) - 1`, so that
    :math:`P(W > w) \sim w^{-\alpha}` where the tail is a power law (see the module
    docstring). Evaluate it at a size well above the observed range to read off the tail;
    where it has not settled to a constant, the tail is not (yet) a power law.

    Parameters
    ----------
    drift, variance : callable
        :math:`\mu(w)` and :math:`\sigma^2(w)` as numpy functions of the size array ``w``.
        They may broadcast over posterior draws, returning shape ``(n_draws, len(w))``.
        :math:`(\sigma^2)'` is a central finite difference in :math:`\ln w` (half-width
        1e-4), so ``variance`` must be smooth at ``w``.
    w : array_like
        Sizes (> 0) at which to evaluate the exponent, in the units of the functions.

    Returns
    -------
    numpy.ndarray
        :math:`\alpha(w)`, the broadcast shape of the functions' outputs; NaN where
        :math:`\sigma^2(w) \le 0`.

    Raises
    ------
    ConfigError
        If a size is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> alpha = tail_exponent(lambda w: 0.1 - 0.1 * w, lambda w: 0.04 + 0.04 * w**2, 1e6)
    >>> round(float(alpha), 3)  # 1 - 2b/d = 6, up to -2a/(d w)
    6.0
    """
    w = np.asarray(w, dtype=np.float64)
    if not np.all(w > 0):
        raise ConfigError("tail exponents need sizes > 0")
    mu = np.asarray(drift(w), dtype=np.float64)
    sigma2 = np.asarray(variance(w), dtype=np.float64)
    step = np.exp(_LOG_STEP)
    above = np.asarray(variance(w * step), dtype=np.float64)
    below = np.asarray(variance(w / step), dtype=np.float64)
    variance_slope = (above - below) / (2.0 * _LOG_STEP)  # w (σ²)'(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = (variance_slope - 2.0 * w * mu) / sigma2 - 1.0
    return np.where(sigma2 > 0, alpha, np.nan)


def linear_tail_exponent(b: ArrayLike, d: ArrayLike) -> NDArray[np.float64]:
    r"""Return the tail exponent :math:`1 - 2b/d` of the linear family.

    For :math:`\mu = a + b w`, :math:`\sigma^2 = c + d w^2` with :math:`d > 0`, the
    stationary density falls as :math:`w^{-(2 - 2b/d)}`, so :math:`P(W > w) \sim
    w^{-(1 - 2b/d)}` whatever :math:`a` and :math:`c`.

    With :math:`d = 0` (additive noise only) the tail is not a power law: it is Gaussian
    for :math:`b < 0` (returned as ``+inf``), the density grows without bound for
    :math:`b > 0` (``-inf``), and for :math:`b = 0` it is exponential or flat depending on
    the sign of :math:`a`, which this function does not see (``nan``).

    Parameters
    ----------
    b : array_like
        Drift slope (1/day), e.g. posterior draws.
    d : array_like
        Multiplicative noise (1/day), >= 0, broadcastable with ``b``.

    Returns
    -------
    numpy.ndarray
        :math:`\alpha`, the broadcast shape of ``b`` and ``d`` (0-d for scalars).

    Raises
    ------
    ConfigError
        If ``d`` is negative.
    """
    b = np.asarray(b, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    if np.any(d < 0):
        raise ConfigError("the multiplicative noise d must be >= 0")
    # 1 - 2b/0 is -inf for b > 0, +inf for b < 0 and nan for b = 0, as documented.
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - 2.0 * b / d


def has_stationary_density(alpha: ArrayLike) -> NDArray[np.bool_]:
    r"""Return whether a tail exponent gives a normalisable upper tail (:math:`\alpha > 0`).

    Only the upper tail is judged: at the lower end the detection threshold absorbs. For the
    linear family this is :math:`b < d/2`. NaN gives False.

    Parameters
    ----------
    alpha : array_like
        Tail exponents, e.g. from :func:`tail_exponent` or :func:`linear_tail_exponent`.

    Returns
    -------
    numpy.ndarray
        Bool array of the shape of ``alpha``.
    """
    return np.asarray(alpha, dtype=np.float64) > 0


def bimodality_coefficient(x: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    r"""Return Sarle's sample bimodality coefficient along an axis, ignoring NaN.

    .. math::

        BC = \frac{g^2 + 1}{k + \dfrac{3 (n - 1)^2}{(n - 2)(n - 3)}},

    with :math:`g` the sample skewness and :math:`k` the sample excess kurtosis, both with
    the usual small-sample corrections (SAS's :math:`G_1`, :math:`G_2`; Pfister et al. 2013,
    Front Psychol 4:700). It is 5/9 for a uniform distribution, 1/3 for a normal one and
    tends to 1 for two well-separated point masses; values above 5/9
    (:data:`BIMODALITY_THRESHOLD`) suggest bimodality. Heavy skew alone also raises it, so
    read it on log sizes.

    Parameters
    ----------
    x : array_like
        Samples; NaN entries (absent spines) are left out.
    axis : int
        Axis along which the samples lie; the others are vectorised over (e.g. draws of a
        posterior predictive check).

    Returns
    -------
    numpy.ndarray
        The coefficient, ``x``'s shape without ``axis``; NaN where fewer than 4 samples or
        all equal.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    finite = np.isfinite(x)
    n = finite.sum(axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(finite, x, 0.0).sum(axis=-1) / n
        deviation = np.where(finite, x - mean[..., np.newaxis], 0.0)
        m2, m3, m4 = (np.sum(deviation**k, axis=-1) / n for k in (2, 3, 4))
        skewness = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
        excess_kurtosis = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1))
        coefficient = (skewness**2 + 1) / (excess_kurtosis + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    return np.where((n >= 4) & (m2 > 0), coefficient, np.nan)
