r"""Likelihood of turnover counts per interval for the moments likelihood.

Eliminations among the :math:`n` spines present at the start of an interval of length
:math:`\Delta t` are Binomial with probability :math:`p = 1 - e^{-\lambda_e \Delta t}`, and
formations are Poisson with mean :math:`m = \lambda_f n \Delta t`. Counts pooled over the
spines of one animal or dendrite vary more than that when spines share their fate, so
``turnover_counts="overdispersed"`` replaces them by

* a beta-binomial with mean :math:`n p` and concentration :math:`1/\rho_e`
  (``elimination_overdispersion`` :math:`\rho_e` ~ HalfNormal(0.5)), and
* a negative binomial with mean :math:`m` and variance :math:`m + \varphi m^2`
  (``formation_overdispersion`` :math:`\varphi` ~ HalfNormal(1)).
"""

from __future__ import annotations

from typing import Any

TURNOVER_COUNTS = ("poisson", "overdispersed")
"""Values of the ``turnover_counts`` option."""
ELIMINATION_OVERDISPERSION_SD = 0.5
FORMATION_OVERDISPERSION_SD = 1.0
_MIN_OVERDISPERSION = 1e-6


def add_turnover_counts(
    table: Any, elimination_rate: Any, formation_rate: Any, counts: str = "poisson"
) -> None:
    """Add the elimination and formation count likelihoods to the current PyMC model.

    Parameters
    ----------
    table : xarray.Dataset
        Per-interval ``present_start``, ``dt_days``, ``eliminated`` and ``formed``.
    elimination_rate, formation_rate : tensor
        Per-day rates, one value per interval (or a scalar).
    counts : {"poisson", "overdispersed"}
        Binomial/Poisson counts, or beta-binomial/negative-binomial.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from spinefit.sampling.compiled_cache import data

    # pm.Data when compiled models are reused (spinefit.sampling.compiled_cache.reuse).
    at_risk = data("turnover_at_risk", table["present_start"].values)
    interval = data("turnover_interval_days", table["dt_days"].values)
    p = 1.0 - pt.exp(-elimination_rate * interval)
    mean_formed = formation_rate * at_risk * interval
    eliminated = data("turnover_eliminated", table["eliminated"].values)
    formed = data("turnover_formed", table["formed"].values)
    if counts == "poisson":
        pm.Binomial("eliminations", n=at_risk, p=p, observed=eliminated)
        pm.Poisson("formations", mu=mean_formed, observed=formed)
        return
    rho = pm.HalfNormal("elimination_overdispersion", ELIMINATION_OVERDISPERSION_SD)
    phi = pm.HalfNormal("formation_overdispersion", FORMATION_OVERDISPERSION_SD)
    kappa = 1.0 / pt.maximum(rho, _MIN_OVERDISPERSION)
    p = pt.clip(p, 1e-9, 1.0 - 1e-9)
    pm.BetaBinomial(
        "eliminations", n=at_risk, alpha=p * kappa, beta=(1.0 - p) * kappa, observed=eliminated
    )
    pm.NegativeBinomial(
        "formations",
        mu=pt.maximum(mean_formed, 1e-12),
        alpha=1.0 / pt.maximum(phi, _MIN_OVERDISPERSION),
        observed=formed,
    )
