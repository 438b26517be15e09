r"""Spline family: a line plus a penalised cubic B-spline in log size.

.. math::

    \mu_s(x) = a_s + b\,x + \sum_{k=1}^{K} \beta_k B_k(\ln x),\qquad
    \sigma^2_s(x) = (c_s + d\,x^2)\,\exp\Bigl(\sum_{k=1}^{K} \gamma_k B_k(\ln x)\Bigr)

in units of the median observed size s (:math:`x = w/s`). :math:`B_k` are uniform cubic
B-splines whose knots span the observed log sizes; outside that range they vanish, so the
tails are those of the linear family (and the tail exponent is :math:`1 - 2b/d`).

The coefficients follow a first-order random walk that starts at zero,
:math:`\beta_k = \beta_{k-1} + \tau_\mu z_k` with :math:`z_k \sim N(0, 1)` and
:math:`\tau_\mu \sim \text{HalfNormal}(0.5/T)`: neighbouring coefficients are alike (a
smooth curve), and as :math:`\tau_\mu \to 0` the drift shrinks to the line
:math:`a + b w` unless the data say otherwise (a P-spline in the sense of Eilers & Marx
1996, Stat Sci 11:89, with the penalty as a prior). The variance modulation
:math:`\gamma` (``spline_variance=True``) is built the same way and keeps
:math:`\sigma^2 > 0`. With three zeros the drift is bistable: the shape that STDP plus
intrinsic dynamics gives (Kasai et al. 2021, the review's Fig. 3B).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from spinefit.errors import ConfigError
from spinefit.families.base import FamilyParameter, PriorScales, SDEFamily, entry

SPLINE_BASIS = "spline_basis"
"""Dim of the spline coefficients."""
DEFAULT_BASIS = 8
RANDOM_WALK_SCALE = 0.5
"""Prior scale of the random-walk step, in units of 1/T (T the median interval)."""


def cardinal_cubic(u, xp=np):
    """Return the uniform cubic B-spline supported on [0, 4] (ufuncs only).

    With :math:`t = |u - 2|` it is :math:`[(2 - t)_+^3 - 4(1 - t)_+^3]/6`, exactly zero
    outside the support, and the same formula in numpy, xarray and PyTensor.
    """
    t = xp.abs(u - 2.0)
    return (xp.maximum(2.0 - t, 0.0) ** 3 - 4.0 * xp.maximum(1.0 - t, 0.0) ** 3) / 6.0


class Spline(SDEFamily):
    """Line plus penalised B-spline drift (optionally variance); see the module docstring.

    Settings: ``n_basis`` (K, default 8), ``spline_variance`` (default False) and
    ``log_range`` (the knots' span in ln(w/s); set from the data by :meth:`configure`).
    """

    name: ClassVar[str] = "spline"
    equation: ClassVar[str] = (
        r"dw = \Bigl(a + b\,w + s\sum_k \beta_k B_k(\ln\tfrac{w}{s})\Bigr)dt"
        r" + \sigma(w)\,dB,\quad \sigma^2 = (c + d\,w^2)\,e^{\sum_k \gamma_k B_k(\ln w/s)}"
    )
    prior_text: ClassVar[str] = (
        "spline coefficients: random walk from 0, β_k = β_(k−1) + τ_μ z_k, z_k ~ Normal(0, 1), "
        "τ_μ ~ HalfNormal(0.5/T) (likewise γ and τ_σ with HalfNormal(0.5) when the "
        "variance is flexible)"
    )
    default_settings: ClassVar[dict[str, Any]] = {
        "n_basis": DEFAULT_BASIS,
        "spline_variance": False,
        "log_range": None,
    }

    @property
    def extra_parameters(self) -> tuple[FamilyParameter, ...]:  # type: ignore[override]
        """β (drift coefficients, size units per day) and, if flexible, γ."""
        params = (FamilyParameter("spline_drift", 1, True, r"\beta", SPLINE_BASIS),)
        if self.settings["spline_variance"]:
            params += (FamilyParameter("spline_variance", 0, False, r"\gamma", SPLINE_BASIS),)
        return params

    def validate(self) -> None:
        """Check ``n_basis`` (4 to 40), ``spline_variance`` and ``log_range``."""
        n = self.settings["n_basis"]
        if not isinstance(n, int) or isinstance(n, bool) or not 4 <= n <= 40:
            raise ConfigError(f"n_basis must be an integer from 4 to 40, got {n!r}")
        if not isinstance(self.settings["spline_variance"], bool):
            raise ConfigError(
                f"spline_variance must be true or false, got {self.settings['spline_variance']!r}"
            )
        span = self.settings["log_range"]
        if span is not None and not (len(span) == 2 and float(span[0]) < float(span[1])):
            raise ConfigError(f"log_range must be [low, high] with low < high, got {span!r}")

    def configure(self, scales: PriorScales) -> Spline:
        """Span the knots over the observed log sizes (kept if already set)."""
        if self.settings["log_range"] is None:
            self.settings["log_range"] = [scales.log_low, scales.log_high]
        return self

    def extra_coords(self) -> dict[str, list]:
        """Coords of the coefficients."""
        return {SPLINE_BASIS: list(range(int(self.settings["n_basis"])))}

    def extra_priors(self, scales: PriorScales, dim: str | None = None) -> dict[str, Any]:
        """Create the random-walk coefficients (one walk per ``dim`` label when given)."""
        import pymc as pm
        import pytensor.tensor as pt

        lead = (dim,) if dim else ()
        out = {}
        walks = [("spline_drift", "tau_spline_drift", RANDOM_WALK_SCALE / scales.interval)]
        if self.settings["spline_variance"]:
            walks.append(("spline_variance", "tau_spline_variance", RANDOM_WALK_SCALE))
        for name, tau_name, tau_scale in walks:
            tau = pm.HalfNormal(tau_name, tau_scale, dims=lead or None)
            z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=(*lead, SPLINE_BASIS))
            steps = z * (tau[..., None] if dim else tau)
            value = pt.cumsum(steps, axis=-1)
            if name == "spline_drift":
                out[name] = value
                # Stored in volume units per day, like a.
                pm.Deterministic(name, value * scales.size, dims=(*lead, SPLINE_BASIS))
            else:
                out[name] = pm.Deterministic(name, value, dims=(*lead, SPLINE_BASIS))
        return out

    def _basis_sum(self, x, coefficients, xp):
        low, high = self.settings["log_range"]
        k = int(self.settings["n_basis"])
        # K uniform cubic B-splines cover [low, high] with K - 3 intervals.
        h = (high - low) / max(k - 3, 1)
        u = (xp.log(xp.maximum(x, 1e-12)) - low) / h + 3.0
        total = 0.0
        for j in range(k):
            total = total + entry(coefficients, j) * cardinal_cubic(u - j, xp)
        return total

    def drift(self, x, p: dict[str, Any], xp=np):
        """Return a + b x + Σ β_k B_k(ln x)."""
        return p["a"] + p["b"] * x + self._basis_sum(x, p["spline_drift"], xp)

    def variance(self, x, p: dict[str, Any], xp=np):
        """Return (c + d x²) exp(Σ γ_k B_k(ln x)) (or c + d x²)."""
        base = p["c"] + p["d"] * x**2
        if self.settings["spline_variance"]:
            return base * xp.exp(self._basis_sum(x, p["spline_variance"], xp))
        return base


def basis_matrix(x: np.ndarray, log_range, n_basis: int = DEFAULT_BASIS) -> np.ndarray:
    """Return the (len(x), K) B-spline basis at sizes ``x`` (units of s), for tests and plots."""
    family = Spline({"n_basis": n_basis, "log_range": list(log_range)})
    eye = np.eye(n_basis)
    return np.stack([family._basis_sum(np.asarray(x), eye[k], np) for k in range(n_basis)], -1)
