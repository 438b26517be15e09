r"""Compiled forward algorithm of the latent-process likelihood and its exact gradient.

The PyTensor graph of :func:`spinefit.models.latent_likelihood.forward` is the reference;
this module computes the same per-spine log-likelihood of one imaging block in one numba
function, and its gradient by a hand-written reverse pass, so that a fit pays neither a
graph of hundreds of gather/scatter nodes (slow to compile, slow to run) nor one ``erfc``
per grid cell and observation (cells beyond :data:`BAND` noise SDs of an observation are
zero to double precision and are skipped).

Notation (one spine, one run of consecutive sessions in which it is present): the
normalised forward vector :math:`\tilde a_k` (β coordinates, :math:`\tilde a_k\cdot\Delta
= 1`), the emission :math:`\varepsilon_k = e^{\ln e_k - \max \ln e_k}`, the normaliser
:math:`n_k`. The log-likelihood of the run is :math:`\ln H(\tilde a_{k_0})` for a linear
functional :math:`H`, so the scaled adjoint :math:`b_k = \nabla \ln H / (\dots)` obeys

.. math::

    b_{k} = P_{k+1}\,(b_{k+1} \odot \varepsilon_{k+1}) / n_{k+1},\qquad
    \partial L / \partial \ln e_k = b_k \odot \tilde a_k,\qquad
    \partial L / \partial P_{k+1} = \tilde a_k^T (b_{k+1} \odot \varepsilon_{k+1}) / n_{k+1},

started at the end of the run from :math:`b = \Delta` (censored) or
:math:`b = \Delta\odot\kappa / (\tilde a\cdot\Delta\kappa)` (killed within the next
interval, :math:`\kappa` the killing probability). Spines of a session are processed
together, so the propagation is one matrix product per session.
"""

from __future__ import annotations

import math

import numba
import numpy as np

BAND = 8.0
"""Grid cells more than this many noise SDs from an observation get emission 0."""
TINY = 1e-300
SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@numba.njit(cache=True)
def _sf(x):
    """Upper tail of the standard normal."""
    return 0.5 * math.erfc(x * SQRT_HALF)


@numba.njit(cache=True)
def _edge_t(log_y, z0, h, sd, additive, n_nodes, t, x_edge):
    """Fill the standardised distances t (G+1) of an observation from the cell edges."""
    y = math.exp(log_y)
    for j in range(n_nodes + 1):
        edge = z0 + (j - 0.5) * h
        if additive:
            x_edge[j] = math.exp(edge)
            t[j] = (y - x_edge[j]) / sd
        else:
            t[j] = (log_y - edge) / sd


@numba.njit(cache=True)
def _emission(log_y, z0, h, sd, additive, eps_row, mass_row, t, x_edge):
    """Fill one observation's relative emission and cell masses; return its log peak.

    The emission of cell j is its noise mass over its width; cells entirely beyond
    :data:`BAND` SDs get 0 (below 1e-15 of the peak).
    """
    n_nodes = eps_row.shape[0]
    _edge_t(log_y, z0, h, sd, additive, n_nodes, t, x_edge)
    peak = 0.0
    best, best_distance = 0, np.inf
    tail_upper = -1.0  # sf(|t_j|) of the cell's upper-t edge, shared with the cell below
    for j in range(n_nodes):
        eps_row[j] = 0.0
        mass_row[j] = 0.0
        upper, lower = t[j], t[j + 1]
        distance = 0.0 if upper * lower <= 0.0 else min(abs(upper), abs(lower))
        if distance < best_distance:
            best, best_distance = j, distance
        if distance > BAND:
            tail_upper = -1.0
            continue
        if tail_upper < 0.0:
            tail_upper = _sf(abs(upper))
        tail_lower = _sf(abs(lower))
        if lower > 0.0:
            mass = tail_lower - tail_upper
        elif upper < 0.0:
            mass = tail_upper - tail_lower
        else:
            mass = 1.0 - tail_upper - tail_lower
        tail_upper = tail_lower
        mass_row[j] = mass
        density = mass / (x_edge[j + 1] - x_edge[j]) if additive else mass / h
        eps_row[j] = density
        peak = max(peak, density)
    if peak <= TINY:
        # Every cell lies beyond BAND SDs: keep the nearest with the likelihood floor.
        width = x_edge[best + 1] - x_edge[best] if additive else h
        eps_row[:] = 0.0
        eps_row[best] = 1.0
        mass_row[:] = 0.0
        mass_row[best] = -1.0  # marks a floored observation (no gradient)
        return math.log(TINY) - math.log(width)
    for j in range(n_nodes):
        eps_row[j] /= peak
    return math.log(peak)


@numba.njit(cache=True)
def observation_index(present):
    """Index of each present (spine, session) in row-major order; −1 where absent."""
    n_rows, n_sessions = present.shape
    index = np.full((n_rows, n_sessions), -1, dtype=np.int64)
    count = 0
    for r in range(n_rows):
        for k in range(n_sessions):
            if present[r, k]:
                index[r, k] = count
                count += 1
    return index


@numba.njit(cache=True)
def emissions(present, index, log_y, extra_var, z0, h, sd, additive, n_states, n_nodes):
    """Relative emissions, cell masses and log peaks of the present (spine, session) cells.

    ``index`` numbers the states (−1: none); states of absent cells keep emission 0.
    """
    eps = np.zeros((n_states, n_nodes))
    mass = np.zeros((n_states, n_nodes))
    peak = np.zeros(n_states)
    t = np.empty(n_nodes + 1)
    x_edge = np.zeros(n_nodes + 1)
    n_rows, n_sessions = present.shape
    for r in range(n_rows):
        for k in range(n_sessions):
            o = index[r, k]
            if o >= 0 and present[r, k]:
                sd_o = math.sqrt(sd * sd + extra_var[r, k])
                peak[o] = _emission(log_y[r, k], z0, h, sd_o, additive, eps[o], mass[o], t, x_edge)
    return eps, mass, peak


@numba.njit(cache=True)
def forward_kernel(
    present,
    log_y,
    extra_var,
    interval_index,
    z0,
    h,
    sd,
    additive,
    initial,
    delta,
    props,
    killed,
    born,
):
    """Per-spine log-likelihood of a block, and what the reverse pass needs.

    Parameters
    ----------
    present : int8 array (R, K)
    log_y : float array (R, K)
        Log observed size in units of s (ignored where absent).
    extra_var : float array (R, K)
        Per-observation noise variance added to sd² (known measurement errors; 0 if none).
    interval_index : int array (K-1,)
        Interval of each session step, indexing the first axis of ``props``.
    z0, h, sd : float
        First live node, node spacing (log size) and total noise SD.
    additive : bool
        Additive instead of multiplicative noise.
    initial, delta : float arrays (G,)
        Stationary live law (β coordinates, normalised) and Δ.
    props, killed, born : float arrays (I, G, G), (I, G), (I, G)
        Per distinct interval: symmetric propagator, killing probability, born-within law.

    Returns
    -------
    log_lik : (R,)
    alpha, eps, mass : (N, G)
        Normalised forward vectors, relative emissions and cell masses of the N present
        observations (row-major order).
    norm : (N,)
        Normalisers :math:`n_k`.
    """
    n_rows, n_sessions = present.shape
    n_nodes = delta.shape[0]
    index = observation_index(present)
    n_obs = int((index >= 0).sum())
    alpha = np.zeros((n_obs, n_nodes))
    norm = np.ones(n_obs)
    log_lik = np.zeros(n_rows)
    eps, mass, peak = emissions(
        present, index, log_y, extra_var, z0, h, sd, additive, n_obs, n_nodes
    )
    for r in range(n_rows):
        o = index[r, 0]
        if o >= 0:
            total = 0.0
            for j in range(n_nodes):
                alpha[o, j] = initial[j] * eps[o, j]
                total += alpha[o, j] * delta[j]
            total = max(total, TINY)
            norm[o] = total
            alpha[o] /= total
    for k in range(1, n_sessions):
        i = interval_index[k - 1]
        stay = np.flatnonzero((present[:, k - 1] != 0) & (present[:, k] != 0))
        if stay.size:
            before = np.empty((stay.size, n_nodes))
            for s in range(stay.size):
                before[s] = alpha[index[stay[s], k - 1]]
            predicted = np.dot(before, props[i])
        else:
            predicted = np.zeros((0, n_nodes))
        s = 0
        for r in range(n_rows):
            o = index[r, k]
            previous = index[r, k - 1]
            if o < 0:
                if previous >= 0:  # killed within the interval
                    value = 0.0
                    for j in range(n_nodes):
                        value += alpha[previous, j] * delta[j] * killed[i, j]
                    log_lik[r] += math.log(max(value, TINY))
                continue
            total = 0.0
            if previous >= 0:
                for j in range(n_nodes):
                    alpha[o, j] = predicted[s, j] * eps[o, j]
                    total += alpha[o, j] * delta[j]
                s += 1
            else:  # born within the interval
                for j in range(n_nodes):
                    alpha[o, j] = born[i, j] * eps[o, j]
                    total += alpha[o, j] * delta[j]
            total = max(total, TINY)
            norm[o] = total
            alpha[o] /= total
            log_lik[r] += math.log(total) + peak[o]
    return log_lik, alpha, eps, mass, norm


@numba.njit(cache=True)
def _emission_gradient(log_y, z0, h, sd, sd_chain, additive, grad_row, mass_row, t, x_edge, out):
    """Add d(log-lik)/d(z0, h, sd) of one observation, given d/d ln e (G,), to out (3,).

    ``sd`` is the observation's noise SD and ``sd_chain`` its derivative with respect to
    the shared SD.
    """
    n_nodes = grad_row.shape[0]
    if mass_row.min() < 0.0:
        return  # floored observation
    _edge_t(log_y, z0, h, sd, additive, n_nodes, t, x_edge)
    d_z0, d_h, d_sd = 0.0, 0.0, 0.0
    # d ln e_j / d t_j = φ(t_j)/m_j and d ln e_j / d t_{j+1} = −φ(t_{j+1})/m_j: collect
    # per edge, then one φ per edge.
    d_edge = np.zeros(n_nodes + 1)
    for j in range(n_nodes):
        g = grad_row[j]
        m = mass_row[j]
        if g == 0.0 or m <= 1e-290:
            continue
        d_edge[j] += g / m
        d_edge[j + 1] -= g / m
        if additive:
            width = x_edge[j + 1] - x_edge[j]
            d_z0 -= g
            d_h -= g * (x_edge[j + 1] * (j + 0.5) - x_edge[j] * (j - 0.5)) / width
        else:
            d_h -= g / h
    for edge in range(n_nodes + 1):
        if d_edge[edge] == 0.0:
            continue
        d_t = d_edge[edge] * INV_SQRT_2PI * math.exp(-0.5 * t[edge] * t[edge])
        position = edge - 0.5
        d_sd -= d_t * t[edge] / sd
        if additive:
            d_z0 -= d_t * x_edge[edge] / sd
            d_h -= d_t * x_edge[edge] * position / sd
        else:
            d_z0 -= d_t / sd
            d_h -= d_t * position / sd
    out[0] += d_z0
    out[1] += d_h
    out[2] += d_sd * sd_chain


@numba.njit(cache=True)
def backward_kernel(
    present,
    log_y,
    extra_var,
    interval_index,
    z0,
    h,
    sd,
    additive,
    delta,
    props,
    killed,
    alpha,
    eps,
    mass,
    norm,
    upstream,
):
    """Gradient of ``upstream · log_lik`` (see :func:`forward_kernel`).

    Returns
    -------
    d_scalars : (3,)
        With respect to z0, h and sd.
    d_initial, d_delta : (G,)
    d_props, d_killed, d_born : (I, G, G), (I, G), (I, G)
    """
    n_rows, n_sessions = present.shape
    n_nodes = delta.shape[0]
    index = observation_index(present)
    adjoint = np.zeros(alpha.shape)
    d_scalars = np.zeros(3)
    d_initial = np.zeros(n_nodes)
    d_delta = np.zeros(n_nodes)
    d_props = np.zeros(props.shape)
    d_killed = np.zeros(killed.shape)
    d_born = np.zeros(killed.shape)
    grad_row = np.empty(n_nodes)
    t = np.empty(n_nodes + 1)
    x_edge = np.zeros(n_nodes + 1)
    for k in range(n_sessions - 1, -1, -1):
        # Adjoints of spines present at k and k+1 come back through the propagator.
        if k < n_sessions - 1:
            i = interval_index[k]
            stay = np.flatnonzero((present[:, k] != 0) & (present[:, k + 1] != 0))
            if stay.size:
                weight = np.empty((stay.size, n_nodes))
                before = np.empty((stay.size, n_nodes))
                for s in range(stay.size):
                    o = index[stay[s], k + 1]
                    for j in range(n_nodes):
                        weight[s, j] = adjoint[o, j] * eps[o, j] / norm[o]
                    before[s] = alpha[index[stay[s], k]]
                back = np.dot(weight, props[i].T)
                d_props[i] += np.dot(before.T, weight)
                for s in range(stay.size):
                    adjoint[index[stay[s], k]] = back[s]
        for r in range(n_rows):
            o = index[r, k]
            if o < 0:
                continue
            g = upstream[r]
            if k == n_sessions - 1:  # censored: ln(ã·Δ)
                for j in range(n_nodes):
                    adjoint[o, j] = g * delta[j]
                    d_delta[j] += g * alpha[o, j]
            elif index[r, k + 1] < 0:  # killed within the next interval
                i = interval_index[k]
                value = 0.0
                for j in range(n_nodes):
                    value += alpha[o, j] * delta[j] * killed[i, j]
                if value > TINY:
                    for j in range(n_nodes):
                        adjoint[o, j] = g * delta[j] * killed[i, j] / value
                        d_killed[i, j] += g * alpha[o, j] * delta[j] / value
                        d_delta[j] += g * alpha[o, j] * killed[i, j] / value
                else:
                    adjoint[o] = 0.0
            if k == 0:  # conditioned on the first observation
                for j in range(n_nodes):
                    grad_row[j] = alpha[o, j] * (adjoint[o, j] - g * delta[j])
                    d_initial[j] += eps[o, j] * (adjoint[o, j] - g * delta[j]) / norm[o]
                    d_delta[j] -= g * alpha[o, j]
            else:
                for j in range(n_nodes):
                    grad_row[j] = alpha[o, j] * adjoint[o, j]
                if index[r, k - 1] < 0:  # born within interval k-1
                    i = interval_index[k - 1]
                    for j in range(n_nodes):
                        d_born[i, j] += eps[o, j] * adjoint[o, j] / norm[o]
            sd_o = math.sqrt(sd * sd + extra_var[r, k])
            chain = sd / sd_o
            _emission_gradient(
                log_y[r, k], z0, h, sd_o, chain, additive, grad_row, mass[o], t, x_edge, d_scalars
            )
    return d_scalars, d_initial, d_delta, d_props, d_killed, d_born
