r"""Rank statistics of simulation-based calibration, their uniformity and interval coverage.

NumPy/SciPy only, so everything here is tested on fake posteriors without MCMC.

Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018,
arXiv:1804.06788): if :math:`\tilde\theta \sim p(\theta)`, :math:`\tilde y \sim p(y \mid
\tilde\theta)` and :math:`\theta_1, \dots, \theta_L` are independent draws of the posterior
:math:`p(\theta \mid \tilde y)`, the rank

.. math:: r = \#\{\ell : \theta_\ell < \tilde\theta\} \in \{0, \dots, L\}

is uniform on :math:`\{0, \dots, L\}` for every scalar parameter. MCMC draws are
autocorrelated, so they are thinned to :math:`L` equally spaced draws first
(:func:`thin`). Uniformity is judged by a :math:`\chi^2` test of the rank histogram
(:func:`rank_uniformity`); a posterior that is too narrow gives a U-shaped histogram,
one that is too wide a hump, a biased one a slope. Central-interval coverage
(:func:`coverage`) is reported beside it with an exact (Clopper–Pearson) interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "CENTRAL_PROBABILITIES",
    "DEFAULT_THINNED_DRAWS",
    "central_interval",
    "choose_bins",
    "coverage",
    "interval_label",
    "parameter_table",
    "rank_histogram",
    "rank_statistic",
    "rank_uniformity",
    "thin",
]

DEFAULT_THINNED_DRAWS = 99
"""L: posterior draws kept per replicate, so ranks run over 0..99 (100 values)."""
CENTRAL_PROBABILITIES = (0.5, 0.94)
"""Central posterior intervals whose coverage is reported."""
MIN_EXPECTED_PER_BIN = 5.0
"""Fewest expected replicates per histogram bin for the χ² approximation to hold."""
MAX_BINS = 20
CONFIDENCE = 0.95
"""Level of the Clopper–Pearson interval of a coverage and of the binomial range."""


def thin(draws: np.ndarray, n_thinned: int = DEFAULT_THINNED_DRAWS) -> np.ndarray:
    """Return ``n_thinned`` equally spaced draws of a ``(chain, draw)`` (or flat) array.

    Chains are laid end to end, so the kept draws are spread over every chain; with
    ``chains * draws`` several times ``n_thinned`` they are close to independent.

    Raises
    ------
    ValueError
        If there are fewer draws than ``n_thinned``.
    """
    flat = np.asarray(draws, dtype=float).reshape(-1)
    if flat.size < n_thinned:
        raise ValueError(f"{flat.size} draws cannot be thinned to {n_thinned}")
    index = np.round(np.linspace(0, flat.size - 1, n_thinned)).astype(int)
    return flat[index]


def rank_statistic(truth: float, draws: np.ndarray, rng: np.random.Generator) -> int:
    """Return the number of ``draws`` below ``truth`` (ties split at random), 0..len(draws).

    Parameters
    ----------
    truth : float
        The value the data were simulated with.
    draws : numpy.ndarray
        Thinned posterior draws (flat).
    rng : numpy.random.Generator
        Breaks ties (draws equal to the truth), so that a point mass still gives a uniform
        rank.
    """
    draws = np.asarray(draws, dtype=float).reshape(-1)
    below = int(np.sum(draws < truth))
    ties = int(np.sum(draws == truth))
    return below + (int(rng.integers(0, ties + 1)) if ties else 0)


def choose_bins(n_replicates: int, n_thinned: int = DEFAULT_THINNED_DRAWS) -> int:
    """Return the number of rank-histogram bins for ``n_replicates`` ranks over 0..L.

    The largest divisor of L + 1 (so every bin holds the same number of rank values)
    that is at most 20 and leaves at least 5 expected replicates per bin; 2 at least.
    """
    values = n_thinned + 1
    divisors = [b for b in range(2, min(MAX_BINS, values) + 1) if values % b == 0]
    fitting = [b for b in divisors if n_replicates / b >= MIN_EXPECTED_PER_BIN]
    if fitting:
        return max(fitting)
    return min(divisors) if divisors else 1


def rank_histogram(ranks: Sequence[int], n_thinned: int, n_bins: int) -> np.ndarray:
    """Return counts of ``ranks`` (0..L) in ``n_bins`` bins of equally many rank values."""
    ranks = np.asarray(ranks, dtype=int)
    if ranks.size and (ranks.min() < 0 or ranks.max() > n_thinned):
        raise ValueError(f"ranks must lie in 0..{n_thinned}")
    values = n_thinned + 1
    edges = np.linspace(0, values, n_bins + 1)
    return np.histogram(ranks, bins=edges)[0]


def rank_uniformity(
    ranks: Sequence[int], n_thinned: int = DEFAULT_THINNED_DRAWS, n_bins: int | None = None
) -> dict[str, Any]:
    r"""χ² test that ranks are uniform on 0..L.

    With :math:`B` bins of equally many rank values and :math:`n` ranks, the statistic
    :math:`\sum_b (c_b - n/B)^2/(n/B)` is compared with :math:`\chi^2_{B-1}`. When
    :math:`(L+1)/B` is not an integer the expected counts follow the bin widths.

    Returns
    -------
    dict
        ``chi2``, ``dof``, ``p_value``, ``n_bins``, ``counts`` and ``expected`` (per bin);
        ``p_value`` is NaN for fewer than 2 ranks.
    """
    ranks = np.asarray(ranks, dtype=int)
    n = ranks.size
    n_bins = n_bins or choose_bins(n, n_thinned)
    counts = rank_histogram(ranks, n_thinned, n_bins)
    edges = np.linspace(0, n_thinned + 1, n_bins + 1)
    widths = np.diff(np.ceil(edges))
    expected = n * widths / widths.sum()
    if n < 2 or n_bins < 2:
        chi2, p_value = float("nan"), float("nan")
    else:
        chi2 = float(np.sum((counts - expected) ** 2 / expected))
        p_value = float(stats.chi2.sf(chi2, n_bins - 1))
    return {
        "chi2": chi2,
        "dof": int(n_bins - 1),
        "p_value": p_value,
        "n_bins": int(n_bins),
        "counts": counts.astype(int).tolist(),
        "expected": expected.tolist(),
    }


def central_interval(draws: np.ndarray, probability: float) -> tuple[float, float]:
    """Return the equal-tailed central posterior interval of ``probability``."""
    tail = 0.5 * (1.0 - probability)
    low, high = np.quantile(np.asarray(draws, dtype=float).reshape(-1), [tail, 1.0 - tail])
    return float(low), float(high)


def coverage(
    covered: Sequence[bool], nominal: float, confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """Summarise how often central intervals of probability ``nominal`` held the truth.

    Parameters
    ----------
    covered : sequence of bool
        Per replicate, whether the interval held the truth.
    nominal : float
        The intervals' probability (e.g. 0.94).
    confidence : float
        Level of the Clopper–Pearson interval of the coverage and of the binomial range.

    Returns
    -------
    dict
        ``nominal``, ``n``, ``covered`` (count), ``coverage`` (fraction), ``ci_low`` /
        ``ci_high`` (Clopper–Pearson interval of the coverage), ``expected_low`` /
        ``expected_high`` (central ``confidence`` range of the fraction under
        Binomial(n, nominal)), ``p_value`` (two-sided exact binomial test) and
        ``within`` (the coverage lies in the binomial range).
    """
    covered = np.asarray(covered, dtype=bool)
    n, k = int(covered.size), int(covered.sum())
    if n == 0:
        nan = float("nan")
        return {
            "nominal": nominal,
            "n": 0,
            "covered": 0,
            "coverage": nan,
            "ci_low": nan,
            "ci_high": nan,
            "expected_low": nan,
            "expected_high": nan,
            "p_value": nan,
            "within": False,
        }
    tail = 0.5 * (1.0 - confidence)
    ci = stats.binomtest(k, n, nominal).proportion_ci(confidence, method="exact")
    low, high = stats.binom.ppf([tail, 1.0 - tail], n, nominal) / n
    return {
        "nominal": nominal,
        "n": n,
        "covered": k,
        "coverage": k / n,
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "expected_low": float(low),
        "expected_high": float(high),
        "p_value": float(stats.binomtest(k, n, nominal).pvalue),
        "within": bool(low <= k / n <= high),
    }


def parameter_table(
    records: Sequence[Mapping[str, Any]],
    n_thinned: int = DEFAULT_THINNED_DRAWS,
    family_alpha: float = 0.01,
) -> dict[str, Any]:
    """Summarise per-replicate records into rank uniformity and coverage per parameter.

    Parameters
    ----------
    records : sequence of mapping
        Each with ``ranks`` ``{parameter: rank}`` and ``covered``
        ``{"50": {parameter: bool}, "94": {...}}``.
    n_thinned : int
        L, the thinned draws per replicate.
    family_alpha : float
        Family-wise level of the Bonferroni-corrected uniformity test over all parameters.

    Returns
    -------
    dict
        ``parameters`` (per parameter: ``rank_uniformity`` and ``coverage`` per central
        probability, each with ``p_value_bonferroni``, its binomial-test p-value times the
        number of parameters), ``bonferroni_threshold``, ``family_alpha``, ``failing``
        (parameters with a χ² p-value below the threshold) and ``coverage_outside``
        (parameters whose 94% coverage lies outside its uncorrected binomial range).
    """
    names = list(dict.fromkeys(name for record in records for name in record["ranks"]))
    table: dict[str, Any] = {}
    for name in names:
        ranks = [r["ranks"][name] for r in records if name in r["ranks"]]
        entry: dict[str, Any] = {"rank_uniformity": rank_uniformity(ranks, n_thinned)}
        entry["coverage"] = {
            interval_label(p): coverage(
                [r["covered"][interval_label(p)][name] for r in records if name in r["ranks"]], p
            )
            for p in CENTRAL_PROBABILITIES
        }
        table[name] = entry
    threshold = family_alpha / max(len(names), 1)
    for entry in table.values():
        # The binomial range is per parameter (uncorrected): with many parameters some
        # fall outside by chance; the Bonferroni-adjusted p-value says how surprising it is.
        for result in entry["coverage"].values():
            result["p_value_bonferroni"] = min(1.0, result["p_value"] * len(names))
    failing = [
        name
        for name, entry in table.items()
        if np.isfinite(entry["rank_uniformity"]["p_value"])
        and entry["rank_uniformity"]["p_value"] < threshold
    ]
    outside = [
        name
        for name, entry in table.items()
        if not entry["coverage"][interval_label(0.94)]["within"]
    ]
    return {
        "parameters": table,
        "family_alpha": family_alpha,
        "bonferroni_threshold": threshold,
        "failing": failing,
        "coverage_outside": outside,
    }


def interval_label(probability: float) -> str:
    """Return the key of a central probability in records ("50", "94")."""
    return f"{round(100 * probability):d}"
