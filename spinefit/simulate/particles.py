r"""Particle simulation of spine sizes under the default (Kesten) family, with turnover.

Each of ``n_spines`` *sites* holds at most one spine. An occupied site's size follows

.. math::

    dw = (a + b\,w)\,dt + \sqrt{c + d\,w^2}\;dB,

integrated with the Euler–Maruyama scheme (time in days). A spine is eliminated (the site
becomes empty) as soon as its size falls below ``threshold``, including crossings within a
step (Brownian-bridge correction). An empty site forms a new spine at rate
``formation_rate`` per day (per empty site, not in total), with a log-normal size
:math:`\log w \sim \mathcal N(\text{new\_size\_mu}, \text{new\_size\_sigma}^2)`. This is
the setting of Yasumatsu et al. 2008 (J Neurosci 28:13592); its steady-state size density is
:func:`spinefit.simulate.stationary.stationary_density` with ``boundary="absorbing"``.

The kernel is compiled with numba and runs in parallel over sites. Every site draws from its
own random stream (a disjoint block of one SplitMix64 sequence, chosen by ``random_seed`` and
the site index; normals by a 256-layer ziggurat), so the output is bit-identical for a given
seed whatever the number of threads, and a site's path does not depend on how many sites are
simulated.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import numba
import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError
from spinefit.io.ingestion_report import IngestionReport

__all__ = ["simulate_particles", "simulate_paths"]

LABEL_COORDS = (dims.DENDRITE_ID, dims.ANIMAL_ID, dims.CONDITION_LABEL, dims.TREATMENT)
"""Per-spine string coordinates that ``labels`` may set."""

_MAX_SITES = 1 << 24
"""Each site's stream is a disjoint block of 2**40 draws of one SplitMix64 sequence."""

# SplitMix64 constants (Steele, Lea & Flood 2014).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STREAM_STRIDE = np.uint64(1 << 40)
_TO_UNIT = 2.0**-53

# 256-layer ziggurat for the standard normal (Marsaglia & Tsang 2000), laid out as in numpy.
_ZIG_R = 3.6541528853610088
_ZIG_INV_R = 1.0 / _ZIG_R
_ZIG_AREA = 4.928673233974655e-3

# Sites handled together by one thread: their update chains are independent, so the CPU
# overlaps them instead of waiting on one chain's sqrt/multiply latency.
_LANES = 8

# Crossing probabilities below exp(-40) are not drawn, which keeps the common step cheap.
_BRIDGE_CUTOFF = 40.0

# All fast-math flags except "nnan"/"ninf": thresholds may be -inf and outputs hold NaN.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def _ziggurat_tables() -> tuple[NDArray[np.uint64], NDArray[np.float64], NDArray[np.float64]]:
    """Return the (k, w, f) ziggurat tables for 52-bit uniform magnitudes."""
    scale = 2.0**52
    k_table = np.zeros(256, dtype=np.uint64)
    w_table = np.zeros(256)
    f_table = np.zeros(256)
    edge = previous = _ZIG_R
    base_width = _ZIG_AREA / math.exp(-0.5 * edge * edge)
    k_table[0] = np.uint64(edge / base_width * scale)
    w_table[0] = base_width / scale
    w_table[255] = edge / scale
    f_table[0] = 1.0
    f_table[255] = math.exp(-0.5 * edge * edge)
    for i in range(254, 0, -1):
        edge = math.sqrt(-2.0 * math.log(_ZIG_AREA / edge + math.exp(-0.5 * edge * edge)))
        k_table[i + 1] = np.uint64(edge / previous * scale)
        previous = edge
        f_table[i] = math.exp(-0.5 * edge * edge)
        w_table[i] = edge / scale
    return k_table, w_table, f_table


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()


@numba.njit(inline="always", cache=True)
def _mix64(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """SplitMix64 output function (a bijective 64-bit hash)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always", cache=True)
def _uniform(state: np.uint64) -> tuple[float, np.uint64]:  # pragma: no cover - compiled
    """Return a uniform draw in [0, 1) and the advanced state."""
    state += _GOLDEN
    return float(_mix64(state) >> np.uint64(11)) * _TO_UNIT, state


@numba.njit(inline="always", cache=True)
def _normal(state, k_table, w_table, f_table):  # pragma: no cover - compiled
    """Return a standard normal draw (ziggurat) and the advanced state."""
    while True:
        state += _GOLDEN
        bits = _mix64(state)
        layer = np.intp(bits & np.uint64(0xFF))
        bits >>= np.uint64(8)
        magnitude = (bits >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = float(magnitude) * w_table[layer]
        if bits & np.uint64(1):
            x = -x
        if magnitude < k_table[layer]:
            return x, state  # about 99% of draws end here
        if layer == 0:
            # Tail beyond the base strip, by Marsaglia's exponential rejection.
            while True:
                u, state = _uniform(state)
                tail = -_ZIG_INV_R * np.log1p(-u)
                u, state = _uniform(state)
                if -2.0 * np.log1p(-u) > tail * tail:
                    return (-(_ZIG_R + tail) if x < 0 else _ZIG_R + tail), state
        else:
            u, state = _uniform(state)
            if (f_table[layer - 1] - f_table[layer]) * u + f_table[layer] < np.exp(-0.5 * x * x):
                return x, state


@numba.njit(parallel=True, fastmath=_FASTMATH, cache=True)
def _euler_kernel(
    initial,
    draw_initial,
    a,
    b,
    c,
    d,
    threshold,
    new_size_mu,
    new_size_sigma,
    segment_steps,
    segment_dt,
    segment_formation_prob,
    seed,
    k_table,
    w_table,
    f_table,
    sizes,
    formed,
    eliminated,
):  # pragma: no cover - compiled
    """Simulate every site through all segments, recording the size at each segment's end."""
    n_sites = sizes.shape[0]
    n_segments = segment_steps.shape[0]
    base = _mix64(seed)
    n_blocks = (n_sites + _LANES - 1) // _LANES
    for block in numba.prange(n_blocks):
        first = block * _LANES
        lanes = min(_LANES, n_sites - first)
        state = np.empty(_LANES, dtype=np.uint64)
        size = np.zeros(_LANES)
        alive = np.zeros(_LANES, dtype=np.bool_)
        for j in range(lanes):
            site = first + j
            lane_state = base + np.uint64(site) * _STREAM_STRIDE * _GOLDEN
            w = initial[site]
            if draw_initial:
                z, lane_state = _normal(lane_state, k_table, w_table, f_table)
                w = np.exp(new_size_mu + new_size_sigma * z)
            if not np.isnan(w) and w >= threshold:
                alive[j] = True
                size[j] = w
            state[j] = lane_state
        for segment in range(n_segments):
            step = segment_dt[segment]
            # w' = a h + (1 + b h) w + sqrt(c h + d h w^2) z
            offset = a * step
            slope = 1.0 + b * step
            additive = c * step
            multiplicative = d * step
            formation_prob = segment_formation_prob[segment]
            for _ in range(segment_steps[segment]):
                for j in range(lanes):
                    if alive[j]:
                        z, lane_state = _normal(state[j], k_table, w_table, f_table)
                        before = size[j]
                        step_variance = additive + multiplicative * before * before
                        w = offset + slope * before + np.sqrt(step_variance) * z
                        size[j] = w
                        eliminate = w < threshold
                        if not eliminate:
                            # The path may have dipped below the threshold within the step
                            # (Brownian-bridge crossing probability exp(-gap / variance)).
                            # Without this the elimination rate would be biased by O(sqrt(dt)).
                            gap = 2.0 * (before - threshold) * (w - threshold)
                            if gap < _BRIDGE_CUTOFF * step_variance:
                                u, lane_state = _uniform(lane_state)
                                eliminate = u < np.exp(-gap / step_variance)
                        if eliminate:
                            alive[j] = False
                            eliminated[first + j, segment] += 1
                        state[j] = lane_state
                    elif formation_prob > 0.0:
                        u, lane_state = _uniform(state[j])
                        if u < formation_prob:
                            z, lane_state = _normal(lane_state, k_table, w_table, f_table)
                            w = np.exp(new_size_mu + new_size_sigma * z)
                            # A new spine smaller than the threshold is never seen.
                            if w >= threshold:
                                alive[j] = True
                                size[j] = w
                                formed[first + j, segment] += 1
                        state[j] = lane_state
            for j in range(lanes):
                sizes[first + j, segment] = size[j] if alive[j] else np.nan


def simulate_paths(
    a: float,
    b: float,
    c: float,
    d: float,
    *,
    n_spines: int,
    times_days: ArrayLike,
    dt: float = 0.01,
    threshold: float = 0.0,
    formation_rate: float = 0.0,
    new_size_mu: float = 0.0,
    new_size_sigma: float = 0.5,
    burn_in_days: float | None = None,
    initial: ArrayLike | None = None,
    random_seed: int = 0,
    return_events: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    r"""Simulate spine sizes at the observation times and return them as a numpy array.

    Parameters
    ----------
    a, b, c, d : float
        Parameters of :math:`\mu(w) = a + b w` (size/day, 1/day) and
        :math:`\sigma^2(w) = c + d w^2` (size²/day, 1/day); ``c`` and ``d`` must be >= 0.
    n_spines : int
        Number of sites simulated (each holds at most one spine at a time).
    times_days : array_like
        Strictly increasing observation times in days, possibly irregular. Between two
        observations the interval is cut into the fewest equal steps no longer than ``dt``,
        so observations fall exactly on the given times.
    dt : float
        Largest Euler–Maruyama step, in days.
    threshold : float
        A spine is eliminated when its size falls below ``threshold``: at the end of a step,
        or within it with the Brownian-bridge crossing probability
        :math:`\exp(-2 (w_0 - \theta)(w_1 - \theta) / (\sigma^2(w_0)\,h))`, which removes the
        :math:`O(\sqrt{dt})` bias of checking only at the steps. Use ``-numpy.inf`` for no
        elimination.
    formation_rate : float
        Rate (per empty site per day) at which an empty site forms a new spine; formations
        are a Poisson process at each empty site, thinned to at most one per step. A new spine
        whose drawn size is below ``threshold`` is not formed (the site stays empty).
    new_size_mu, new_size_sigma : float
        Mean and standard deviation of the log size of a new spine (also of the initial sizes
        when ``initial`` is None).
    burn_in_days : float, optional
        Time simulated before the first observation, so that the population is near
        stationarity. Default: 100 days when ``initial`` is None, none when it is given.
    initial : array_like, optional
        Size of every site at the start of the burn-in, shape ``(n_spines,)``; NaN or a value
        below ``threshold`` marks an empty site. Default: log-normal new-spine sizes.
    random_seed : int
        Seed. The same seed gives bit-identical output whatever the number of threads.
    return_events : bool
        Also return the number of formations and eliminations per site and interval.

    Returns
    -------
    sizes : numpy.ndarray
        Shape ``(n_spines, n_times)``, float64; NaN where the site holds no spine.
    formed, eliminated : numpy.ndarray
        Only if ``return_events``: int64 counts of shape ``(n_spines, n_times)`` for the
        interval that ends at each observation (column 0 counts the burn-in).

    Raises
    ------
    ConfigError
        If a parameter is out of range or the times are not strictly increasing.
    """
    times = _check_times(times_days)
    _check_parameters(c, d, dt, formation_rate, new_size_sigma, n_spines)
    if initial is None:
        draw_initial = True
        initial_sizes = np.full(n_spines, np.nan)
    else:
        draw_initial = False
        initial_sizes = np.asarray(initial, dtype=np.float64)
        if initial_sizes.shape != (n_spines,):
            raise ConfigError(f"initial must have shape ({n_spines},), got {initial_sizes.shape}")
    if burn_in_days is None:
        burn_in_days = 100.0 if initial is None else 0.0
    if burn_in_days < 0:
        raise ConfigError(f"burn_in_days must be >= 0, got {burn_in_days}")

    durations = np.concatenate([[burn_in_days], np.diff(times)])
    segment_steps = np.ceil(durations / dt - 1e-9).astype(np.int64)
    segment_steps[durations == 0] = 0
    segment_dt = np.where(segment_steps > 0, durations / np.maximum(segment_steps, 1), 0.0)
    segment_formation_prob = -np.expm1(-formation_rate * segment_dt)

    sizes = np.empty((n_spines, times.size))
    formed = np.zeros((n_spines, times.size), dtype=np.int64)
    eliminated = np.zeros((n_spines, times.size), dtype=np.int64)
    _euler_kernel(
        initial_sizes,
        draw_initial,
        float(a),
        float(b),
        float(c),
        float(d),
        float(threshold),
        float(new_size_mu),
        float(new_size_sigma),
        segment_steps,
        segment_dt,
        segment_formation_prob,
        np.uint64(int(random_seed) & 0xFFFFFFFFFFFFFFFF),
        _ZIG_K,
        _ZIG_W,
        _ZIG_F,
        sizes,
        formed,
        eliminated,
    )
    if return_events:
        return sizes, formed, eliminated
    return sizes


def simulate_particles(
    a: float,
    b: float,
    c: float,
    d: float,
    *,
    n_spines: int,
    times_days: ArrayLike,
    dt: float = 0.01,
    threshold: float = 0.0,
    formation_rate: float = 0.0,
    new_size_mu: float = 0.0,
    new_size_sigma: float = 0.5,
    burn_in_days: float | None = None,
    initial: ArrayLike | None = None,
    random_seed: int = 0,
    volume_units: str = dims.DEFAULT_VOLUME_UNITS,
    labels: Mapping[str, str | Sequence[str]] | None = None,
    spine_id_prefix: str = "s",
) -> xr.Dataset:
    """Simulate a spine time series in the layout of :mod:`spinefit.io.two_photon`.

    Parameters
    ----------
    a, b, c, d, n_spines, times_days, dt, threshold, formation_rate, new_size_mu, \
new_size_sigma, burn_in_days, initial, random_seed
        As for :func:`simulate_paths`.
    volume_units : str
        The ``units`` attribute of ``volume``.
    labels : mapping, optional
        Per-spine string coordinates, keyed by ``dendrite_id``, ``animal_id``, ``condition``
        or ``treatment``; each value is one string for all spines or one per site
        (length ``n_spines``).
    spine_id_prefix : str
        Spine ids are ``<prefix><site>-<k>``: the zero-padded site index and the number of
        spines observed at that site before this one (0 for the first). Set the prefix so
        that datasets simulated separately (e.g. per animal) can be concatenated along
        ``spine``.

    Returns
    -------
    xarray.Dataset
        ``volume`` (spine, session), NaN where the spine is absent; coords ``spine``,
        ``session`` (0..n-1), ``time_days`` (session) and the label coords; attrs ``source``,
        ``content_hash``, ``spinefit_version``, ``data_kind`` and ``ingestion_report``.
        Each row is one spine: a site that loses its spine and later forms a new one gives a
        new row, so a row is present over one contiguous run of sessions, as the true
        dynamics need (even when both happen between two sessions). Sites that hold no spine
        at any session are dropped; the ingestion report notes how many.

    Raises
    ------
    ConfigError
        If a parameter is out of range, or a label is unknown or has the wrong length.
    """
    label_values = _check_labels(labels, n_spines)
    times = _check_times(times_days)
    sizes, formed, _ = simulate_paths(
        a,
        b,
        c,
        d,
        n_spines=n_spines,
        times_days=times,
        dt=dt,
        threshold=threshold,
        formation_rate=formation_rate,
        new_size_mu=new_size_mu,
        new_size_sigma=new_size_sigma,
        burn_in_days=burn_in_days,
        initial=initial,
        random_seed=random_seed,
        return_events=True,
    )
    parameters = (
        f"a={a}, b={b}, c={c}, d={d}, threshold={threshold}, "
        f"formation_rate={formation_rate}/day per empty site, new_size_mu={new_size_mu}, "
        f"new_size_sigma={new_size_sigma}, dt={dt}, random_seed={random_seed}"
    )
    return _time_series_dataset(
        sizes,
        formed,
        times,
        parameters=parameters,
        label_values=label_values,
        volume_units=volume_units,
        spine_id_prefix=spine_id_prefix,
    )


def _time_series_dataset(
    sizes: NDArray[np.float64],
    formed: NDArray[np.int64],
    times: NDArray[np.float64],
    *,
    parameters: str,
    label_values: Mapping[str, NDArray[np.str_]],
    volume_units: str,
    spine_id_prefix: str,
) -> xr.Dataset:
    """Build the time-series Dataset of a site simulation (shared by every simulator).

    Parameters
    ----------
    sizes : numpy.ndarray
        Size of every site at every observation, shape ``(n_sites, n_times)``, NaN where the
        site holds no spine.
    formed : numpy.ndarray
        Formations per site in the interval that ends at each observation, same shape.
    times : numpy.ndarray
        Observation times in days.
    parameters : str
        The simulation settings, for the ingestion report ("simulated <n> sites with ...").
    label_values : mapping
        Per-site label arrays, as returned by ``_check_labels``.
    volume_units, spine_id_prefix : str
        As for :func:`simulate_particles`.

    Returns
    -------
    xarray.Dataset
        The layout described in :func:`simulate_particles`.
    """
    n_spines = sizes.shape[0]
    volume, site, generation = _split_by_spine(sizes, formed)
    width = len(str(n_spines - 1))
    spine_ids = np.array(
        [f"{spine_id_prefix}{i:0{width}d}-{g}" for i, g in zip(site, generation, strict=True)],
        dtype=np.str_,
    )
    never_occupied = n_spines - np.unique(site).size

    source = "spinefit.simulate"
    report = IngestionReport(source=source, rows_read=site.size, rows_kept=site.size)
    report.notes.append(f"simulated {n_spines} sites with {parameters}")
    report.notes.append(
        f"{site.size} spines observed; spine id <site>-<k> is the k-th spine (from 0) seen at "
        "a site"
    )
    report.notes.append(f"dropped {never_occupied} sites that held no spine at any session")
    report.notes.append("NaN marks an absent spine")

    coords: dict[str, tuple] = {
        dims.SPINE: (dims.SPINE, spine_ids),
        dims.SESSION: (dims.SESSION, np.arange(times.size)),
        dims.TIME_DAYS: (dims.SESSION, times, {"units": dims.DAY}),
    }
    for name, values in label_values.items():
        coords[name] = (dims.SPINE, values[site])
    return xr.Dataset(
        {
            dims.VOLUME: (
                (dims.SPINE, dims.SESSION),
                volume,
                {"units": volume_units, "long_name": "spine volume"},
            )
        },
        coords=coords,
        attrs={
            dims.ATTR_SOURCE: source,
            dims.ATTR_CONTENT_HASH: volume_hash(volume),
            dims.ATTR_VERSION: __version__,
            dims.ATTR_DATA_KIND: dims.KIND_TIME_SERIES,
            dims.ATTR_INGESTION_REPORT: report.to_json(),
        },
    )


def _split_by_spine(
    sizes: NDArray[np.float64], formed: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.int64]]:
    """Split site rows into one row per spine; return volume, site and spine number per row."""
    generation_at = np.cumsum(formed, axis=1)
    site_index, session_index = np.nonzero(~np.isnan(sizes))
    keys = np.stack([site_index, generation_at[site_index, session_index]], axis=1)
    spines, row = np.unique(keys, axis=0, return_inverse=True)
    volume = np.full((spines.shape[0], sizes.shape[1]), np.nan)
    volume[row.ravel(), session_index] = sizes[site_index, session_index]
    site = spines[:, 0]
    # Number the spines observed at each site 0, 1, ... (rows are sorted by site, then time).
    first_row_of_site = np.searchsorted(site, site, side="left")
    return volume, site, np.arange(site.size) - first_row_of_site


def volume_hash(volume: NDArray[np.float64]) -> str:
    """Return ``"sha256:<hex>"`` of the C-ordered little-endian float64 bytes of ``volume``."""
    data = np.ascontiguousarray(volume, dtype="<f8")
    return f"sha256:{hashlib.sha256(data.tobytes()).hexdigest()}"


def _check_times(times_days: ArrayLike) -> NDArray[np.float64]:
    times = np.asarray(times_days, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ConfigError(f"times_days must be a non-empty 1-D sequence, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ConfigError("times_days must be finite and strictly increasing")
    return times


def _check_parameters(
    c: float, d: float, dt: float, formation_rate: float, new_size_sigma: float, n_spines: int
) -> None:
    if c < 0 or d < 0:
        raise ConfigError(f"the noise parameters c and d must be >= 0, got c={c}, d={d}")
    if not dt > 0:
        raise ConfigError(f"dt must be > 0, got {dt}")
    if formation_rate < 0:
        raise ConfigError(f"formation_rate must be >= 0, got {formation_rate}")
    if new_size_sigma < 0:
        raise ConfigError(f"new_size_sigma must be >= 0, got {new_size_sigma}")
    if not 1 <= n_spines <= _MAX_SITES:
        raise ConfigError(f"n_spines must be between 1 and {_MAX_SITES}, got {n_spines}")


def _check_labels(
    labels: Mapping[str, str | Sequence[str]] | None, n_spines: int
) -> dict[str, NDArray[np.str_]]:
    out: dict[str, NDArray[np.str_]] = {}
    for name, value in (labels or {}).items():
        if name not in LABEL_COORDS:
            raise ConfigError(f"unknown label {name!r}; choose from {', '.join(LABEL_COORDS)}")
        if isinstance(value, str):
            out[name] = np.full(n_spines, value)
            continue
        values = np.asarray([str(v) for v in value])
        if values.shape != (n_spines,):
            raise ConfigError(
                f"label {name!r} needs one string or {n_spines} values, got {values.size}"
            )
        out[name] = values
    return out
