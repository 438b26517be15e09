r"""Power family: :math:`\mu = a + b s (w/s)^{\beta}`, :math:`\sigma^2 = c + d s^2 (w/s)^{\gamma}`.

Sizes enter as :math:`w/s` (s the median observed size) so that a, b, c, d keep the units of
the linear family, which is the case :math:`\beta = 1, \gamma = 2`; the posteriors of
:math:`\beta` and :math:`\gamma` test it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from spinefit.families.base import FamilyParameter, PriorScales, SDEFamily

SMALLEST_SIZE = 1e-6
"""Sizes (in units of s) are floored here, so that a negative moment never meets x**β."""


class Power(SDEFamily):
    """Power-law drift and variance exponents; see the module docstring."""

    name: ClassVar[str] = "power"
    equation: ClassVar[str] = (
        r"dw = \left(a + b\,s\,(w/s)^{\beta}\right)dt + \sqrt{c + d\,s^2 (w/s)^{\gamma}}\,dB"
    )
    prior_text: ClassVar[str] = "β ~ Gamma(mean 1, sd 0.5); γ ~ Gamma(mean 2, sd 1)"
    extra_parameters: ClassVar[tuple[FamilyParameter, ...]] = (
        FamilyParameter("beta", 0, False, r"\beta"),
        FamilyParameter("gamma", 0, False, r"\gamma"),
    )

    def extra_priors(self, scales: PriorScales, dim: str | None = None) -> dict[str, Any]:
        """Create β and γ (one per ``dim`` label when given)."""
        import pymc as pm

        shape = {"dims": dim} if dim else {}
        return {
            "beta": pm.Gamma("beta", mu=1.0, sigma=0.5, **shape),
            "gamma": pm.Gamma("gamma", mu=2.0, sigma=1.0, **shape),
        }

    def drift(self, x, p: dict[str, Any], xp=np):
        """Return a + b x^β."""
        return p["a"] + p["b"] * xp.maximum(x, SMALLEST_SIZE) ** p["beta"]

    def variance(self, x, p: dict[str, Any], xp=np):
        """Return c + d x^γ."""
        return p["c"] + p["d"] * xp.maximum(x, SMALLEST_SIZE) ** p["gamma"]
