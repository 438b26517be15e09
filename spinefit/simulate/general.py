r"""Particle simulation of spine sizes under any drift and variance, with turnover.

The true size :math:`w` of the spine at a site follows

.. math::

    dw = \mu(w)\,dt + \sigma(w)\,dB, \qquad \sigma^2(w) = \text{variance}(w),

for any numpy callables :math:`\mu` and :math:`\sigma^2` (time in days), integrated with the
Euler–Maruyama scheme over all sites at once. Turnover is that of
:mod:`spinefit.simulate.particles`: a spine is eliminated the first time its true size falls
below the detection threshold :math:`\theta` (at the end of a step, or within it with the
Brownian-bridge crossing probability), an empty site forms a new spine at a constant rate with
a log-normal size, and a new spine drawn below :math:`\theta` is never seen (the site stays
empty). Observed size = true size :math:`\times\,e^{\varepsilon}`,
:math:`\varepsilon \sim N(0, \tau^2)`.

The output has the layout of :func:`~spinefit.simulate.particles.simulate_particles` (both
build it with the same code), so every reader and model of spinefit accepts it. With the
linear family :math:`\mu = a + b w`, :math:`\sigma^2 = c + d w^2` it samples the same process
as :func:`~spinefit.simulate.particles.simulate_paths`, but from a different random stream and
in plain numpy (slower than that numba kernel, which remains the one to use for the linear
family).

:func:`cubic_drift` with :func:`bistable_truth` gives a process with two stable sizes, for
testing flexible drift families, fixed points and bimodality checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.simulate.particles import (
    _MAX_SITES,
    _check_labels,
    _check_times,
    _time_series_dataset,
)
from spinefit.simulate.stationary import stationary_density, stationary_elimination_rate
from spinefit.simulate.synthetic import DEFAULT_TIMES_DAYS, DEFAULT_TRUTH, _add_measurement_noise

__all__ = [
    "bistable_truth",
    "cubic_drift",
    "linear_drift",
    "linear_truth",
    "quadratic_variance",
    "simulate_sde_time_series",
]

SizeFunction = Callable[[NDArray[np.float64]], ArrayLike]
"""A numpy function of the true size, vectorised over an array of sizes."""

_CURVE_POINTS = 200
"""Points of the geometric grid on which the truth tabulates drift and variance."""

_STEADY_STATE_POINTS = 20_001
_STEADY_STATE_REACH = 20.0
"""The steady state is solved up to this multiple of the largest simulated size."""

# Crossing probabilities below exp(-40) are not worth a comparison (as in particles.py).
_BRIDGE_CUTOFF = 40.0


def _cubic(w: NDArray[np.float64], r: float, w1: float, w2: float, w3: float) -> NDArray:
    return -r * (w - w1) * (w - w2) * (w - w3)


def _linear(w: NDArray[np.float64], a: float, b: float) -> NDArray:
    return a + b * w


def _quadratic(w: NDArray[np.float64], c: float, d: float) -> NDArray:
    return c + d * w * w


def cubic_drift(r: float, w1: float, w2: float, w3: float) -> SizeFunction:
    r"""Return the cubic drift :math:`\mu(w) = -r\,(w - w_1)(w - w_2)(w - w_3)`.

    With :math:`r > 0` and :math:`w_1 < w_2 < w_3`, sizes are pulled towards :math:`w_1` and
    :math:`w_3` (stable fixed points) and pushed away from :math:`w_2` (unstable): a
    bistable drift.

    Parameters
    ----------
    r : float
        Strength, in 1/(size² · day).
    w1, w2, w3 : float
        The three zeros of the drift, in size units.

    Returns
    -------
    callable
        ``drift(w)``, vectorised over ``w``; a :func:`functools.partial` (picklable, with
        its parameters in ``.keywords``).
    """
    return partial(_cubic, r=float(r), w1=float(w1), w2=float(w2), w3=float(w3))


def linear_drift(a: float, b: float) -> SizeFunction:
    r"""Return the drift of the default family, :math:`\mu(w) = a + b\,w`.

    Parameters
    ----------
    a, b : float
        Offset (size/day) and slope (1/day).

    Returns
    -------
    callable
        ``drift(w)``, a picklable :func:`functools.partial`.
    """
    return partial(_linear, a=float(a), b=float(b))


def quadratic_variance(c: float, d: float) -> SizeFunction:
    r"""Return the variance of the default family, :math:`\sigma^2(w) = c + d\,w^2`.

    Parameters
    ----------
    c, d : float
        Additive (size²/day) and multiplicative (1/day) noise, both >= 0.

    Returns
    -------
    callable
        ``variance(w)``, a picklable :func:`functools.partial`.

    Raises
    ------
    ConfigError
        If ``c`` or ``d`` is negative.
    """
    if c < 0 or d < 0:
        raise ConfigError(f"the noise parameters c and d must be >= 0, got c={c}, d={d}")
    return partial(_quadratic, c=float(c), d=float(d))


def bistable_truth() -> dict[str, Any]:
    r"""Return the keyword arguments of a bistable process for :func:`simulate_sde_time_series`.

    Drift :math:`\mu(w) = -(w - 0.4)(w - 0.9)(w - 1.6)` per day (:func:`cubic_drift` with
    :math:`r = 1`): stable sizes 0.4 and 1.6, unstable 0.9 (size units of order µm³, as in the
    demo). Variance :math:`0.02 + 0.015\,w^2`. Spines below 0.1 are eliminated; new spines
    are small (median 0.3, log-SD 0.4) and form at 0.03/day per empty site.

    Steady state (stationary density, confirmed by simulating 12 000 sites): 47% of present
    spines are in the small mode (below 0.9) and 53% in the large one; the log-size density
    has peaks near 0.4 and 1.6 with a dip near 0.9 down to a third of the lower peak, and a
    sample bimodality coefficient of log size of 0.66 (> 5/9). Spines stay in their mode for
    weeks: over 21 days about 19% of the small spines (below 0.65) become large (above 1.2)
    and 12% of the large ones become small. Turnover happens in the small mode: about 0.6%
    of present spines per day reach the threshold, and 84% of sites hold a spine.

    The modes exchange spines slowly, so the preset carries a burn-in of 300 days: starting
    from new-spine sizes, after the default 100 days the small mode still held 51% of
    present spines (12 000 sites; 46.5% after 300 days, as the stationary density says).

    Returns
    -------
    dict
        ``drift``, ``variance``, ``threshold``, ``formation_rate``, ``new_size_mu``,
        ``new_size_sigma``, ``burn_in_days`` and ``description``; override entries with
        ``bistable_truth() | {...}``.
    """
    return {
        "drift": cubic_drift(1.0, 0.4, 0.9, 1.6),
        "variance": quadratic_variance(0.02, 0.015),
        "threshold": 0.1,
        "formation_rate": 0.03,
        "new_size_mu": math.log(0.3),
        "new_size_sigma": 0.4,
        "burn_in_days": 300.0,
        "description": (
            "bistable: drift -(w - 0.4)(w - 0.9)(w - 1.6) per day, stable at 0.4 and 1.6, "
            "unstable at 0.9; variance 0.02 + 0.015 w^2; threshold 0.1"
        ),
    }


def linear_truth() -> dict[str, Any]:
    """Return the keyword arguments of the bundled demo's linear (Kesten) process.

    The parameters of :data:`~spinefit.simulate.synthetic.DEFAULT_TRUTH` for
    :func:`simulate_sde_time_series`: ``drift``, ``variance``, ``threshold``,
    ``formation_rate``, ``new_size_mu`` and ``new_size_sigma``.
    """
    t = DEFAULT_TRUTH
    return {
        "drift": linear_drift(t["a"], t["b"]),
        "variance": quadratic_variance(t["c"], t["d"]),
        "threshold": t["threshold"],
        "formation_rate": t["formation_rate"],
        "new_size_mu": t["new_size_mu"],
        "new_size_sigma": t["new_size_sigma"],
    }


def simulate_sde_time_series(
    drift: SizeFunction,
    variance: SizeFunction,
    *,
    threshold: float,
    formation_rate: float,
    new_size_mu: float,
    new_size_sigma: float,
    n_spines: int = 300,
    times_days: Sequence[float] = DEFAULT_TIMES_DAYS,
    random_seed: int = 0,
    measurement_cv: float = 0.0,
    dt: float = 0.01,
    burn_in_days: float | None = None,
    initial: ArrayLike | None = None,
    volume_units: str = dims.DEFAULT_VOLUME_UNITS,
    labels: Mapping[str, str | Sequence[str]] | None = None,
    description: str | None = None,
    spine_id_prefix: str = "s",
) -> tuple[xr.Dataset, dict[str, Any]]:
    r"""Simulate a time series of spine sizes under any drift and variance, with turnover.

    Each of ``n_spines`` sites holds at most one spine. Occupied sites take Euler–Maruyama
    steps :math:`w' = w + \mu(w) h + \sqrt{\max(\sigma^2(w), 0)\,h}\;z` (all sites at once).
    A spine is eliminated when :math:`w' < \theta`, or with probability
    :math:`\exp(-2 (w - \theta)(w' - \theta) / (\sigma^2(w) h))` when the path dipped below
    :math:`\theta` within the step (Brownian bridge; without it the elimination rate is
    biased by :math:`O(\sqrt{h})`). An empty site forms a spine in a step with probability
    :math:`1 - e^{-\lambda h}`, with log size :math:`N(\text{new\_size\_mu},
    \text{new\_size\_sigma}^2)`; a new size below :math:`\theta` is discarded (not redrawn):
    the site stays empty, as in :func:`~spinefit.simulate.particles.simulate_paths`, so the
    rate of seen formations is :math:`\lambda\,P(\text{new size} \ge \theta)`.

    Parameters
    ----------
    drift, variance : callable
        :math:`\mu(w)` (size/day) and :math:`\sigma^2(w)` (size²/day) as numpy functions of
        the true size, vectorised over an array of sizes (they are called on the sizes of all
        occupied sites, all at or above ``threshold``). Negative variances are taken as 0.
    threshold : float
        Detection threshold :math:`\theta` in size units; ``-numpy.inf`` for no elimination.
    formation_rate : float
        Rate :math:`\lambda` (per empty site per day) of new spines.
    new_size_mu, new_size_sigma : float
        Mean and standard deviation of the log size of a new spine (also of the initial sizes
        when ``initial`` is None).
    n_spines : int
        Number of sites. A site that loses its spine and forms a new one adds a row, and
        sites that hold no spine at any session are dropped, so the Dataset may have more or
        fewer spines.
    times_days : sequence of float
        Strictly increasing observation times in days. Each interval is cut into the fewest
        equal steps no longer than ``dt``.
    random_seed : int
        Seed of the simulation (numpy's default generator) and of the measurement noise.
    measurement_cv : float
        :math:`\tau` of the multiplicative measurement noise (0: sizes are the true sizes).
        Presence follows the true size.
    dt : float
        Largest Euler–Maruyama step, in days.
    burn_in_days : float, optional
        Time simulated before the first observation, so that the population starts near its
        steady state. Default: 100 days when ``initial`` is None, none when it is given.
        Processes that switch slowly between modes need longer (see :func:`bistable_truth`).
    initial : array_like, optional
        Size of every site at the start of the burn-in, shape ``(n_spines,)``; NaN or a value
        below ``threshold`` marks an empty site. Default: log-normal new-spine sizes.
    volume_units : str
        The ``units`` attribute of ``volume``.
    labels : mapping, optional
        Per-spine string coordinates, as for
        :func:`~spinefit.simulate.particles.simulate_particles`.
    description : str, optional
        What the process is, copied into the truth.
    spine_id_prefix : str
        Prefix of the spine ids, as for
        :func:`~spinefit.simulate.particles.simulate_particles`.

    Returns
    -------
    dataset : xarray.Dataset
        The layout of :func:`~spinefit.simulate.particles.simulate_particles`: ``volume``
        (spine, session), NaN where the spine is absent; coords ``spine``, ``session``,
        ``time_days`` and the labels; the same attrs.
    truth : dict
        JSON-serialisable: the settings (``threshold``, ``formation_rate``, ``new_size_mu``,
        ``new_size_sigma``, ``measurement_cv``, ``measurement_noise``, ``n_sites``,
        ``times_days``, ``random_seed``, ``dt``, ``burn_in_days``), ``description``,
        ``drift_function`` and ``variance_function`` (readable names), ``curves`` =
        ``{"w": [...], "drift": [...], "variance": [...]}`` tabulated on a geometric grid of
        200 sizes from the threshold (or the smallest simulated size) to the largest
        simulated true size, and, when the threshold is positive, the steady-state
        ``elimination_rate`` (per present spine per day), ``stationary_mean_size`` and
        ``occupancy`` from :mod:`spinefit.simulate.stationary`, solved with a reflecting wall
        at 20 times the largest simulated size.

    Raises
    ------
    ConfigError
        If a setting is out of range, ``drift`` or ``variance`` is not callable or returns
        the wrong shape, or a label is unknown or has the wrong length.
    """
    times = _check_times(times_days)
    _check_settings(drift, variance, dt, formation_rate, new_size_sigma, n_spines, measurement_cv)
    label_values = _check_labels(labels, n_spines)
    rng = np.random.default_rng(random_seed)
    if initial is None:
        initial_sizes = np.exp(new_size_mu + new_size_sigma * rng.standard_normal(n_spines))
    else:
        initial_sizes = np.asarray(initial, dtype=np.float64)
        if initial_sizes.shape != (n_spines,):
            raise ConfigError(f"initial must have shape ({n_spines},), got {initial_sizes.shape}")
    if burn_in_days is None:
        burn_in_days = 100.0 if initial is None else 0.0
    if not burn_in_days >= 0:
        raise ConfigError(f"burn_in_days must be >= 0, got {burn_in_days}")

    sizes, formed, _ = _simulate_sites(
        drift,
        variance,
        initial_sizes,
        np.concatenate([[burn_in_days], np.diff(times)]),
        threshold=float(threshold),
        formation_rate=float(formation_rate),
        new_size_mu=float(new_size_mu),
        new_size_sigma=float(new_size_sigma),
        dt=float(dt),
        rng=rng,
    )
    parameters = (
        f"drift {_describe(drift)}, variance {_describe(variance)}, threshold={threshold}, "
        f"formation_rate={formation_rate}/day per empty site, new_size_mu={new_size_mu}, "
        f"new_size_sigma={new_size_sigma}, dt={dt}, random_seed={random_seed}"
    )
    dataset = _time_series_dataset(
        sizes,
        formed,
        times,
        parameters=parameters,
        label_values=label_values,
        volume_units=volume_units,
        spine_id_prefix=spine_id_prefix,
    )
    if measurement_cv > 0:
        dataset = _add_measurement_noise(
            dataset, measurement_cv, "multiplicative", random_seed=random_seed
        )

    truth: dict[str, Any] = {
        "threshold": float(threshold),
        "formation_rate": float(formation_rate),
        "new_size_mu": float(new_size_mu),
        "new_size_sigma": float(new_size_sigma),
        "measurement_cv": float(measurement_cv),
        "measurement_noise": "multiplicative",
        "n_sites": int(n_spines),
        "times_days": [float(t) for t in times],
        "random_seed": int(random_seed),
        "dt": float(dt),
        "burn_in_days": float(burn_in_days),
        "description": description,
        "drift_function": _describe(drift),
        "variance_function": _describe(variance),
    }
    low, high = _size_range(sizes, float(threshold))
    grid = np.geomspace(low, high, _CURVE_POINTS)
    truth["curves"] = {
        "w": grid.tolist(),
        "drift": _evaluate(drift, grid, "drift").tolist(),
        "variance": _evaluate(variance, grid, "variance").tolist(),
    }
    truth.update(
        _steady_state(
            drift,
            variance,
            float(threshold),
            float(formation_rate),
            float(new_size_mu),
            float(new_size_sigma),
            top=_STEADY_STATE_REACH * high,
        )
    )
    return dataset, truth


def _simulate_sites(
    drift: SizeFunction,
    variance: SizeFunction,
    initial_sizes: NDArray[np.float64],
    durations: NDArray[np.float64],
    *,
    threshold: float,
    formation_rate: float,
    new_size_mu: float,
    new_size_sigma: float,
    dt: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Run every site through the segments; return sizes at their ends and events in them.

    Returns the sizes (NaN where empty) at the end of each segment and the formations and
    eliminations per site within it; column 0 is the burn-in, ending at the first observation.
    """
    n_sites, n_segments = initial_sizes.size, durations.size
    size = initial_sizes.copy()
    alive = np.isfinite(size) & (size >= threshold)
    sizes = np.empty((n_sites, n_segments))
    formed = np.zeros((n_sites, n_segments), dtype=np.int64)
    eliminated = np.zeros((n_sites, n_segments), dtype=np.int64)
    for segment, duration in enumerate(durations):
        n_steps = int(np.ceil(duration / dt - 1e-9)) if duration > 0 else 0
        step = duration / n_steps if n_steps else 0.0
        formation_prob = -math.expm1(-formation_rate * step)
        for _ in range(n_steps):
            # As in particles.py, a site either moves its spine or may form one in a step.
            occupied = np.flatnonzero(alive)
            empty = np.flatnonzero(~alive)
            before = size[occupied]
            step_variance = np.maximum(_evaluate(variance, before, "variance"), 0.0) * step
            after = (
                before
                + _evaluate(drift, before, "drift") * step
                + np.sqrt(step_variance) * rng.standard_normal(occupied.size)
            )
            if not np.all(np.isfinite(after)):
                raise ConfigError(
                    "drift or variance gave a non-finite size; check them over the sizes "
                    f"reached (up to {before.max():.3g})"
                )
            # Brownian-bridge probability that the path crossed the threshold within the
            # step, exp(-gap / step variance); zero without noise.
            gap = 2.0 * (before - threshold) * (after - threshold)
            crossing = np.zeros(occupied.size)
            noisy = (step_variance > 0) & (step_variance * _BRIDGE_CUTOFF > gap)
            crossing[noisy] = np.exp(-gap[noisy] / step_variance[noisy])
            lost = occupied[(after < threshold) | (rng.random(occupied.size) < crossing)]
            size[occupied] = after
            alive[lost] = False
            eliminated[lost, segment] += 1

            if formation_prob > 0:
                forming = empty[rng.random(empty.size) < formation_prob]
                new_sizes = np.exp(new_size_mu + new_size_sigma * rng.standard_normal(forming.size))
                # A new spine smaller than the threshold is never seen: the site stays empty.
                seen = new_sizes >= threshold
                size[forming[seen]] = new_sizes[seen]
                alive[forming[seen]] = True
                formed[forming[seen], segment] += 1
        sizes[:, segment] = np.where(alive, size, np.nan)
    return sizes, formed, eliminated


def _evaluate(function: SizeFunction, w: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """Call a size function, broadcast its result to ``w``'s shape and check it."""
    values = np.asarray(function(w), dtype=np.float64)
    try:
        return np.broadcast_to(values, w.shape)
    except ValueError:
        raise ConfigError(
            f"{name}(w) must return one value per size, got shape {values.shape} for {w.shape}"
        ) from None


def _check_settings(
    drift: Any,
    variance: Any,
    dt: float,
    formation_rate: float,
    new_size_sigma: float,
    n_spines: int,
    measurement_cv: float,
) -> None:
    if not callable(drift) or not callable(variance):
        raise ConfigError("drift and variance must be functions of the size w")
    if not dt > 0:
        raise ConfigError(f"dt must be > 0, got {dt}")
    if not formation_rate >= 0:
        raise ConfigError(f"formation_rate must be >= 0, got {formation_rate}")
    if not new_size_sigma >= 0:
        raise ConfigError(f"new_size_sigma must be >= 0, got {new_size_sigma}")
    if not 1 <= n_spines <= _MAX_SITES:
        raise ConfigError(f"n_spines must be between 1 and {_MAX_SITES}, got {n_spines}")
    if not measurement_cv >= 0:
        raise ConfigError(f"measurement_cv must be >= 0, got {measurement_cv}")


def _describe(function: SizeFunction) -> str:
    """Return a readable name of a size function, with its parameters when it has them."""
    if isinstance(function, partial):
        arguments = ", ".join(f"{key}={value!r}" for key, value in function.keywords.items())
        return f"{function.func.__name__.lstrip('_')}({arguments})"
    return getattr(function, "__qualname__", repr(function))


def _size_range(sizes: NDArray[np.float64], threshold: float) -> tuple[float, float]:
    """Return the (positive) range of simulated sizes over which the truth tabulates curves."""
    present = sizes[np.isfinite(sizes) & (sizes > 0)]
    low = threshold if threshold > 0 else (float(present.min()) if present.size else 1.0)
    high = float(present.max()) if present.size else 10.0 * low
    return low, max(high, 1.01 * low)


def _steady_state(
    drift: SizeFunction,
    variance: SizeFunction,
    threshold: float,
    formation_rate: float,
    new_size_mu: float,
    new_size_sigma: float,
    *,
    top: float,
) -> dict[str, float]:
    """Return steady-state rates and mean size, or nothing if they cannot be computed."""
    if not (math.isfinite(threshold) and threshold > 0 and top > threshold):
        return {}
    if not new_size_sigma > 0:
        return {}  # a point mass of new sizes is not a density on the grid
    grid = np.geomspace(threshold, top, _STEADY_STATE_POINTS)
    drift_values = _evaluate(drift, grid, "drift")
    variance_values = _evaluate(variance, grid, "variance")
    if not (np.all(np.isfinite(drift_values)) and np.all(variance_values > 0)):
        return {}
    log_ratio = (np.log(grid) - new_size_mu) / new_size_sigma
    new_sizes = np.exp(-0.5 * log_ratio**2) / grid
    options = {"threshold": threshold, "reinsertion": new_sizes}
    diffusion = np.sqrt(variance_values)
    try:
        density = stationary_density(drift_values, diffusion, grid, boundary="absorbing", **options)
        elimination = float(stationary_elimination_rate(drift_values, diffusion, grid, **options))
    except ConfigError:  # e.g. no new sizes above the threshold within floating point
        return {}
    seen_fraction = 0.5 * math.erfc(
        (math.log(threshold) - new_size_mu) / (math.sqrt(2) * new_size_sigma)
    )
    formation = formation_rate * seen_fraction
    return {
        "elimination_rate": elimination,
        "stationary_mean_size": float(np.trapezoid(density * grid, grid)),
        "occupancy": formation / (formation + elimination) if formation > 0 else 0.0,
    }
