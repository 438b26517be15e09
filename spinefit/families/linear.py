r"""Linear (Kesten) family: :math:`\mu(w) = a + b w`, :math:`\sigma^2(w) = c + d w^2`.

The continuous-time Kesten process with additive plus multiplicative noise (Statman et al.
2014, PLoS Comput Biol 10:e1003846; Hazan & Ziv 2020, J Neurosci 40:2270). Its
transition mean and variance are exact (:func:`spinefit.models.sde_moments.linear_moments`),
its drift has one zero :math:`w^* = -a/b`, and the stationary density's survival function
falls as :math:`w^{-\alpha}` with :math:`\alpha = 1 - 2b/d`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from spinefit.families.base import SDEFamily


class Linear(SDEFamily):
    """The default family; see the module docstring."""

    name: ClassVar[str] = "linear"
    equation: ClassVar[str] = r"dw = (a + b\,w)\,dt + \sqrt{c + d\,w^{2}}\,dB"
    exact_linear_moments: ClassVar[bool] = True

    def drift(self, x, p: dict[str, Any], xp=np):
        """Return a + b x."""
        return p["a"] + p["b"] * x

    def variance(self, x, p: dict[str, Any], xp=np):
        """Return c + d x²."""
        return p["c"] + p["d"] * x**2
