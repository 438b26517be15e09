"""Rough estimates of the linear SDE's a, b, c, d from observed transitions: a start, not a fit.

For dx = (a + b x)dt + √(c + d x²) dB the mean after Δ is x* + (x₀ − x*)e^{bΔ} with
x* = −a/b, so a least-squares fit of each size on the one before gives b and x*. The
squared residuals, against (1 − e^{2bΔ})/(−2b) × (1 and m²), m the mean of the start
and the expected end, give c and d by non-negative least squares. Measurement noise,
killing and births are ignored: the latent likelihood's optimiser and NUTS correct them.
numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from spinefit.sampling.hints import StartHints

NOISE_CANDIDATES = (0.003, 0.01, 0.03, 0.1, 0.3)
"""τ values tried at the estimates (the data do not give it directly)."""
RATE_CANDIDATES = (1e-4, 1e-3, 1e-2, 0.1, 1.0)
"""Formation and loss rates (per day) tried at the estimates."""
RELAXATION_RANGE = (1e-3, 10.0)
"""Bounds of −b × the median interval: from nearly a random walk to relaxed within it."""
MIN_TRANSITIONS = 5
"""Transitions a condition needs for estimates of its own (else the pooled estimates)."""
LATENT_CANDIDATES = {
    "formation_per_day": RATE_CANDIDATES,
    "loss_per_day": RATE_CANDIDATES,
    "measurement_cv": NOISE_CANDIDATES,
}
"""Candidate values of the latent likelihood's turnover rates and noise."""


def linear_moment_estimate(x0, x1, dt) -> dict[str, float]:
    """Return rough a, b, c, d of the linear SDE from transitions (any consistent units).

    Parameters
    ----------
    x0, x1 : array_like
        Sizes at the start and end of each transition.
    dt : array_like
        Their intervals.

    Returns
    -------
    dict
        ``a``, ``b`` (< 0: a stable fixed point inside the observed range), ``c``, ``d``
        (≥ 0, not both 0).
    """
    x0, x1, dt = (np.asarray(v, dtype=float) for v in (x0, x1, dt))
    interval = float(np.median(dt))
    low, high = (np.log(r / interval) for r in RELAXATION_RANGE)
    sizes = np.concatenate([x0, x1])
    pad = 1e-6 * (np.abs(sizes).max() + 1e-12)  # keeps the bounds apart when all sizes agree

    def expected(params: np.ndarray) -> np.ndarray:
        fixed, log_rate = params
        return fixed + (x0 - fixed) * np.exp(-np.exp(log_rate) * dt)

    fit = optimize.least_squares(
        lambda p: x1 - expected(p),
        [float(np.mean(sizes)), float(np.clip(np.log(1.0 / interval), low, high))],
        bounds=([sizes.min() - pad, low], [sizes.max() + pad, high]),
    )
    fixed, rate = float(fit.x[0]), float(np.exp(fit.x[1]))
    mean = expected(fit.x)
    spread = -np.expm1(-2.0 * rate * dt) / (2.0 * rate)
    middle = 0.5 * (x0 + mean)
    (c, d), _ = optimize.nnls(np.c_[spread, spread * middle**2], (x1 - mean) ** 2)
    if c <= 0 and d <= 0:  # no spread at all: the variance of the steps instead
        c = float(np.var((x1 - x0) / np.sqrt(dt))) or 1.0
    return {"a": rate * fixed, "b": -rate, "c": float(c), "d": float(d)}


def latent_start_hints(x0, x1, dt, scale: float) -> StartHints:
    """Return start hints of the latent drift–diffusion model (linear core, one population).

    ``x0``, ``x1`` are volumes and ``scale`` the model's size unit s: the model samples
    ``a_scaled`` = a/s and ``c_scaled`` = c/s².
    """
    x0, x1 = np.asarray(x0, dtype=float) / scale, np.asarray(x1, dtype=float) / scale
    core = linear_moment_estimate(x0, x1, dt)
    return StartHints(
        values={"a_scaled": core["a"], "b": core["b"], "c_scaled": core["c"], "d": core["d"]},
        candidates=LATENT_CANDIDATES,
    )


def condition_start_hints(
    x0, x1, dt, scale: float, condition, n_conditions: int, *, pooled: bool, log_floor: float
) -> StartHints:
    """Return start hints of the latent condition model (linear core per condition).

    Parameters
    ----------
    x0, x1, dt : array_like
        Volumes at the start and end of each transition, and their intervals.
    scale : float
        The model's size unit s (``a_scaled`` = a/s, ``log_c`` = ln(c/s²)).
    condition : array_like of int
        Each transition's condition, 0 .. ``n_conditions`` − 1. A condition with fewer
        than :data:`MIN_TRANSITIONS` takes the estimates of all transitions.
    pooled : bool
        Conditions partially pooled: only the population means (``a_pop`` …) are hinted,
        from all transitions; the zero-sum offsets start at 0.
    log_floor : float
        Lower bound of the hinted ln c and ln d (a moment estimate of 0 has no logarithm).
    """
    x0, x1 = np.asarray(x0, dtype=float) / scale, np.asarray(x1, dtype=float) / scale
    dt, condition = np.asarray(dt, dtype=float), np.asarray(condition)

    def core(rows) -> dict[str, float]:
        est = linear_moment_estimate(x0[rows], x1[rows], dt[rows])
        logs = {f"log_{k}": float(np.log(max(est[k], np.exp(log_floor)))) for k in "cd"}
        return {"a": est["a"], "b": est["b"]} | logs

    overall = core(slice(None))
    if pooled:
        values = {f"{name}_pop": value for name, value in overall.items()}
    else:
        each = [
            core(rows) if np.count_nonzero(rows) >= MIN_TRANSITIONS else overall
            for rows in (condition == k for k in range(n_conditions))
        ]
        values = {
            "a_scaled" if name == "a" else name: np.array([e[name] for e in each])
            for name in overall
        }
    return StartHints(values=values, candidates=LATENT_CANDIDATES)
