r"""Exact likelihood of the exchangeable binary states of the synapses of one connection.

Numpy/PyTensor-generic pieces of :class:`~spinefit.models.paired_mixture.PairedMixture`:
every function takes the array namespace ``xp`` (:mod:`numpy` or
:mod:`pytensor.tensor`), so the PyMC model and the numpy post-processing (per-synapse
P(large), pointwise log-likelihoods for LOO) evaluate the same formulas. Parameters
carry a leading draws axis ``D`` (1 inside the PyMC model).

State distribution
------------------
The states :math:`s_1..s_m \in \{0, 1\}` (1 = large) of a connection of :math:`m`
synapses are exchangeable, with

.. math::

    P(s) \propto \exp\big(\alpha k + \beta\,k(k-1)/2\big),\quad k = \textstyle\sum_i s_i,
    \qquad P(k \text{ of } m) = \binom{m}{k} e^{\alpha k + \beta k(k-1)/2} / Z_m,

the quadratic exponential family of Cox (1972, Appl. Stat. 21:113). :math:`\beta` is the
log odds ratio of two synapses' states given the others (any sign; 0 = independent),
:math:`\alpha` the log odds of one synapse being large when all others are small.

Marginal likelihood without a connection effect, O(m²)
------------------------------------------------------
With :math:`f_S, f_L` the state densities of each log size, the sum over the
:math:`2^m` configurations groups by :math:`k`:

.. math::

    p(y) = \sum_{k=0}^{m} \frac{P(k \text{ of } m)}{\binom{m}{k}}\, e_k(y),\qquad
    e_k = \sum_{|A|=k} \prod_{i \in A} f_L(y_i) \prod_{i \notin A} f_S(y_i),

and the elementary symmetric sums :math:`e_k` follow from the recursion over synapses
:math:`e_k^{(j)} = e_k^{(j-1)} f_S(y_j) + e_{k-1}^{(j-1)} f_L(y_j)` in O(m²)
(:func:`dp_loglik`, in log space).

With a shared connection effect (closed form per configuration)
---------------------------------------------------------------
:math:`y_i = \mu_{s_i} + u + e_i`, :math:`u \sim \mathcal N(0, \tau^2)`,
:math:`e_i \sim \mathcal N(0, \sigma_{s_i}^2)`. For a configuration, with residuals
:math:`r_i = y_i - \mu_{s_i}`, :math:`w_i = \sigma_{s_i}^{-2}`, :math:`W = \sum w_i`,
:math:`S = \sum w_i r_i`,

.. math::

    \log p(y \mid s) = \sum_i \log \mathcal N(r_i \mid 0, \sigma_{s_i}^2)
    - \tfrac12 \log(1 + \tau^2 W) + \tfrac12 \frac{\tau^2 S^2}{1 + \tau^2 W},

and :func:`enumerated_loglik` sums it over all :math:`2^m` configurations
(:data:`MAX_ENUMERATED_MULTIPLICITY` bounds m). With :math:`\tau = 0` it equals
:func:`dp_loglik` (tested).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np
from scipy.special import gammaln

MAX_ENUMERATED_MULTIPLICITY = 12
"""Largest connection enumerated over its 2^m state configurations (4096 states)."""
LOG_2PI = float(np.log(2 * np.pi))


def log_binomial(m: int) -> np.ndarray:
    """Return log C(m, k) for k = 0..m."""
    k = np.arange(m + 1)
    return gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)


def configurations(m: int) -> np.ndarray:
    """Return all ``2^m`` state configurations of m synapses, ``(2^m, m)`` of 0/1."""
    return np.array(list(product((0, 1), repeat=m)), dtype=np.int64).reshape(-1, m)


def logsumexp(x: Any, xp: Any, axis: int = -1) -> Any:
    """Return log-sum-exp over ``axis`` (numpy or PyTensor; finite inputs)."""
    peak = xp.max(x, axis=axis, keepdims=True)
    return xp.log(xp.sum(xp.exp(x - peak), axis=axis)) + xp.squeeze(peak, axis=axis)


def logaddexp(a: Any, b: Any, xp: Any) -> Any:
    """Return log(exp(a) + exp(b)) elementwise (numpy or PyTensor; finite inputs)."""
    peak = xp.maximum(a, b)
    return peak + xp.log(xp.exp(a - peak) + xp.exp(b - peak))


def log_count_probabilities(alpha: Any, beta: Any, m: int, xp: Any) -> Any:
    """Return log P(k of m large), ``(D, m + 1)``, for ``alpha``, ``beta`` of shape ``(D,)``."""
    k = np.arange(m + 1, dtype=float)
    logits = log_binomial(m) + alpha[:, None] * k + beta[:, None] * (k * (k - 1) / 2)
    return logits - logsumexp(logits, xp)[:, None]


def pair_moments(log_pk: Any, m: int, xp: Any) -> tuple[Any, Any]:
    """Return P(one synapse large) and P(two given synapses both large) from log P(k of m)."""
    k = np.arange(m + 1, dtype=float)
    pk = xp.exp(log_pk)
    p_large = xp.sum(pk * k, axis=-1) / m
    p_both = xp.sum(pk * (k * (k - 1)), axis=-1) / (m * (m - 1))
    return p_large, p_both


def phi_within(log_pk: Any, m: int, xp: Any) -> Any:
    """Return the correlation (phi) of two synapses' states in a connection of m (m ≥ 2)."""
    p_large, p_both = pair_moments(log_pk, m, xp)
    return (p_both - p_large**2) / (p_large * (1 - p_large))


def state_logpdf(y: np.ndarray, mu: Any, sigma: Any, xp: Any) -> tuple[Any, Any]:
    """Return log N(y | mu_S, sigma_S²) and log N(y | mu_L, sigma_L²), each ``(D, *y.shape)``."""
    extra = (None,) * y.ndim
    out = []
    for state in (0, 1):
        loc = mu[(slice(None), state, *extra)]
        scale = sigma[(slice(None), state, *extra)]
        z = (y[None] - loc) / scale
        out.append(-0.5 * z**2 - xp.log(scale) - 0.5 * LOG_2PI)
    return out[0], out[1]


def dp_loglik(log_small: Any, log_large: Any, log_pk: Any, m: int, xp: Any) -> Any:
    """Return the exact log-likelihood of connections of m synapses without a shared effect.

    Parameters
    ----------
    log_small, log_large : array
        ``(D, n, m)`` log densities of every synapse in the small and the large state.
    log_pk : array
        ``(D, m + 1)`` log P(k of m large).
    m : int
        Synapses per connection.
    xp : module
        :mod:`numpy` or :mod:`pytensor.tensor`.

    Returns
    -------
    array
        ``(D, n)``; O(m²) work per connection (elementary symmetric sums in log space).
    """
    log_e = [log_small[..., 0], log_large[..., 0]]
    for j in range(1, m):
        small, large = log_small[..., j], log_large[..., j]
        log_e = (
            [log_e[0] + small]
            + [logaddexp(log_e[k] + small, log_e[k - 1] + large, xp) for k in range(1, j + 1)]
            + [log_e[j] + large]
        )
    weight = log_pk - log_binomial(m)  # log P(one configuration with k large)
    terms = xp.stack([log_e[k] + weight[:, k, None] for k in range(m + 1)], axis=0)
    return logsumexp(terms, xp, axis=0)


def configuration_logliks(
    y: np.ndarray, mu: Any, sigma: Any, tau: Any, log_pk: Any, m: int, xp: Any
) -> Any:
    """Return log P(configuration) + log p(y | configuration), ``(D, n, 2^m)``.

    Parameters
    ----------
    y : numpy.ndarray
        ``(n, m)`` log sizes of n connections of m synapses.
    mu, sigma : array
        ``(D, 2)`` state means and within-connection SDs.
    tau : array or None
        ``(D,)`` SD of the shared connection effect; None for no effect.
    log_pk : array
        ``(D, m + 1)`` log P(k of m large).
    m : int
        Synapses per connection.
    xp : module
        :mod:`numpy` or :mod:`pytensor.tensor`.
    """
    if m > MAX_ENUMERATED_MULTIPLICITY:
        raise ValueError(
            f"a connection of {m} synapses has 2^{m} state configurations; at most "
            f"{MAX_ENUMERATED_MULTIPLICITY} synapses are enumerated"
        )
    configs = configurations(m)
    k = configs.sum(axis=1)
    loc = mu[:, configs][:, None]  # (D, 1, C, m)
    var = (sigma**2)[:, configs][:, None]
    residual = y[None, :, None, :] - loc  # (D, n, C, m)
    loglik = -0.5 * xp.sum(LOG_2PI + xp.log(var) + residual**2 / var, axis=-1)
    if tau is not None:
        t2 = (tau**2)[:, None, None]
        precision_sum = xp.sum(1.0 / var, axis=-1)  # (D, 1, C)
        weighted = xp.sum(residual / var, axis=-1)  # (D, n, C)
        loglik = (
            loglik
            - 0.5 * xp.log1p(t2 * precision_sum)
            + 0.5 * t2 * weighted**2 / (1.0 + t2 * precision_sum)
        )
    log_prior = (log_pk - log_binomial(m))[:, k]  # (D, C)
    return loglik + log_prior[:, None, :]


def enumerated_loglik(
    y: np.ndarray, mu: Any, sigma: Any, tau: Any, log_pk: Any, m: int, xp: Any
) -> Any:
    """Return the exact log-likelihood ``(D, n)``, summing over every state configuration."""
    return logsumexp(configuration_logliks(y, mu, sigma, tau, log_pk, m, xp), xp)


def connection_loglik(
    y: np.ndarray, mu: Any, sigma: Any, tau: Any, log_pk: Any, m: int, xp: Any
) -> Any:
    """Return the exact log-likelihood ``(D, n)`` of n connections of m synapses each.

    Uses the O(m²) recursion without a shared effect (``tau`` None) and the closed form
    per configuration with one.
    """
    if tau is None:
        log_small, log_large = state_logpdf(y, mu, sigma, xp)
        return dp_loglik(log_small, log_large, log_pk, m, xp)
    return enumerated_loglik(y, mu, sigma, tau, log_pk, m, xp)


def large_state_probability(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, tau: np.ndarray | None, log_pk, m: int
) -> np.ndarray:
    """Return the posterior P(large | sizes of the whole connection), ``(D, n, m)`` (numpy)."""
    logits = configuration_logliks(y, mu, sigma, tau, log_pk, m, np)
    weights = np.exp(logits - logsumexp(logits, np)[..., None])  # (D, n, C)
    return weights @ configurations(m).astype(float)


def brute_force_loglik(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, tau: float, alpha: float, beta: float
) -> float:
    """Return log p(y) of one connection by explicit enumeration and a dense normal density.

    A slow reference for tests: every configuration's probability from the unnormalised
    weights, and the joint density of the sizes from
    :func:`scipy.stats.multivariate_normal` with covariance ``diag(σ_s²) + τ² J``.
    """
    from scipy.stats import multivariate_normal

    m = len(y)
    configs = configurations(m)
    k = configs.sum(axis=1)
    log_weights = alpha * k + beta * k * (k - 1) / 2
    log_weights = log_weights - np.log(np.sum(np.exp(log_weights)))
    terms = []
    for config, log_w in zip(configs, log_weights, strict=True):
        cov = np.diag(sigma[config] ** 2) + tau**2 * np.ones((m, m))
        terms.append(log_w + multivariate_normal(mu[config], cov).logpdf(y))
    return float(np.logaddexp.reduce(terms))
