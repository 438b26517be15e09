"""PyMC building blocks shared by the mixture models.

Ordered Gaussian components with their priors (:func:`add_components`, used by
:class:`~spinefit.models.mixture.Mixture` and
:class:`~spinefit.models.paired_mixture.PairedMixture`) and the PyTensor bin
log-probabilities of the binned likelihood (:func:`pt_component_bin_logprob`; see
:mod:`spinefit.models.mixture_likelihood` for the likelihood and its error bound).
PyMC and PyTensor are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinefit import dims

PRIOR_MU_SD = 1.5
"""Prior SD of standardised component means."""
PRIOR_SIGMA_LOG_MEDIAN = float(np.log(0.5))
PRIOR_SIGMA_LOG_SD = 1.0
PROBABILITY_FLOOR = 1e-300
"""Smallest bin probability in the PyTensor likelihood (keeps gradients finite)."""


def prior_mu_locations(n_components: int) -> np.ndarray:
    """Return the prior locations of the standardised ordered means (-0.5 ... 0.5)."""
    return np.linspace(-0.5, 0.5, n_components) if n_components > 1 else np.zeros(1)


def add_components(n_components: int, center: float, scale: float) -> tuple[Any, Any]:
    """Add ordered component means and SDs (log10 units) to the model in context.

    Priors are set on the standardised scale, ``(mu_k - center) / scale`` and
    ``sigma_k / scale``, where center and scale are the mean and SD of the log10 sizes:
    ``N(m_k, 1.5^2)`` with ``m_k`` evenly spaced from -0.5 to 0.5, constrained to be
    increasing, and ``LogNormal(log 0.5, 1)``.
    """
    import pymc as pm
    from pymc.distributions.transforms import ordered

    # Distinct prior locations make the default initial point ordered, so no initval is
    # needed (pm.compute_log_likelihood refuses models with non-default initial values).
    extra = {"transform": ordered} if n_components > 1 else {}
    mu_std = pm.Normal(
        "mu_std", prior_mu_locations(n_components), PRIOR_MU_SD, dims=dims.COMPONENT, **extra
    )
    sigma_std = pm.LogNormal(
        "sigma_std", PRIOR_SIGMA_LOG_MEDIAN, PRIOR_SIGMA_LOG_SD, dims=dims.COMPONENT
    )
    mu = pm.Deterministic("mu", center + scale * mu_std, dims=dims.COMPONENT)
    sigma = pm.Deterministic("sigma", scale * sigma_std, dims=dims.COMPONENT)
    return mu, sigma


def pt_component_bin_logprob(edges: np.ndarray, occupied: np.ndarray, mu: Any, sigma: Any):
    """Return the PyTensor log P(bin | component) for occupied bins, ``(bins, K)``.

    The probability is a difference of upper-tail probabilities for bins above the
    component mean and of lower-tail ones below it, so it keeps full relative precision
    out to about 37 SDs, where ``erfc`` underflows; beyond that the probability is floored
    at 1e-300 (a penalty of -690 per synapse, with zero gradient), which keeps every
    gradient finite. This is half the cost of a log-space evaluation and agrees with
    :func:`~spinefit.models.mixture_likelihood.component_bin_logprob` to ~1e-12 wherever it
    matters.
    """
    import pytensor.tensor as pt

    z = (edges[:, None] - mu[None, :]) / sigma[None, :]
    upper_tail = 0.5 * pt.erfc(z / np.sqrt(2.0))
    lower_tail = 0.5 * pt.erfc(-z / np.sqrt(2.0))
    above = z[occupied] > 0
    probability = pt.switch(
        above,
        upper_tail[occupied] - upper_tail[occupied + 1],
        lower_tail[occupied + 1] - lower_tail[occupied],
    )
    return pt.log(pt.maximum(probability, PROBABILITY_FLOOR))
