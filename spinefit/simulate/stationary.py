r"""Stationary size densities of the Fokker–Planck equation, numpy only.

The size :math:`w` of a spine follows :math:`dw = \mu(w)\,dt + \sigma(w)\,dB`, so its density
:math:`p(w, t)` obeys

.. math::

    \partial_t p = -\partial_w J + s(w), \qquad
    J(w) = \mu(w)\,p(w) - \tfrac12\,\partial_w\!\left[\sigma^2(w)\,p(w)\right],

with probability flux :math:`J` and a source :math:`s` of new spines (zero unless spines are
eliminated and re-formed). The functions here evaluate the time-independent solution on a grid,
vectorised over any leading axes (posterior draws), following Yasumatsu et al. 2008
(J Neurosci 28:13592).

Everything works on plain arrays; wrapping for xarray belongs to the callers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinefit.errors import ConfigError

__all__ = [
    "linear_family_curves",
    "stationary_density",
    "stationary_elimination_rate",
]

Boundary = Literal["reflecting", "absorbing"]


def linear_family_curves(
    a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, grid: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Evaluate drift and diffusion of the default (Kesten) family on a size grid.

    The default family is

    .. math::

        \mu(w) = a + b\,w, \qquad \sigma^2(w) = c + d\,w^2, \qquad c, d \ge 0,

    the continuous-time form of the Kesten process :math:`x_{t+1} = \varepsilon x_t + \eta`
    (Statman et al. 2014; Hazan & Ziv 2020): linear drift with additive (``c``) and
    multiplicative (``d``) noise. Time is in days.

    Parameters
    ----------
    a, b, c, d : array_like
        Parameters, scalars or arrays of a common (broadcastable) shape ``(...)``, e.g. one
        value per posterior draw. ``a`` is in size/day, ``b`` in 1/day, ``c`` in size²/day and
        ``d`` in 1/day.
    grid : array_like
        1-D grid of sizes, shape ``(n_grid,)``.

    Returns
    -------
    drift : numpy.ndarray
        :math:`\mu(w)`, shape ``(..., n_grid)``.
    diffusion : numpy.ndarray
        :math:`\sigma(w) = \sqrt{c + d w^2}` (the noise amplitude, not its square), shape
        ``(..., n_grid)``.

    Raises
    ------
    ConfigError
        If ``c`` or ``d`` is negative or the grid is not 1-D.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1:
        raise ConfigError(f"grid must be 1-D, got shape {grid.shape}")
    a, b, c, d = (np.asarray(x, dtype=np.float64)[..., np.newaxis] for x in (a, b, c, d))
    if np.any(c < 0) or np.any(d < 0):
        raise ConfigError("the noise parameters c and d must be >= 0")
    drift = a + b * grid
    diffusion = np.sqrt(c + d * grid**2)
    return np.broadcast_arrays(drift, diffusion)


def stationary_density(
    drift: ArrayLike,
    diffusion: ArrayLike,
    grid: ArrayLike,
    *,
    boundary: Boundary = "reflecting",
    threshold: float | None = None,
    reinsertion: ArrayLike | None = None,
) -> NDArray[np.float64]:
    r"""Return the normalised stationary size density on a grid.

    Let :math:`\Phi(w) = \int_{w_0}^{w} 2\mu(v)/\sigma^2(v)\,dv`, where :math:`w_0` is the
    lower end of the domain (the first grid point, or the first grid point at or above
    ``threshold``). The domain's upper end, the last grid point, is always a reflecting wall
    (zero flux).

    ``boundary="reflecting"`` (zero flux at both ends, no formation or elimination):

    .. math::

        p(w) \propto \frac{1}{\sigma^2(w)} \exp\Phi(w).

    ``boundary="absorbing"``: spines are eliminated when they reach :math:`w_0` (so
    :math:`p(w_0) = 0`) and new spines are inserted with sizes drawn from the density
    :math:`q` (``reinsertion``, normalised on the domain) at a rate that, in the steady
    state, equals the elimination rate :math:`r` (per spine per day). The stationary equation
    :math:`\partial_w J = r\,q(w)` with :math:`J(w_{\max}) = 0` gives the flux
    :math:`J(w) = r\,(G(w) - 1)` with :math:`G(w) = \int_{w_0}^{w} q`, the cumulative
    distribution of new sizes; the outflow at the threshold is :math:`-J(w_0) = r`. Solving
    :math:`\mu p - \tfrac12 (\sigma^2 p)' = J` for :math:`u = \sigma^2 p` with
    :math:`u(w_0) = 0`:

    .. math::

        p(w) = \frac{2r}{\sigma^2(w)} \int_{w_0}^{w} \bigl(1 - G(v)\bigr)\,
               e^{\Phi(w) - \Phi(v)}\,dv,

    and :math:`r` follows from normalisation (see :func:`stationary_elimination_rate`). The
    density is the same whether new spines appear immediately after each elimination or at
    any other rate, as long as the population is in its steady state, because the source
    term :math:`r\,q(w)` is then constant in time.

    Integrals use the trapezoid rule on the grid and are accumulated in log space
    (``logaddexp.accumulate``), so :math:`\Phi` may span thousands of e-folds without
    overflow. The density is normalised with the trapezoid rule over the grid.

    Parameters
    ----------
    drift : array_like
        :math:`\mu(w)` on the grid, shape ``(..., n_grid)``; leading axes (e.g. posterior
        draws) are vectorised over. Size/day.
    diffusion : array_like
        :math:`\sigma(w)` on the grid (the noise amplitude, not :math:`\sigma^2`), broadcastable
        with ``drift``. Must be > 0 on the domain. Size/√day.
    grid : array_like
        Strictly increasing 1-D grid of sizes, shape ``(n_grid,)``.
    boundary : {"reflecting", "absorbing"}
        How the lower end of the domain behaves, see above.
    threshold : float, optional
        Lower end of the domain: grid points below it get density 0 and the boundary sits at
        the first grid point at or above it. Default: the first grid point. For accuracy put
        a grid point at the threshold.
    reinsertion : array_like, optional
        Density of new-spine sizes on the grid, broadcastable with ``drift``; it need not be
        normalised (it is renormalised on the domain). Required for ``"absorbing"``.

    Returns
    -------
    numpy.ndarray
        The stationary density, shape ``broadcast(drift, diffusion).shape``, 0 below the
        threshold. It integrates to 1 along the last axis over the domain (trapezoid rule on
        the grid points at or above the threshold); with a reflecting wall the density jumps
        at the threshold, so integrate from there.

    Raises
    ------
    ConfigError
        If the shapes, the grid or the options do not fit together, or if :math:`\sigma \le 0`
        somewhere on the domain.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.linspace(0.01, 10, 2000)
    >>> drift, diffusion = linear_family_curves(0.1, -0.1, 0.0, 0.04, grid)
    >>> p = stationary_density(drift, diffusion, grid)  # inverse gamma, shape 6, scale 5
    """
    log_p, grid, start = _log_unnormalised(drift, diffusion, grid, boundary, threshold, reinsertion)
    log_p -= np.max(log_p, axis=-1, keepdims=True)
    density_domain = np.exp(log_p)
    density_domain /= np.trapezoid(density_domain, grid[start:], axis=-1)[..., np.newaxis]
    density = np.zeros(log_p.shape[:-1] + grid.shape)
    density[..., start:] = density_domain
    return density


def stationary_elimination_rate(
    drift: ArrayLike,
    diffusion: ArrayLike,
    grid: ArrayLike,
    *,
    threshold: float | None = None,
    reinsertion: ArrayLike,
) -> NDArray[np.float64]:
    r"""Return the steady-state elimination rate per spine per day for an absorbing threshold.

    This is :math:`r` of :func:`stationary_density` with ``boundary="absorbing"``: the
    probability flux out through the threshold per unit of (normalised) spine density,

    .. math::

        r = \left[\int_{w_0}^{w_{\max}} \frac{2}{\sigma^2(w)} \int_{w_0}^{w}
            \bigl(1 - G(v)\bigr)\,e^{\Phi(w) - \Phi(v)}\,dv\,dw\right]^{-1}.

    In the steady state formation balances it, so it is also the formation rate per present
    spine; ``1 / r`` is the mean lifetime of a spine.

    Parameters
    ----------
    drift, diffusion, grid, threshold, reinsertion
        As for :func:`stationary_density`.

    Returns
    -------
    numpy.ndarray
        The rate in 1/day, shape ``broadcast(drift, diffusion).shape[:-1]`` (a 0-d array for
        1-D inputs).
    """
    log_u, grid, start = _log_unnormalised(
        drift, diffusion, grid, "absorbing", threshold, reinsertion
    )
    shift = np.max(log_u, axis=-1, keepdims=True)
    mass = np.trapezoid(np.exp(log_u - shift), grid[start:], axis=-1)
    # p = 2 r u, so r = 1 / (2 ∫u); keep the shift in the exponent to avoid overflow.
    return np.exp(-shift[..., 0] - np.log(2.0 * mass))


def _log_unnormalised(
    drift: ArrayLike,
    diffusion: ArrayLike,
    grid: ArrayLike,
    boundary: str,
    threshold: float | None,
    reinsertion: ArrayLike | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Return log of the unnormalised density on the domain, the grid and the domain start."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 3:
        raise ConfigError(f"grid must be 1-D with at least 3 points, got shape {grid.shape}")
    step = np.diff(grid)
    if not np.all(step > 0):
        raise ConfigError("grid must be strictly increasing")
    drift, diffusion = np.broadcast_arrays(
        np.asarray(drift, dtype=np.float64), np.asarray(diffusion, dtype=np.float64)
    )
    if drift.shape[-1:] != grid.shape:
        raise ConfigError(
            f"drift and diffusion must end in the grid's length {grid.size}, got {drift.shape}"
        )
    if boundary not in ("reflecting", "absorbing"):
        raise ConfigError(f"boundary must be 'reflecting' or 'absorbing', got {boundary!r}")

    start = 0 if threshold is None else int(np.searchsorted(grid, threshold, side="left"))
    if grid.size - start < 3:
        raise ConfigError(f"threshold {threshold} leaves fewer than 3 grid points above it")
    step = step[start:]
    variance = diffusion[..., start:] ** 2
    if not np.all(variance > 0):
        raise ConfigError("diffusion must be > 0 at every grid point of the domain")
    log_variance = np.log(variance)
    log_growth = _cumulative_trapezoid(2.0 * drift[..., start:] / variance, step)

    if boundary == "reflecting":
        return log_growth - log_variance, grid, start

    if reinsertion is None:
        raise ConfigError("boundary='absorbing' needs a reinsertion density of new spine sizes")
    new_sizes = np.broadcast_to(np.asarray(reinsertion, dtype=np.float64), drift.shape)
    new_sizes = new_sizes[..., start:]
    if np.any(new_sizes < 0) or not np.all(np.isfinite(new_sizes)):
        raise ConfigError("reinsertion must be a finite, non-negative density")
    # Survival 1 - G(w), integrated from the top so that it is exact (not 1 - ~1) in the tail.
    tail_pieces = 0.5 * step * (new_sizes[..., 1:] + new_sizes[..., :-1])
    tail = np.zeros(new_sizes.shape)
    tail[..., :-1] = np.cumsum(tail_pieces[..., ::-1], axis=-1)[..., ::-1]
    total = tail[..., :1]
    if np.any(total <= 0):
        raise ConfigError("reinsertion density has no mass above the threshold")
    with np.errstate(divide="ignore"):
        log_integrand = np.log(tail / total) - log_growth
    log_inner = _log_cumulative_trapezoid(log_integrand, step)
    return log_growth + log_inner - log_variance, grid, start


def _cumulative_trapezoid(values: NDArray[np.float64], step: NDArray[np.float64]) -> NDArray:
    """Cumulative trapezoid integral along the last axis, starting at 0."""
    out = np.zeros(values.shape)
    np.cumsum(0.5 * step * (values[..., 1:] + values[..., :-1]), axis=-1, out=out[..., 1:])
    return out


def _log_cumulative_trapezoid(log_values: NDArray[np.float64], step: NDArray) -> NDArray:
    """Log of the cumulative trapezoid integral of ``exp(log_values)``; ``-inf`` at the start."""
    log_pieces = np.log(0.5 * step) + np.logaddexp(log_values[..., 1:], log_values[..., :-1])
    out = np.full(log_values.shape, -np.inf)
    out[..., 1:] = np.logaddexp.accumulate(log_pieces, axis=-1)
    return out
