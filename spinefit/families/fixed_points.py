r"""Fixed points of the drift :math:`\mu(w)` across posterior draws; numpy only.

A fixed point is a size :math:`w^*` with :math:`\mu(w^*) = 0`. It is stable when the drift
pulls sizes back to it (:math:`\mu` goes from + to − as :math:`w` increases,
:math:`\mu'(w^*) < 0`) and unstable when it pushes them away. A bistable drift has stable,
unstable, stable fixed points in that order.

Every draw is searched for zeros on the grid; zeros of the same stability at nearby
:math:`\ln w` in different draws are then grouped into one fixed point, whose location
(median and HDI over the draws that have it) and probability (the share of all draws that
have it) are reported.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spinefit.errors import ConfigError

__all__ = ["fixed_points"]

GAP_FRACTION = 0.05
"""Zeros further apart than this fraction of the grid's log range start a new group."""

SPLIT_SHARE = 0.25
"""A group holds k fixed points when at least this share of its draws have k or more zeros."""


def fixed_points(
    drift_draws: ArrayLike,
    grid: ArrayLike,
    *,
    hdi_prob: float = 0.94,
    gap_fraction: float = GAP_FRACTION,
) -> list[dict[str, float | bool]]:
    r"""Return the fixed points of the drift, grouped across posterior draws.

    **Zeros of one draw.** Wherever :math:`\mu` changes sign between neighbouring grid
    points, the zero is placed by linear interpolation in :math:`w` (exact for a linear
    drift). Where :math:`\mu` is exactly 0 at a grid point, or on a run of them, the zero is
    the middle grid point of the run, counted when the signs on either side differ (or the
    run ends the grid); a zero that touches 0 without crossing (a double root) is not a
    fixed point. A zero is stable when :math:`\mu` goes from + to −.

    **Grouping.** The zeros of each stability are pooled over draws and sorted by
    :math:`\ln w`; a gap larger than ``gap_fraction`` of the grid's log range starts a new
    group. Two fixed points of the same stability whose locations overlap across draws
    (e.g. two uncertain stable sizes) then share a group, but many draws have two zeros in
    it. So a group holds :math:`k` fixed points, :math:`k` the largest count that at least
    25% of its draws reach; their centres are the medians of the first, second, ... zero of
    the draws with exactly :math:`k` zeros, and every draw's zeros are matched to the
    centres in order (at most one per centre, least total distance in :math:`\ln w`). A
    zero left over (a draw with more than :math:`k` zeros: usually a wiggle) is dropped. So
    each draw counts at most once per fixed point.

    Parameters
    ----------
    drift_draws : array_like
        :math:`\mu` on the grid, shape ``(n_draws, n_grid)`` (or ``(n_grid,)`` for one
        curve); stack chains and draws first.
    grid : array_like
        Strictly increasing positive sizes, shape ``(n_grid,)``, e.g. the observed range.
    hdi_prob : float
        Probability of the highest-density interval of each location.
    gap_fraction : float
        Gap in :math:`\ln w`, as a fraction of the grid's log range, that separates groups.

    Returns
    -------
    list of dict
        One dict per fixed point, sorted by location, with plain Python values: ``"w"``
        (median location over the draws that have it), ``"hdi_low"``, ``"hdi_high"`` (HDI of
        those locations), ``"stable"`` (bool) and ``"probability"`` (share of *all* draws
        with a zero in the group). Empty when no draw has a zero on the grid. Rare groups
        (small ``probability``) are usually wiggles of single draws; filter as needed.

    Raises
    ------
    ConfigError
        If the shapes do not match, the grid is not positive and strictly increasing, or a
        probability is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.geomspace(0.1, 3.0, 200)
    >>> bistable = -(grid - 0.4) * (grid - 0.9) * (grid - 1.6)
    >>> [(round(p["w"], 2), p["stable"]) for p in fixed_points(bistable[None, :], grid)]
    [(0.4, True), (0.9, False), (1.6, True)]
    """
    drift_draws = np.atleast_2d(np.asarray(drift_draws, dtype=np.float64))
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or drift_draws.ndim != 2:
        raise ConfigError(
            f"need a 1-D grid and drift draws (n_draws, n_grid), got {drift_draws.shape} "
            f"and {grid.shape}"
        )
    if drift_draws.shape[1] != grid.size:
        raise ConfigError(
            f"drift draws have {drift_draws.shape[1]} grid points, the grid has {grid.size}"
        )
    if not (np.all(grid > 0) and np.all(np.diff(grid) > 0)):
        raise ConfigError("the size grid must be positive and strictly increasing")
    if not 0 < hdi_prob <= 1:
        raise ConfigError(f"hdi_prob must be in (0, 1], got {hdi_prob}")
    if not gap_fraction > 0:
        raise ConfigError(f"gap_fraction must be > 0, got {gap_fraction}")

    n_draws = drift_draws.shape[0]
    draw_of, location, stable = [], [], []
    for draw, curve in enumerate(drift_draws):
        zeros, stability = _zeros_of_one_draw(curve, grid)
        draw_of += [draw] * len(zeros)
        location += zeros
        stable += stability
    if not location:
        return []
    draw_of = np.asarray(draw_of)
    location = np.asarray(location)
    stable = np.asarray(stable, dtype=bool)
    gap = gap_fraction * (np.log(grid[-1]) - np.log(grid[0]))

    points = []
    for stability in (True, False):
        chosen = np.flatnonzero(stable == stability)
        for members in _groups(np.log(location[chosen]), draw_of[chosen], gap):
            sizes = location[chosen[members]]
            low, high = _hdi(sizes, hdi_prob)
            points.append(
                {
                    "w": float(np.median(sizes)),
                    "hdi_low": low,
                    "hdi_high": high,
                    "stable": bool(stability),
                    "probability": members.size / n_draws,
                }
            )
    return sorted(points, key=lambda point: point["w"])


def _zeros_of_one_draw(curve: NDArray, grid: NDArray) -> tuple[list[float], list[bool]]:
    """Return the zeros of one drift curve on the grid and whether each is stable."""
    if not np.all(np.isfinite(curve)):
        raise ConfigError("drift draws must be finite")
    sign = np.sign(curve)
    nonzero = np.flatnonzero(sign)
    zeros, stable = [], []
    # Sign changes between neighbouring nonzero points: the common case, interpolated.
    for left, right in zip(nonzero[:-1], nonzero[1:], strict=True):
        if sign[left] == sign[right]:
            continue
        if right == left + 1:
            fraction = curve[left] / (curve[left] - curve[right])
            zeros.append(grid[left] + fraction * (grid[right] - grid[left]))
        else:  # a run of exact zeros between opposite signs
            zeros.append(grid[(left + right) // 2])
        stable.append(bool(sign[left] > 0))
    # Exact zeros at either end of the grid: stability from the one side that is seen.
    if nonzero.size and nonzero[0] > 0:
        zeros.insert(0, grid[(nonzero[0] - 1) // 2])
        stable.insert(0, bool(sign[nonzero[0]] < 0))
    if nonzero.size and nonzero[-1] < grid.size - 1:
        zeros.append(grid[(nonzero[-1] + grid.size) // 2])
        stable.append(bool(sign[nonzero[-1]] > 0))
    return [float(z) for z in zeros], stable


def _groups(log_location: NDArray, draw_of: NDArray, gap: float) -> list[NDArray[np.intp]]:
    """Group zeros of one stability; return the indices of each fixed point's zeros."""
    if log_location.size == 0:
        return []
    order = np.argsort(log_location, kind="stable")
    breaks = np.flatnonzero(np.diff(log_location[order]) > gap) + 1
    groups = []
    for members in np.split(order, breaks):
        rows = _split_by_rank(log_location[members], draw_of[members])
        groups += [members[point] for point in rows]
    return groups


def _split_by_rank(log_location: NDArray, draw_of: NDArray) -> list[NDArray[np.intp]]:
    """Split one gap-free group into the fixed points its draws hold together.

    Returns the indices (into the arguments) of the zeros matched to each fixed point.
    """
    order = np.lexsort((log_location, draw_of))
    log_location, draw_of = log_location[order], draw_of[order]
    draws, first, counts = np.unique(draw_of, return_index=True, return_counts=True)
    # The largest k that at least SPLIT_SHARE of the draws reach (k = 1 at least).
    reached = np.sort(counts)[::-1]
    n_points = int(reached[max(int(np.ceil(SPLIT_SHARE * draws.size)) - 1, 0)])
    exact = first[counts == n_points]
    centres = np.median(log_location[exact[:, np.newaxis] + np.arange(n_points)], axis=0)
    matched: list[list[int]] = [[] for _ in range(n_points)]
    for start, count in zip(first, counts, strict=True):
        zeros = log_location[start : start + count]
        for zero, centre in _ordered_match(zeros, centres):
            matched[centre].append(start + zero)
    return [order[np.asarray(rows, dtype=np.intp)] for rows in matched if rows]


def _ordered_match(zeros: NDArray, centres: NDArray) -> list[tuple[int, int]]:
    """Match sorted zeros to sorted centres in order, as many pairs as the shorter has.

    Returns (zero index, centre index) pairs minimising the total distance.
    """
    if zeros.size > centres.size:
        return [(z, c) for c, z in _ordered_match(centres, zeros)]
    # cost[i, j]: best total distance matching the first i zeros among the first j centres.
    n, m = zeros.size, centres.size
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, :] = 0.0
    for i in range(1, n + 1):
        for j in range(i, m + 1):
            cost[i, j] = min(
                cost[i, j - 1], cost[i - 1, j - 1] + abs(zeros[i - 1] - centres[j - 1])
            )
    pairs = []
    i, j = n, m
    while i > 0:
        if cost[i, j] == cost[i, j - 1] and j > i:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


def _hdi(samples: NDArray, prob: float) -> tuple[float, float]:
    """Return the shortest interval holding ``ceil(prob * n)`` of the samples."""
    ordered = np.sort(samples)
    n_inside = max(int(np.ceil(prob * ordered.size)), 1)
    widths = ordered[n_inside - 1 :] - ordered[: ordered.size - n_inside + 1]
    start = int(np.argmin(widths))
    return float(ordered[start]), float(ordered[start + n_inside - 1])
