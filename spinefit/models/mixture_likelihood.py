r"""Numpy pieces shared by the mixture models: names, data access and likelihoods.

Everything here is numpy/scipy only (the PyTensor counterparts are in
:mod:`spinefit.models.mixture_components`), so it is tested without MCMC and evaluated on
posterior draws after sampling.

Exact and binned likelihood
---------------------------
With ``binned="auto"`` (the default) the exact likelihood
:math:`\sum_i \log \sum_k w_k \mathcal{N}(y_i \mid \mu_k, \sigma_k)` is used up to
``exact_max_synapses`` (20 000) synapses; above that the data are reduced to counts
:math:`c_b` in ``n_bins`` (2 000) equal-width bins of log10 size spanning the data, and
the likelihood is the multinomial

.. math::

    \log L = \sum_b c_b \log \sum_k w_k \left[\Phi\!\left(\frac{e_b - \mu_k}{\sigma_k}\right)
             - \Phi\!\left(\frac{e_{b-1} - \mu_k}{\sigma_k}\right)\right],

which is the exact likelihood of the binned data (the empty cells outside the data range
contribute nothing). Bin probabilities are differences of upper-tail probabilities above
a component's mean and of lower-tail ones below it, so tail bins keep full relative
precision (floored at 1e-300 beyond ~37 SDs so that gradients stay finite). The cost of
a gradient depends on the number of occupied bins, not on the number of synapses: 10⁶
synapses sample in about the time of 2 000. Below the threshold the exact likelihood is
used because it is cheap there and needs no approximation argument.

Error bound. Binning replaces each :math:`y_i` by its bin; the score of the binned
likelihood differs from the exact one by :math:`-\sum_i (y_i - \bar y_{b(i)})
\partial_y\partial_\theta \log f`, a sum of n nearly independent terms with mean ≈ 0 and
variance :math:`h^2/12 \cdot E[(\partial_y\partial_\theta \log f)^2]`, where h is the bin
width. Divided by the Fisher information this moves the posterior by a random amount
whose SD, in units of the posterior SD of the parameter, is at most

.. math::

    \frac{\sqrt{2}}{\sqrt{12}} \frac{h}{\sigma_{\min}} \approx 0.41\, h / \sigma_{\min}

(:math:`h/(\sigma\sqrt{12})` for a mean, :math:`\sqrt 2\, h/(\sigma\sqrt{12})` for an SD;
weights are less sensitive), plus an :math:`O(h^2)` bias. With 2 000 bins over a range of
about 10 component SDs this is ≈ 0.002 posterior SD, an order of magnitude below the
Monte Carlo error of 2 000 draws (≈ 0.03 posterior SD). The realised bound, with
:math:`\sigma_{\min}` the posterior mean of the smallest component SD, is stored with every
binned fit (``binning_shift_bound``). Tests check it: on 20 000 simulated synapses the
binned maximum-likelihood estimates move from the exact ones by at most 0.0017 standard
errors at 2 000 bins and 0.029 at 200 bins (shift SDs from the bound: 0.0022 and 0.022),
shrinking to 0 as h → 0; binned and exact posteriors agree within Monte Carlo error (slow
test and ``benchmarks/bench_mixture.py``).

Per-synapse state probabilities
-------------------------------
P(large | y_i) is computed after sampling, in numpy, as the posterior mean over draws of
the responsibility of the largest component. Above 50 000 synapses it is evaluated on a
grid with spacing 0.02 times the smallest component SD and interpolated linearly; the
largest interpolation error, measured at the grid midpoints, is stored with the result
(``p_large_interpolation_error``; about 3e-5 for MICrONS-like components).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy.special import log_ndtr, logsumexp

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import ATTR_SIZE_VARIABLE
from spinefit.results.names import DATA_GROUP

# Names used by the mixture models; candidates for spinefit.dims.
MULTIPLICITY_GROUP = "multiplicity_group"
"""Dim of per-multiplicity-group weights (labels ``m1``, ``m2``, ``m3plus``)."""
MULTIPLICITY_GROUPS = ("m1", "m2", "m3plus")
LOG10_SIZE = "log10_size"
"""Observed variable (exact likelihood) and curve abscissa: log10 of the size variable."""
DERIVED_GROUP = "derived"
"""DataTree group with per-synapse posterior quantities such as ``p_large``."""
P_LARGE = "p_large"
"""Posterior probability that a synapse is in the largest component."""

GRID_STEP_PER_SIGMA = 0.02
"""Grid spacing for P(large | y) on large data, as a fraction of the smallest component SD."""
DIRECT_P_LARGE_MAX = 50_000
_LOG1MEXP_CLAMP = -1e-12
"""Keeps ``log1mexp`` finite for zero-width bins."""


# -- data ---------------------------------------------------------------------------------
def component_labels(n_components: int) -> list[str]:
    """Return component labels in increasing order of mean (``small``, ``large``, ...)."""
    return {
        1: ["all"],
        2: ["small", "large"],
        3: ["small", "medium", "large"],
    }.get(n_components, [f"c{k + 1}" for k in range(n_components)])


def resolve_size_variable(data: xr.Dataset, configured: str | None) -> str:
    """Return the size variable to model: the configured one or the Dataset's primary size."""
    name = configured or data.attrs.get(ATTR_SIZE_VARIABLE)
    if name is None:
        sizes = [v for v in data.data_vars if data[v].dims == (dims.SYNAPSE,)]
        if len(sizes) != 1:
            raise ConfigError(f"choose the size variable with size_variable; one of {sizes}")
        name = sizes[0]
    if name not in data.data_vars:
        raise ConfigError(
            f"size variable '{name}' is not in the data; choose one of {list(data.data_vars)}"
        )
    return str(name)


def log10_sizes(data: xr.Dataset, size_variable: str) -> np.ndarray:
    """Return log10 of the size variable, failing on non-positive or missing sizes."""
    values = np.asarray(data[size_variable].values, dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{bad.sum()} size(s) are missing or not positive (first: synapse "
            f"{data[dims.SYNAPSE].values[i]} = {values[i]}); read the table with read_ssem",
            source=data.attrs.get(dims.ATTR_SOURCE),
            column=size_variable,
        )
    return np.log10(values)


def multiplicity_group_index(multiplicity: np.ndarray) -> np.ndarray:
    """Return 0, 1, 2 for synapses in connections of 1, 2, and 3 or more synapses."""
    return np.clip(np.asarray(multiplicity, dtype=np.int64), 1, 3) - 1


class FittedSizes(NamedTuple):
    """What a fitted mixture result was fitted to (returned by :func:`fitted_sizes`).

    Attributes
    ----------
    data : xarray.Dataset
        The ingested Dataset stored with the result.
    derived : xarray.Dataset
        The derived group: per-synapse posterior quantities and likelihood details.
    size_variable : str
        The modelled size variable.
    log10_size : numpy.ndarray
        Log10 of the modelled size of every synapse.
    """

    data: xr.Dataset
    derived: xr.Dataset
    size_variable: str
    log10_size: np.ndarray


def fitted_sizes(tree: xr.DataTree) -> FittedSizes:
    """Return the data, derived group, size variable and log10 sizes of a fitted result."""
    data = tree[DATA_GROUP].to_dataset()
    derived = tree[DERIVED_GROUP].to_dataset()
    size_variable = derived.attrs[ATTR_SIZE_VARIABLE]
    return FittedSizes(data, derived, size_variable, log10_sizes(data, size_variable))


def flat_draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    """Return a posterior variable as ``(chain * draw, ...)``."""
    values = posterior[name].transpose(*dims.SAMPLE_DIMS, ...).values
    return values.reshape(-1, *values.shape[2:])


# -- likelihood pieces (numpy) ------------------------------------------------------------
def bin_edges(log10_size: np.ndarray, n_bins: int) -> np.ndarray:
    """Return ``n_bins + 1`` equal-width edges spanning the data.

    The likelihood uses these finite bins only: the cells below the first and above the
    last edge hold no data, and an empty cell contributes nothing to a multinomial
    log-likelihood. (Open-ended outer bins would turn the smallest and largest synapse
    into censored observations and shift the posterior by O(1/sqrt(n)) SDs.)
    """
    low, high = float(np.min(log10_size)), float(np.max(log10_size))
    if high <= low:
        high = low + 1e-9
    return np.linspace(low, high, n_bins + 1)


def bin_counts(
    log10_size: np.ndarray,
    edges: np.ndarray,
    group_index: np.ndarray | None = None,
    n_groups: int = 1,
) -> np.ndarray:
    """Return counts of shape ``(n_groups, n_bins)`` (every datum in exactly one bin)."""
    n_bins = len(edges) - 1
    index = np.clip(np.searchsorted(edges, log10_size, side="right") - 1, 0, n_bins - 1)
    groups = np.zeros(len(log10_size), dtype=np.int64) if group_index is None else group_index
    return np.bincount(groups * n_bins + index, minlength=n_groups * n_bins).reshape(
        n_groups, n_bins
    )


def _log1mexp(t: np.ndarray) -> np.ndarray:
    """Return log(1 - exp(t)) for t < 0, accurately on both sides of -log 2."""
    t = np.minimum(t, _LOG1MEXP_CLAMP)
    return np.where(t > -np.log(2.0), np.log(-np.expm1(t)), np.log1p(-np.exp(t)))


def component_bin_logprob(edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Return log P(bin | component), shape ``(n_bins, K)``.

    Parameters
    ----------
    edges : numpy.ndarray
        Bin edges from :func:`bin_edges`.
    mu, sigma : numpy.ndarray
        Component means and SDs, shape ``(K,)``.
    """
    z = (edges[:, None] - mu) / sigma
    low, high = z[:-1], z[1:]
    upper = (low + high) > 0  # compute on the side of the bin centre: no cancellation
    lo = np.where(upper, low, -high)
    hi = np.where(upper, high, -low)
    log_sf_lo, log_sf_hi = log_ndtr(-lo), log_ndtr(-hi)
    return log_sf_lo + _log1mexp(log_sf_hi - log_sf_lo)


def binned_loglik(
    counts: np.ndarray, edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray, weights: np.ndarray
) -> float:
    """Return the multinomial log-likelihood (without the constant) of bin counts.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(n_groups, n_bins)`` from :func:`bin_counts`.
    edges : numpy.ndarray
        Bin edges.
    mu, sigma : numpy.ndarray
        ``(K,)`` component means and SDs (log10 units).
    weights : numpy.ndarray
        ``(K,)`` or ``(n_groups, K)`` component weights.
    """
    logp = component_bin_logprob(edges, mu, sigma)
    weights = np.atleast_2d(weights)
    with np.errstate(divide="ignore"):
        mixture = logsumexp(logp[None, :, :] + np.log(weights)[:, None, :], axis=-1)
    return float(np.sum(np.where(counts > 0, counts * mixture, 0.0)))


def binning_shift_bound(bin_width: float, sigma_min: float) -> float:
    """Return the bound on binned-vs-exact posterior shifts, in posterior SDs.

    It is the SD of the shift of an SD parameter, ``sqrt(2/12) * h / sigma_min``; see the
    module docstring for its derivation.
    """
    return float(np.sqrt(2.0 / 12.0) * bin_width / sigma_min)


def logsumexp_last(values: np.ndarray) -> np.ndarray:
    """Return log-sum-exp over the last axis (faster than scipy's for small last axes)."""
    peak = values.max(axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.log(np.exp(values - peak).sum(axis=-1)) + peak[..., 0]


def _log_weights_per_point(
    weights: np.ndarray, group_index: np.ndarray | None, chunk: slice
) -> np.ndarray:
    """Return log weights broadcastable to ``(draws, points, K)``."""
    with np.errstate(divide="ignore"):
        if weights.ndim == 3:  # (draws, groups, K)
            return np.log(weights[:, group_index[chunk], :])
        return np.log(weights)[:, None, :]


def _chunks(n_points: int, n_draws: int, n_components: int) -> list[slice]:
    step = max(1, int(2e7 // max(1, n_draws * n_components)))
    return [slice(i, min(i + step, n_points)) for i in range(0, n_points, step)]


def component_logpdf(log10_size: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Return log N(y | mu_k, sigma_k) with shape ``(draws, points, K)``."""
    z = (log10_size[None, :, None] - mu[:, None, :]) / sigma[:, None, :]
    return -0.5 * z**2 - np.log(sigma[:, None, :]) - 0.5 * np.log(2 * np.pi)


def skew_normal_loglik(
    log10_size: np.ndarray, loc: np.ndarray, scale: np.ndarray, shape: np.ndarray
) -> np.ndarray:
    r"""Return the skew-normal log-density ``(draws, n)`` of every point under every draw.

    :math:`\log 2 + \log \phi(z) - \log \omega + \log \Phi(a z)`,
    :math:`z = (y - \xi)/\omega` (Azzalini 1985, Scand. J. Stat. 12:171), for ``loc``
    :math:`\xi`, ``scale`` :math:`\omega` and ``shape`` :math:`a` of shape ``(draws,)``.
    """
    z = (log10_size[None, :] - loc[:, None]) / scale[:, None]
    return (
        np.log(2.0)
        - 0.5 * z**2
        - np.log(scale[:, None])
        - 0.5 * np.log(2 * np.pi)
        + log_ndtr(shape[:, None] * z)
    )


def pointwise_loglik(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
) -> np.ndarray:
    """Return the exact log-likelihood of every point under every draw.

    Parameters
    ----------
    log10_size : numpy.ndarray
        ``(n,)`` observations.
    mu, sigma : numpy.ndarray
        ``(draws, K)``.
    weights : numpy.ndarray
        ``(draws, K)``, or ``(draws, groups, K)`` with ``group_index``.
    group_index : numpy.ndarray, optional
        Group of every point, for per-group weights.

    Returns
    -------
    numpy.ndarray
        ``(draws, n)``.
    """
    out = np.empty((mu.shape[0], len(log10_size)))
    for chunk in _chunks(len(log10_size), mu.shape[0], mu.shape[1]):
        terms = component_logpdf(log10_size[chunk], mu, sigma)
        terms = terms + _log_weights_per_point(weights, group_index, chunk)
        out[:, chunk] = logsumexp_last(terms)
    return out


def state_probability(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
    component: int = -1,
) -> np.ndarray:
    """Return the posterior mean over draws of P(component | y) for every point.

    Shapes are those of :func:`pointwise_loglik`; the result has shape ``(n,)``.
    """
    out = np.empty(len(log10_size))
    for chunk in _chunks(len(log10_size), mu.shape[0], mu.shape[1]):
        terms = component_logpdf(log10_size[chunk], mu, sigma)
        terms = terms + _log_weights_per_point(weights, group_index, chunk)
        out[chunk] = np.exp(terms[..., component] - logsumexp_last(terms)).mean(axis=0)
    return out


def state_probability_fast(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Return :func:`state_probability` of the largest component, on a grid when n is large.

    Above :data:`DIRECT_P_LARGE_MAX` points the posterior mean of P(large | y), a smooth
    function of y, is evaluated on a grid with spacing :data:`GRID_STEP_PER_SIGMA` times
    the smallest component SD (posterior mean) and interpolated linearly. The
    interpolation error is measured at the grid midpoints.

    Returns
    -------
    p_large : numpy.ndarray
        ``(n,)`` posterior mean P(large | y).
    max_error : float
        Largest interpolation error at the grid midpoints (0 when evaluated directly).
    """
    if len(log10_size) <= DIRECT_P_LARGE_MAX:
        return state_probability(log10_size, mu, sigma, weights, group_index), 0.0
    step = GRID_STEP_PER_SIGMA * float(sigma.mean(axis=0).min())
    low, high = float(log10_size.min()), float(log10_size.max())
    grid = np.linspace(low, high, max(3, int(np.ceil((high - low) / step)) + 1))
    midpoints = 0.5 * (grid[1:] + grid[:-1])
    out = np.empty(len(log10_size))
    max_error = 0.0
    groups = np.zeros(len(log10_size), dtype=np.int64) if group_index is None else group_index
    for g in np.unique(groups):
        group_weights = weights[:, g, :] if weights.ndim == 3 else weights
        curve = state_probability(grid, mu, sigma, group_weights)
        check = state_probability(midpoints, mu, sigma, group_weights)
        max_error = max(max_error, float(np.abs(check - 0.5 * (curve[1:] + curve[:-1])).max()))
        members = groups == g
        out[members] = np.interp(log10_size[members], grid, curve)
    return out, max_error
