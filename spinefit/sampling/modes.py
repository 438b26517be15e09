"""Chains in different modes: detection on plain arrays and posterior Datasets.

numpy only (plus a thin xarray flattening), so it is tested on simulated chains without
MCMC and can be re-run on any saved result.

Two chains are *apart* when, for some scalar quantity, their central 90% intervals do not
overlap: well-mixed chains share nearly the same interval, a slowly mixing chain in the
same mode still overlaps, and a chain in another mode does not. Chains joined by overlap
form a group; more than one group means the chains disagree. The disagreement is called
*different modes* only when every chain is stable on its own (its two halves overlap);
otherwise it is slow mixing, which R-hat and ESS already report.

A chain outside the reference group (the most chains; ties broken by the higher mean log
density) is *low density* when its mean log density is far below the reference's. Only
such chains are re-run near the reference: a chain in a mode of comparable density is a
sign of a genuinely multimodal posterior, and moving it would hide that mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

SAMPLE_DIMS = ("chain", "draw")
INTERVAL_PROB = 0.90
"""Central interval compared between chains."""
LOW_DENSITY_MARGIN = 10.0
"""Minimum log-density gap (nats; density ratio e¹⁰ ≈ 22 000) for a chain to count as
stuck in a low-density region."""
LOW_DENSITY_SDS = 4.0
"""The gap must also exceed this many SDs of the reference chains' log density."""


@dataclass(frozen=True)
class ModeCheck:
    """Which chains agree, and which sit in a low-density mode.

    Parameters
    ----------
    groups : list of list of int
        Chains that overlap, transitively; the reference group first.
    stable : list of bool
        Per chain: its two halves overlap.
    low_density : list of int
        Chains outside the reference group whose log density is far below it.
    separating : list of str
        Quantities on which two groups do not overlap (for messages).
    """

    groups: list[list[int]]
    stable: list[bool]
    low_density: list[int] = field(default_factory=list)
    separating: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        """True when all chains form one group."""
        return len(self.groups) <= 1

    @property
    def different_modes(self) -> bool:
        """True when chains disagree while each chain is stable on its own."""
        return not self.agree and all(self.stable)

    def describe(self) -> str:
        """Return the groups in words, e.g. ``chains 0, 1 vs 2 (differ in a, b)``."""
        parts = " vs ".join(", ".join(str(c) for c in group) for group in self.groups)
        names = ", ".join(self.separating[:4]) + (", ..." if len(self.separating) > 4 else "")
        return f"chains {parts} (differ in {names})"


def central_intervals(draws: np.ndarray, prob: float = INTERVAL_PROB):
    """Return the per-chain central interval of each quantity.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape ``(chain, draw, quantity)``.
    prob : float
        Interval mass.

    Returns
    -------
    low, high : numpy.ndarray
        Shape ``(chain, quantity)``.
    """
    tail = 100 * (1 - prob) / 2
    # percentile, not nanpercentile (10× slower): a quantity with NaN draws gets a NaN
    # interval, which `apart` ignores.
    low, high = np.percentile(draws, [tail, 100 - tail], axis=1)
    return low, high


def apart(draws: np.ndarray) -> np.ndarray:
    """Return a ``(chain, chain, quantity)`` mask: True where two chains' intervals are disjoint."""
    low, high = central_intervals(draws)
    disjoint = (high[:, None, :] < low[None, :, :]) | (high[None, :, :] < low[:, None, :])
    return disjoint & np.isfinite(low[:, None, :]) & np.isfinite(low[None, :, :])


def _overlap_groups(separated: np.ndarray) -> list[list[int]]:
    """Return the connected components of the 'not separated' graph between chains."""
    n = separated.shape[0]
    label = list(range(n))
    for i in range(n):
        for j in range(i + 1, n):
            if not separated[i, j]:
                old, new = label[j], label[i]
                label = [new if value == old else value for value in label]
    groups: dict[int, list[int]] = {}
    for chain, value in enumerate(label):
        groups.setdefault(value, []).append(chain)
    return list(groups.values())


def stable_chains(draws: np.ndarray) -> list[bool]:
    """Return per chain whether its first and second halves overlap on every quantity."""
    half = draws.shape[1] // 2
    if half < 2:
        return [True] * draws.shape[0]
    out = []
    for chain in draws:
        halves = np.stack([chain[:half], chain[half : 2 * half]])
        out.append(not apart(halves).any())
    return out


def _low_density(groups: list[list[int]], log_density: np.ndarray) -> list[int]:
    """Return the chains outside ``groups[0]`` whose mean log density is far below it."""
    reference = log_density[groups[0]]
    margin = max(LOW_DENSITY_MARGIN, LOW_DENSITY_SDS * float(np.std(reference)))
    level = float(np.mean(reference))
    others = [chain for group in groups[1:] for chain in group]
    return sorted(c for c in others if float(np.mean(log_density[c])) < level - margin)


def check_chains(
    draws: np.ndarray, names: list[str], log_density: np.ndarray | None = None
) -> ModeCheck:
    """Group chains by overlap and find those stuck in a low-density mode.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape ``(chain, draw, quantity)``.
    names : list of str
        One label per quantity.
    log_density : numpy.ndarray, optional
        Log density per ``(chain, draw)``; without it no chain counts as low density and
        the largest group comes first.

    Returns
    -------
    ModeCheck
    """
    separated = apart(draws)
    groups = _overlap_groups(separated.any(axis=2))
    if log_density is not None:
        mean_density = np.nanmean(log_density, axis=1)
        groups.sort(key=lambda g: (-len(g), -float(np.mean(mean_density[g]))))
    else:
        groups.sort(key=lambda g: -len(g))
    stable = stable_chains(draws)
    if len(groups) == 1:
        return ModeCheck(groups, stable)
    first, rest = groups[0], [c for g in groups[1:] for c in g]
    between = separated[np.ix_(first, rest)].any(axis=(0, 1))
    separating = [names[k] for k in np.flatnonzero(between)]
    low = [] if log_density is None else _low_density(groups, log_density)
    return ModeCheck(groups, stable, low, separating)


def flatten_posterior(posterior: xr.Dataset) -> tuple[np.ndarray, list[str]]:
    """Return the posterior as ``(chain, draw, quantity)`` and one label per quantity.

    Variables with extra dims contribute one column per element (``name[i]``).
    """
    columns, names = [], []
    for name, var in posterior.data_vars.items():
        if not np.issubdtype(var.dtype, np.number) or not set(SAMPLE_DIMS) <= set(var.dims):
            continue
        extra = [d for d in var.dims if d not in SAMPLE_DIMS]
        values = var.transpose(*SAMPLE_DIMS, *extra).values.astype(float)
        values = values.reshape(values.shape[0], values.shape[1], -1)
        columns.append(values)
        size = values.shape[2]
        names.extend([str(name)] if not extra else [f"{name}[{i}]" for i in range(size)])
    if not columns:
        shape = (posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0), 0)
        return np.empty(shape), []
    return np.concatenate(columns, axis=2), names


LOG_DENSITY_STATS = ("logp", "lp")
"""Names of the log density in ``sample_stats``: nutpie, PyMC."""


def log_density_of(sample_stats: xr.Dataset | None) -> np.ndarray | None:
    """Return the per-draw log density from sample stats, or None when absent."""
    if sample_stats is None:
        return None
    for name in LOG_DENSITY_STATS:
        if name in sample_stats and set(sample_stats[name].dims) == set(SAMPLE_DIMS):
            return sample_stats[name].transpose(*SAMPLE_DIMS).values.astype(float)
    return None


def check_posterior(posterior: xr.Dataset, sample_stats: xr.Dataset | None = None) -> ModeCheck:
    """Run :func:`check_chains` on a posterior group (and its sample stats)."""
    draws, names = flatten_posterior(posterior)
    return check_chains(draws, names, log_density_of(sample_stats))
