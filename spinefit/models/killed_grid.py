r"""The killed size process on a grid: transition operators for the latent-process likelihood.

The true size :math:`w` follows :math:`dw = \mu(w)\,dt + \sigma(w)\,dB` and the spine is
eliminated (killed) the first time :math:`w` falls to the detection threshold
:math:`\theta`, or at any moment with a size-independent hazard :math:`\ell`
(``loss_per_day``). Sizes are in units of :math:`s`, the median observed size
(:math:`x = w/s`), so every number here is unit-free apart from time.

Discretisation. In :math:`z = \ln x` the process is
:math:`dz = m(z)\,dt + \sqrt{2D(z)}\,dB` with :math:`D = \sigma^2/(2x^2)` and
:math:`m = \mu/x - D` (Itô). Nodes :math:`z_j = \ln\theta + j h`, :math:`j = 0..G`, with
node 0 on the threshold (absorbing) and a reflecting top node :math:`G`. The generator is
the birth–death chain of the Scharfetter–Gummel (exponentially fitted) flux

.. math::

    q_{j\to j+1} = \frac{D}{h^2} B(-P),\quad q_{j+1\to j} = \frac{D}{h^2} B(P),\quad
    P = \frac{m h}{D},\quad B(x) = \frac{x}{e^x - 1},

with :math:`D` at the edge :math:`z_{j+1/2}` and :math:`m` the drift of the flux form
:math:`J = (m_z - D')p - D p'` of the Fokker–Planck equation there (:math:`m_z` the Itô
drift in z; without the :math:`-D'` term a size-dependent :math:`D`, as additive noise
gives in log size, moves mass the wrong way). It is positive for any drift, exact for
the stationary flux of constant coefficients and second order in :math:`h` for the
diffusion. A birth–death chain is reversible, so :math:`Q = \Delta^{-1} S \Delta` with
:math:`S` symmetric tridiagonal, :math:`S_{j,j+1} = \sqrt{q_{j\to j+1} q_{j+1\to j}}` and
:math:`\ln\Delta_{j+1} - \ln\Delta_j = P_{j+1/2}/2`. One symmetric eigendecomposition
:math:`S = V\Lambda V^T` then gives, for every interval :math:`t`, the transition matrix
:math:`e^{Qt} = \Delta^{-1} V e^{\Lambda t} V^T \Delta`, the killing probability, the
distribution of a spine born at a uniform time within the interval
(:math:`\mathrm{expm1}(\lambda t)/(\lambda t)`), and the stationary size distribution of
a population with births at a fixed size distribution (:math:`\propto q^T(-Q)^{-1}`). The
forward algorithm (:mod:`spinefit.models.latent_likelihood`) works in the coordinates
:math:`\beta = \alpha/\Delta` where :math:`e^{Qt}` acts as the symmetric
:math:`V e^{\Lambda t} V^T`.

Everything is written once against a small array namespace (:data:`NUMPY`,
:data:`PYTENSOR`), so the PyMC model and the numpy checks (posterior predictive, PIT,
tests) run the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import special

MAX_PECLET = 6.0
"""Bound on the per-edge Péclet number :math:`|mh/D|`.

Beyond it an edge is drift-dominated (the chain is then upwind, with numerical diffusion
:math:`|m|h/6`); the bound keeps :math:`\\ln\\Delta` within :math:`\\pm 3G`, so the
symmetrised coordinates stay finite in double precision for any parameter proposal.
"""

NOISE_FLOOR = 0.02
"""Smallest measurement-noise SD the emission models (log size, or units of the median size
for additive noise): the modelled noise variance is a smooth maximum of τ² and 0.02²
(:func:`emission_sd`).

No two-photon size is measured to better than ~2%; without a floor, data with no noise
make the likelihood a cliff in θ at the smallest observed size (every observation must lie
above it), and NUTS diverged on that cliff (26 of 2000 draws on the demo). Until 2026-12 the
floor was added in quadrature, sqrt(τ² + 0.02²), which biased τ low by 0.02²/(2τ) for any
τ (the mean score study of :mod:`spinefit.check.noise_score`).
"""

CELL_VARIANCE = 1.0 / 24.0
"""Noise variance, per h², that the emission's average over a cell adds (log size).

The emission of a node is the noise density averaged over its cell (h wide), so the
likelihood sees more noise than τ. Measured against a grid eight times finer (the mean
score in τ at the truth, paired over simulated data sets of 800 sites, mean h 0.105): the
score's grid error was −25.2 ± 1.0 with nothing taken off, −2.7 ± 1.1 with h²/24 and
+20.6 ± 1.4 with h²/12 (τ = 0.1, 30 sets); −25.2, −3.9 and +17.8 (τ = 0.2, 20 sets): half
the h²/12 of a size uniform within its cell.
"""


BIRTH_SPREAD_FLOOR = 0.05
"""Smallest log SD of the birth-size law: sqrt(σ_b² + 0.05²).

A law narrower than a grid cell (h ≈ 0.05–0.13) cannot be resolved; without the floor the
node masses lose their smoothness in the birth median as σ_b → 0 (a step function with the
cell assignment used until the tent assignment of :func:`lognormal_nodes`), and NUTS
diverged there (all 15 divergences of a 2000-draw demo fit had σ_b < 0.02).
"""

MIN_DIFFUSION = 1e-10
"""Floor of :math:`D` (1/day), so that a zero-noise proposal has finite rates."""


def emission_sd(noise_sd, spacing, additive=False, xp=np):
    r"""Return the noise SD the cell-averaged emission uses (numpy or PyTensor).

    The modelled noise variance is :math:`v = (\tau^8 + v_0^4)^{1/4}`, a smooth maximum of
    :math:`\tau^2` and :math:`v_0 = f^2 + \kappa h^2` (f :data:`NOISE_FLOOR`, κ
    :data:`CELL_VARIANCE`): v = τ² to 0.1% once τ ≥ 2√v₀. The cell average adds κh², so
    the emission's Gaussian has variance v − κh² ≥ f². Additive noise has cells of unequal
    width in size, so there κ = 0 and the cell's variance stays in the likelihood.

    Parameters
    ----------
    noise_sd : float, array or TensorVariable
        τ (log size, or units of s for additive noise), with any known errors added in
        quadrature.
    spacing : float or TensorVariable
        The grid's cell width h in log size.
    additive : bool
        Additive noise.
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    """
    cell = 0.0 if additive else CELL_VARIANCE * spacing**2
    low = NOISE_FLOOR**2 + cell
    variance = noise_sd**2
    top = xp.maximum(variance, low)  # (a⁴ + b⁴)^¼ scaled by max(a, b): no overflow
    modelled = top * ((variance / top) ** 4 + (low / top) ** 4) ** 0.25
    return xp.sqrt(modelled - cell)


def noise_for_emission(emission, spacing, additive=False):
    r"""Return the τ whose :func:`emission_sd` is ``emission`` (the inverse, numpy only).

    τ = (v⁴ − v₀⁴)^⅛ with v = e² + κh² and v₀ = f² + κh². An emission at the floor or below
    gives τ = 0.

    Parameters
    ----------
    emission : float or array
        The emission's SD.
    spacing : float or array
        The grid's cell width h in log size.
    additive : bool
        Additive noise (κ = 0).
    """
    cell = 0.0 if additive else CELL_VARIANCE * np.asarray(spacing) ** 2
    modelled = np.asarray(emission) ** 2 + cell
    low = NOISE_FLOOR**2 + cell
    return np.maximum(modelled**4 - low**4, 0.0) ** 0.125


def _numpy_namespace() -> SimpleNamespace:
    return SimpleNamespace(
        exp=np.exp,
        log=np.log,
        expm1=np.expm1,
        log1p=np.log1p,
        sqrt=np.sqrt,
        sinh=np.sinh,
        abs=np.abs,
        where=np.where,
        clip=np.clip,
        maximum=np.maximum,
        cumsum=np.cumsum,
        concatenate=np.concatenate,
        zeros=np.zeros,
        arange=np.arange,
        eigh=np.linalg.eigh,
        erfc=special.erfc,
        gammaln=special.gammaln,
        sum=np.sum,
        diag=np.diag,
        stack=np.stack,
        asarray=np.asarray,
    )


def _pytensor_namespace() -> SimpleNamespace:
    import pytensor.tensor as pt

    return SimpleNamespace(
        exp=pt.exp,
        log=pt.log,
        expm1=pt.expm1,
        log1p=pt.log1p,
        sqrt=pt.sqrt,
        sinh=pt.sinh,
        abs=pt.abs,
        where=pt.where,
        clip=pt.clip,
        maximum=pt.maximum,
        cumsum=pt.cumsum,
        concatenate=pt.concatenate,
        zeros=pt.zeros,
        arange=pt.arange,
        eigh=pt.linalg.eigh,
        erfc=pt.erfc,
        gammaln=pt.gammaln,
        sum=pt.sum,
        diag=pt.diag,
        stack=pt.stack,
        asarray=pt.as_tensor_variable,
    )


NUMPY = _numpy_namespace()
"""Array namespace for numpy evaluation."""


def pytensor_namespace() -> SimpleNamespace:
    """Return the array namespace for PyTensor graphs (imports PyTensor lazily)."""
    return _pytensor_namespace()


def bernoulli_function(x, xp=NUMPY):
    r""":math:`B(x) = x/(e^x - 1)`, with its limit 1 at 0, for any sign of x."""
    small = xp.abs(x) < 1e-6
    safe = xp.where(small, 1.0, x)
    return xp.where(small, 1.0 - 0.5 * x, safe / xp.expm1(safe))


def normal_sf(x, xp=NUMPY):
    r"""Upper tail :math:`1 - \Phi(x)` of the standard normal."""
    return 0.5 * xp.erfc(x / np.sqrt(2.0))


@dataclass
class GridOperator:
    r"""A killed process discretised on a log-size grid, in symmetrised coordinates.

    Attributes
    ----------
    z : array (G,)
        Log sizes of the live nodes (units of the median observed size).
    h : scalar
        Node spacing in log size.
    log_delta : array (G,)
        :math:`\\ln\\Delta`, the symmetrising scale; :math:`\\alpha = \\beta\\Delta`.
    eigenvalues : array (G,)
        Eigenvalues of the generator (all negative: the process is killed), per day.
    eigenvectors : array (G, G)
        Orthonormal eigenvectors of the symmetrised generator (columns).
    killing_rate : array (G,)
        Rate (per day) at which a spine at each node is eliminated: through the threshold
        (node 1 only) plus the size-independent loss.
    n_nodes : int
        G.
    """

    z: Any
    h: Any
    log_delta: Any
    eigenvalues: Any
    eigenvectors: Any
    killing_rate: Any
    n_nodes: int
    xp: Any = field(default_factory=lambda: NUMPY)

    @property
    def delta(self):
        r""":math:`\\Delta` (G,)."""
        return self.xp.exp(self.log_delta)

    def _rates_times(self, t):
        r"""Return :math:`\\lambda t`: (G,) for a scalar t, (I, G) for a vector of I intervals."""
        if getattr(t, "ndim", np.ndim(t)) == 0:
            return self.eigenvalues * t
        return t[:, None] * self.eigenvalues[None, :]

    def propagator(self, t):
        r"""Return :math:`V e^{\\Lambda t} V^T`: ``beta @ it`` propagates over t days.

        (G, G) for a scalar t; (I, G, G) for a vector of I interval lengths (one graph node
        for all of them, whatever I is, so that t may be data).
        """
        v = self.eigenvectors
        return (v * self.xp.exp(self._rates_times(t))[..., None, :]) @ v.T

    def killed_within(self, t):
        """Return the probability of elimination within t days from each node: (G,) or (I, G)."""
        v = self.eigenvectors
        decay = self.xp.expm1(self._rates_times(t))  # e^{λt} - 1, exact for tiny λt
        return -((v * decay[..., None, :]) @ (v.T @ self.delta)) / self.delta

    def born_within(self, birth_beta, t):
        """Return the distribution at the end of t days of spines born uniformly within it.

        Parameters
        ----------
        birth_beta : array (G,)
            Birth-size distribution (probabilities on the nodes) divided by Δ.

        Returns
        -------
        beta : array (G,), or (I, G) for a vector of I interval lengths
            Unnormalised distribution of the still-live spines divided by Δ; its Δ-weighted
            sum is the probability that a spine born in the interval survives to its end.
        """
        v = self.eigenvectors
        lam_t = self._rates_times(t)
        tiny = self.xp.abs(lam_t) < 1e-8
        safe = self.xp.where(tiny, 1.0, lam_t)
        ratio = self.xp.where(tiny, 1.0 + 0.5 * lam_t, self.xp.expm1(safe) / safe)
        return ((birth_beta @ v) * ratio) @ v.T

    def occupation(self, birth_beta):
        """Return the stationary live distribution (÷Δ, unnormalised) with births at a fixed law.

        Each spine is born with the birth distribution and lives until killed; in a steady
        state the sizes of live spines are distributed as the expected time spent at each
        node, :math:`q^T(-Q)^{-1}`.
        """
        v = self.eigenvectors
        return ((birth_beta @ v) / (-self.eigenvalues)) @ v.T

    def total(self, beta):
        r"""Return :math:`\\sum_j \\beta_j \\Delta_j` (mass of a distribution in β coordinates)."""
        return beta @ self.delta


def grid_operator(
    drift,
    variance,
    log_threshold,
    log_top: float,
    n_nodes: int,
    loss_per_day=0.0,
    xp=NUMPY,
) -> GridOperator:
    r"""Discretise the killed SDE on ``n_nodes`` live nodes from the threshold to the top.

    Parameters
    ----------
    drift, variance : callable
        :math:`\mu(x)` (1/day in size units) and :math:`\sigma^2(x)` as functions of the
        size x in units of the median observed size; they must accept arrays of ``xp``.
    log_threshold : scalar
        :math:`\ln(\theta/s)`.
    log_top : float
        Log of the top (reflecting) node, above every observed size.
    n_nodes : int
        Number of live nodes G.
    loss_per_day : scalar
        Size-independent elimination hazard :math:`\ell`.
    xp : namespace
        :data:`NUMPY` or :func:`pytensor_namespace`.

    Returns
    -------
    GridOperator
    """
    h = (log_top - log_threshold) / n_nodes
    index = np.arange(1, n_nodes + 1, dtype=float)
    z = log_threshold + h * index
    z_edge = log_threshold + h * (np.arange(n_nodes, dtype=float) + 0.5)  # edge j-1/2, j=1..G
    x_edge = xp.exp(z_edge)
    diffusion = xp.maximum(0.5 * variance(x_edge) / x_edge**2, MIN_DIFFUSION)
    # The flux form J = (m - D') p - D p' needs the drift minus the slope of D, taken as a
    # centred difference of D between the two nodes of the edge.
    x_node = xp.exp(log_threshold + h * np.arange(n_nodes + 1, dtype=float))
    d_node = 0.5 * variance(x_node) / x_node**2
    diffusion_slope = (d_node[1:] - d_node[:-1]) / h
    drift_z = drift(x_edge) / x_edge - 0.5 * variance(x_edge) / x_edge**2 - diffusion_slope
    peclet = xp.clip(drift_z * h / diffusion, -MAX_PECLET, MAX_PECLET)
    # Rates over edge j-1/2 (between node j-1 and node j), j = 1..G; edge 1/2 leads to the
    # absorbing threshold node.
    base = diffusion / h**2
    up = base * bernoulli_function(-peclet, xp)  # node j-1 -> j
    down = base * bernoulli_function(peclet, xp)  # node j -> j-1
    killing = down[0] + 0.0 * up  # from node 1 to the threshold
    up_from = xp.concatenate([up[1:], xp.zeros(1)])  # node j -> j+1 (none from the top node)
    down_from = down  # node j -> j-1 (node 1 -> threshold is the killing)
    diagonal = -(up_from + down_from + loss_per_day)
    # sqrt(B(-P) B(P)) = (P/2) / sinh(P/2): the symmetric off-diagonal.
    half = 0.5 * peclet[1:]
    small = xp.abs(half) < 1e-6
    sinhc = xp.where(small, 1.0, half / xp.sinh(xp.where(small, 1.0, half)))
    off = base[1:] * sinhc
    symmetric = xp.diag(diagonal) + xp.diag(off, 1) + xp.diag(off, -1)
    eigenvalues, eigenvectors = xp.eigh(symmetric)
    log_delta = xp.concatenate([xp.zeros(1), xp.cumsum(half)])
    unit = np.zeros(n_nodes)
    unit[0] = 1.0
    killing_rate = killing * unit + loss_per_day
    return GridOperator(
        z=z,
        h=h,
        log_delta=log_delta,
        eigenvalues=eigenvalues,
        eigenvectors=eigenvectors,
        killing_rate=killing_rate,
        n_nodes=n_nodes,
        xp=xp,
    )


def normal_pdf(x, xp=NUMPY):
    r"""Return the standard normal density :math:`\varphi(x)`."""
    return xp.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def lognormal_nodes(op: GridOperator, log_mean, log_sd):
    r"""Return a log-normal size law (log mean, log SD in units of s) on the live nodes.

    The law is restricted to sizes above the threshold (a spine formed below detection is
    never seen) and put on the nodes by linear (tent) interpolation in log size, with the
    absorbing threshold node :math:`z_0 = \ln\theta` as a node: node j receives
    :math:`\int p(z)\,\max(0, 1 - |z - z_j|/h)\,dz`, the top node also everything above
    it. The masses keep the law's mean log size, and the share that falls on the threshold
    node is a birth killed at once, so the live masses sum to less than one and the
    newborn's survival converges at first order in h. (Giving node j the mass of its cell
    :math:`[z_j - h/2, z_j + h/2]` instead moved the births between :math:`\theta` and
    :math:`\theta + h/2` up, away from the threshold, and overestimated the survival of a
    spine born within a 4-day interval 1.2–18× at 32 nodes, which biased
    ``formation_per_day``; see ARCHITECTURE.md.) The log SD is floored at
    :data:`BIRTH_SPREAD_FLOOR` (in quadrature).

    With :math:`E_j` the mean of the survival function :math:`1 - \Phi` over
    :math:`[z_{j-1}, z_j]`, node j < G gets :math:`E_j - E_{j+1}` and the top node
    :math:`E_G`; :math:`E_j` is a first difference of :math:`\int_z^\infty (1 - \Phi)
    = \sigma\,(\varphi(\xi) - \xi\,(1 - \Phi(\xi)))`, :math:`\xi = (z - m)/\sigma`,
    written with upper tails so it stays accurate when the law lies below the threshold.

    Returns
    -------
    array (G,)
        Probabilities of the live nodes, summing to the share of births that are not
        killed at once (→ 1 as h → 0).
    """
    xp = op.xp
    log_sd = xp.sqrt(log_sd**2 + BIRTH_SPREAD_FLOOR**2)
    # Nodes 0..G: the threshold node and the live nodes.
    xi = (op.z[0] - op.h + op.h * np.arange(op.n_nodes + 1, dtype=float) - log_mean) / log_sd
    upper = normal_sf(xi, xp)
    tail_integral = log_sd * (normal_pdf(xi, xp) - xi * upper)
    mean_upper = (tail_integral[:-1] - tail_integral[1:]) / op.h  # E_1..E_G
    mass = xp.concatenate([mean_upper[:-1] - mean_upper[1:], mean_upper[-1:]])
    mass = xp.maximum(mass, 1e-300)
    # Renormalise to the law above the threshold; the sum bounds it when that underflows.
    return mass / xp.maximum(upper[0], xp.sum(mass))


def log_emission(op: GridOperator, log_y, noise_sd, noise: str = "multiplicative"):
    r"""Return :math:`\ln p(y \mid \text{node})` for observations ``log_y`` (n,) → (n, G).

    The true size is taken as uniform in log size over each node's cell, so the emission
    stays a proper density when the noise SD is far below the node spacing (it then
    tends to the cell's indicator) and the latent grid cannot alias the data. Each cell's
    mass is a difference of normal CDFs at its two edges; the edges are shared between
    neighbouring cells, so one ``erfc`` per edge serves both, taken on the side of the
    tail that keeps the difference accurate.

    Parameters
    ----------
    op : GridOperator
        The grid.
    log_y : array (n,)
        Log observed sizes (units of s).
    noise_sd : scalar or array (n,)
        Multiplicative: SD of the log ratio observed/true (≈ CV). Additive: SD of the
        observed size in units of s. The emission's SD is :func:`emission_sd`.
    noise : {"multiplicative", "additive"}
        Noise model.

    Returns
    -------
    array (n, G)
        Log density of log y (multiplicative) or of y (additive) given each node.
    """
    xp = op.xp
    sd = emission_sd(noise_sd, op.h, noise == "additive", xp)
    sd = sd[:, None] if getattr(noise_sd, "ndim", 0) == 1 else sd
    edges = op.z[0] + op.h * (np.arange(op.n_nodes + 1, dtype=float) - 0.5)
    if noise == "additive":
        x_edges = xp.exp(edges)
        t = (xp.exp(log_y)[:, None] - x_edges[None, :]) / sd
        width = x_edges[1:] - x_edges[:-1]
    else:
        t = (log_y[:, None] - edges[None, :]) / sd
        width = op.h
    # Cell j lies between edges j and j+1, so its mass is Φ(t_j) − Φ(t_{j+1}), t_j > t_{j+1}.
    tail = normal_sf(xp.abs(t), xp)
    upper, lower = t[:, :-1], t[:, 1:]
    tail_upper, tail_lower = tail[:, :-1], tail[:, 1:]
    mass = xp.where(
        lower > 0,
        tail_lower - tail_upper,
        xp.where(upper < 0, tail_upper - tail_lower, 1.0 - tail_upper - tail_lower),
    )
    return xp.log(xp.maximum(mass, 1e-300)) - xp.log(width)
