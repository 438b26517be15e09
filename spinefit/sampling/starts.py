"""Robust chain starts: the best of a few short optimisations, jittered by the curvature.

numpy/scipy only. Everything works on the flat unconstrained vector that NUTS samples
(free variables in model order, transformed, raveled), through a function returning the
log density and its gradient, so it is tested without PyMC or MCMC.

Why: PyMC and nutpie start every chain at the prior's support point plus U(−1, 1) jitter
on the unconstrained scale. For drift–diffusion data imaged every 8–16 days that jitter
(|b| up to 1 per day against a posterior near −0.02) puts a chain where relaxation takes
about a day; there the likelihood is nearly flat, because every spine is already at the
stationary distribution, and the chain stayed there (issue 12: 2 of 12 fits, R-hat 1.84).
Starting near the posterior mode removes that failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

LogpGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
"""Flat unconstrained point → (log density with Jacobian, gradient)."""

OPTIMISATION_STARTS = 3
"""Optimisations run: from the support point and from two PyMC-style jittered points."""
MAX_ITERATIONS = 200
"""L-BFGS iterations per optimisation: enough on the models here; the start only has to
be in the right mode, NUTS warm-up does the rest."""
DEFAULT_JITTER = 1.0
"""Half-width of PyMC's and nutpie's U(−1, 1) start jitter, on the unconstrained scale."""
START_JITTER_SDS = 2.0
"""Chains start within ± this many conditional posterior SDs of the optimum."""
SCALED_ROUNDS = 3
"""Rounds of :func:`scaled_optimise`, each rescaled by the curvature where the last ended."""


@dataclass(frozen=True)
class StartPoint:
    """Where chains start: ``center`` plus U(−1, 1) × ``half_width`` per coordinate.

    Parameters
    ----------
    center : numpy.ndarray
        Flat unconstrained point.
    half_width : numpy.ndarray
        Jitter half-width per coordinate (same shape as ``center``).
    log_density : float
        Log density at ``center`` (nan when not evaluated).
    method : str
        How ``center`` was found, for the record.
    """

    center: np.ndarray
    half_width: np.ndarray
    log_density: float = float("nan")
    method: str = "support point"

    def draw(self, seed: int) -> np.ndarray:
        """Return one jittered start (a fresh, reproducible draw per seed)."""
        rng = np.random.default_rng(seed)
        return self.center + self.half_width * rng.uniform(-1.0, 1.0, self.center.shape)


def default_start(support_point: np.ndarray) -> StartPoint:
    """Return PyMC's own start: the support point with U(−1, 1) jitter."""
    return StartPoint(support_point, np.full(support_point.shape, DEFAULT_JITTER))


def _tracked_objective(logp_grad: LogpGrad, best: dict) -> Callable:
    """Return −log p and its gradient for scipy, remembering the best finite point seen.

    Non-finite densities become a huge finite value so that L-BFGS backs off instead of
    stopping; the best finite point is kept because a failed line search may end elsewhere.
    """

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        logp, grad = logp_grad(x)
        logp = float(logp)
        grad = np.asarray(grad, dtype=float)
        if not np.isfinite(logp) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(x)
        if logp > best["logp"]:
            best["logp"], best["x"] = logp, x.copy()
        return -logp, -grad

    return objective


def optimise(logp_grad: LogpGrad, x0: np.ndarray, max_iterations: int = MAX_ITERATIONS):
    """Maximise the log density from ``x0`` with L-BFGS.

    Returns
    -------
    x : numpy.ndarray or None
        The best finite point seen (None when the density was never finite).
    logp : float
        Its log density (``-inf`` when none).
    """
    best = {"logp": -np.inf, "x": None}
    objective = _tracked_objective(logp_grad, best)
    optimize.minimize(
        objective,
        np.asarray(x0, dtype=float),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations},
    )
    return best["x"], best["logp"]


def conditional_sd(logp_grad: LogpGrad, x: np.ndarray) -> np.ndarray:
    """Return each coordinate's conditional posterior SD at a mode, capped at 1.

    Central differences of the gradient give the Hessian's diagonal (2n gradients);
    ``1/sqrt(-H_ii)`` is the SD along axis i with the others fixed, which keeps jittered
    starts inside the bulk even when parameters are strongly correlated. Directions that
    are flat or not concave get the default jitter of 1.
    """
    sd = np.full(x.shape, DEFAULT_JITTER)
    for i in range(x.size):
        step = 1e-5 * max(1.0, abs(float(x[i])))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        curvature = (logp_grad(up)[1][i] - logp_grad(down)[1][i]) / (2 * step)
        if np.isfinite(curvature) and curvature < 0:
            sd[i] = min(DEFAULT_JITTER, 1.0 / np.sqrt(-curvature))
    return sd


def scaled_optimise(logp_grad: LogpGrad, x0: np.ndarray, rounds: int = SCALED_ROUNDS):
    """Maximise the log density from ``x0`` in coordinates scaled by the curvature.

    Each round runs L-BFGS on y with x = x_start + sd ⊙ y, sd the conditional SDs at
    x_start (:func:`conditional_sd`), so that its first step, of unit length, is about one
    posterior SD in every direction. Unscaled, a log density of −3e4 with gradients of
    1e4 (the latent likelihood far from its mode) made L-BFGS's first step useless and
    its line search fail at once.

    Returns
    -------
    x : numpy.ndarray or None
        The best point (None when the density at ``x0`` is not finite).
    logp : float
        Its log density.
    """
    x = np.asarray(x0, dtype=float)
    best = float(logp_grad(x)[0])
    if not np.isfinite(best):
        return None, -np.inf
    for _ in range(rounds):
        sd = conditional_sd(logp_grad, x)

        def scaled(y: np.ndarray, x=x, sd=sd) -> tuple[float, np.ndarray]:
            logp, grad = logp_grad(x + sd * y)
            return logp, np.asarray(grad, dtype=float) * sd

        y, logp = optimise(scaled, np.zeros_like(x))
        if y is None or not logp > best:
            break
        x, best = x + sd * y, logp
    return x, best


def robust_start(
    logp_grad: LogpGrad,
    support_point: np.ndarray,
    random_seed: int,
    n_starts: int = OPTIMISATION_STARTS,
    hint: np.ndarray | None = None,
) -> StartPoint:
    """Return the best of a few short optimisations as the chains' start.

    Parameters
    ----------
    logp_grad : callable
        Flat unconstrained point → (log density, gradient), as NUTS sees it.
    support_point : numpy.ndarray
        The model's default initial point (flat, unconstrained).
    random_seed : int
        Seed of the jittered optimisation starts.
    n_starts : int
        Optimisations: the first from the support point, the others from PyMC-style
        jittered copies of it.
    hint : numpy.ndarray, optional
        A point from the model's own estimates (:mod:`spinefit.sampling.hints`); one
        more optimisation (:func:`scaled_optimise`) starts there.

    Returns
    -------
    StartPoint
        The highest optimum found, jittered by :data:`START_JITTER_SDS` conditional SDs;
        the support point with the default jitter when no optimisation found a finite
        density.
    """
    rng = np.random.default_rng(random_seed)
    best_x, best_logp = None, -np.inf
    for k in range(n_starts):
        jitter = rng.uniform(-DEFAULT_JITTER, DEFAULT_JITTER, support_point.shape)
        x, logp = optimise(logp_grad, support_point + (jitter if k else 0.0))
        if x is not None and logp > best_logp:
            best_x, best_logp = x, logp
    method = f"best of {n_starts} L-BFGS optimisations"
    if hint is not None:
        x, logp = scaled_optimise(logp_grad, hint)
        method = f"best of {n_starts} L-BFGS optimisations and one from the model's estimates"
        if x is not None and logp > best_logp:
            best_x, best_logp = x, logp
            method = f"optimum from the model's estimates (better than {n_starts} others)"
    if best_x is None:
        return default_start(support_point)
    half_width = START_JITTER_SDS * conditional_sd(logp_grad, best_x)
    return StartPoint(best_x, half_width, best_logp, method)


def posterior_start(draws: np.ndarray, jitter_sds: float, random_seed: int) -> StartPoint:
    """Return a start at one posterior draw, jittered by a fraction of the posterior SD.

    Parameters
    ----------
    draws : numpy.ndarray
        Unconstrained draws of the chains to start near, shape ``(chain, draw, n)``.
    jitter_sds : float
        Half-width of the jitter in posterior SDs.
    random_seed : int
        Picks the draw.
    """
    flat = draws.reshape(-1, draws.shape[-1])
    rng = np.random.default_rng(random_seed)
    center = flat[rng.integers(flat.shape[0])]
    return StartPoint(center, jitter_sds * flat.std(axis=0), method="posterior draw")
