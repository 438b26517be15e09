r"""Forward algorithm and exact gradient of the latent process with a detection limit.

:mod:`spinefit.models.latent_kernel` reads an absent spine as a dead one: present → absent
is a killing, absent → present a birth. With a detection limit :math:`\theta_d` above the
loss threshold :math:`\theta`, a spine is seen at a session only if its measured size is at
least :math:`\theta_d`, so an absent spine is either dead or alive and unseen:

* a spine is tracked from the session it is first seen to the last session;
* its state is the normalised live vector :math:`\tilde a_k` (β coordinates) and the dead
  mass :math:`\tilde D_k`, with :math:`\tilde a_k\cdot\Delta + \tilde D_k = 1`;
* one interval: :math:`p = \tilde a_{k-1} P` (alive throughout), and
  :math:`q = \tilde D_{k-1} + \tilde a_{k-1}\cdot(\Delta\odot\kappa)` (dead by its end);
* seen at k: :math:`a = p \odot \varepsilon_k`, the dead mass drops out;
* unseen at k: :math:`a = p \odot u`, :math:`u_j = P(y < \theta_d \mid x_j)
  = \Phi((\ln\theta_d - z_j)/\mathrm{sd})` (multiplicative noise; additive:
  :math:`\Phi((\theta_d - e^{z_j})/\mathrm{sd})`), and the dead mass is kept;
* the normaliser :math:`n_k = a\cdot\Delta + (\text{dead mass})` enters the log-likelihood.

The first sighting is handled as in :mod:`spinefit.models.latent_kernel` (conditioned on at
the first session, born within the interval before it otherwise), and a gap between
sightings is an unseen, living spine, not a death and a birth. With :math:`u = 0` and no
gaps the log-likelihood equals :func:`~spinefit.models.latent_kernel.forward_kernel`'s.

The reverse pass is plain reverse-mode differentiation of these steps, one session at a
time, so that the propagation back is one matrix product per session.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from spinefit.models.latent_kernel import (
    INV_SQRT_2PI,
    TINY,
    _emission_gradient,
    _sf,
    emissions,
)


@numba.njit(cache=True)
def state_index(present):
    """Index of each tracked (spine, session), from first sighting on; −1 before it."""
    n_rows, n_sessions = present.shape
    index = np.full((n_rows, n_sessions), -1, dtype=np.int64)
    count = 0
    for r in range(n_rows):
        seen = False
        for k in range(n_sessions):
            seen = seen or present[r, k] != 0
            if seen:
                index[r, k] = count
                count += 1
    return index


@numba.njit(cache=True)
def unseen_probability(z0, h, sd, additive, log_limit, n_nodes):
    """P(measured size below the detection limit | true size at node j), and t_j."""
    u = np.empty(n_nodes)
    t = np.empty(n_nodes)
    for j in range(n_nodes):
        z = z0 + j * h
        t[j] = (math.exp(log_limit) - math.exp(z)) / sd if additive else (log_limit - z) / sd
        u[j] = _sf(-t[j])
    return u, t


@numba.njit(cache=True)
def forward_detection_kernel(
    present,
    log_y,
    extra_var,
    interval_index,
    z0,
    h,
    sd,
    additive,
    log_limit,
    initial,
    delta,
    props,
    killed,
    born,
):
    """Per-spine log-likelihood of a block with a detection limit, and what the reverse needs.

    Parameters are those of :func:`~spinefit.models.latent_kernel.forward_kernel`, plus
    ``log_limit``, the log detection limit in units of s (multiplicative and additive
    noise alike).

    Returns
    -------
    log_lik : (R,)
    alpha, eps, mass : (S, G)
        Normalised live vectors, relative emissions and cell masses of the S tracked
        (spine, session) states (row-major order; emissions 0 where unseen).
    dead, norm : (S,)
        Normalised dead masses and normalisers.
    """
    n_rows, n_sessions = present.shape
    n_nodes = delta.shape[0]
    index = state_index(present)
    n_states = int((index >= 0).sum())
    alpha = np.zeros((n_states, n_nodes))
    dead = np.zeros(n_states)
    norm = np.ones(n_states)
    log_lik = np.zeros(n_rows)
    eps, mass, peak = emissions(
        present, index, log_y, extra_var, z0, h, sd, additive, n_states, n_nodes
    )
    unseen, _ = unseen_probability(z0, h, sd, additive, log_limit, n_nodes)
    tracked = np.zeros(0, dtype=np.int64)
    predicted = np.zeros((0, n_nodes))
    i = 0
    for k in range(n_sessions):
        if k > 0:
            i = interval_index[k - 1]
            tracked = np.flatnonzero(index[:, k - 1] >= 0)
            before = np.empty((tracked.size, n_nodes))
            for s in range(tracked.size):
                before[s] = alpha[index[tracked[s], k - 1]]
            predicted = np.dot(before, props[i])
        for r in range(n_rows):
            o = index[r, k]
            if o < 0:
                continue
            first = k == 0 or index[r, k - 1] < 0
            total = 0.0
            if first:
                law = initial if k == 0 else born[interval_index[k - 1]]
                for j in range(n_nodes):
                    alpha[o, j] = law[j] * eps[o, j]
                    total += alpha[o, j] * delta[j]
            else:
                s = np.searchsorted(tracked, r)
                previous = index[r, k - 1]
                if present[r, k]:
                    for j in range(n_nodes):
                        alpha[o, j] = predicted[s, j] * eps[o, j]
                        total += alpha[o, j] * delta[j]
                else:
                    gone = dead[previous]
                    for j in range(n_nodes):
                        gone += alpha[previous, j] * delta[j] * killed[i, j]
                        alpha[o, j] = predicted[s, j] * unseen[j]
                        total += alpha[o, j] * delta[j]
                    dead[o] = gone
                    total += gone
            total = max(total, TINY)
            norm[o] = total
            alpha[o] /= total
            dead[o] /= total
            if k > 0:
                log_lik[r] += math.log(total) + (peak[o] if present[r, k] else 0.0)
    return log_lik, alpha, eps, mass, dead, norm


@numba.njit(cache=True)
def backward_detection_kernel(
    present,
    log_y,
    extra_var,
    interval_index,
    z0,
    h,
    sd,
    additive,
    log_limit,
    initial,
    delta,
    props,
    killed,
    born,
    alpha,
    eps,
    mass,
    dead,
    norm,
    upstream,
):
    """Gradient of ``upstream · log_lik`` (see :func:`forward_detection_kernel`).

    Returns
    -------
    d_scalars : (4,)
        With respect to z0, h, sd and log_limit.
    d_initial, d_delta : (G,)
    d_props, d_killed, d_born : (I, G, G), (I, G), (I, G)
    """
    n_rows, n_sessions = present.shape
    n_nodes = delta.shape[0]
    index = state_index(present)
    d_alpha = np.zeros(alpha.shape)  # adjoints of the normalised live vectors
    d_dead = np.zeros(dead.shape)
    d_scalars = np.zeros(4)
    d_initial = np.zeros(n_nodes)
    d_delta = np.zeros(n_nodes)
    d_props = np.zeros(props.shape)
    d_killed = np.zeros(killed.shape)
    d_born = np.zeros(killed.shape)
    d_unseen = np.zeros(n_nodes)
    grad_row = np.empty(n_nodes)
    d_a = np.empty(n_nodes)
    t = np.empty(n_nodes + 1)
    x_edge = np.zeros(n_nodes + 1)
    unseen, t_unseen = unseen_probability(z0, h, sd, additive, log_limit, n_nodes)
    for k in range(n_sessions - 1, -1, -1):
        tracked = np.flatnonzero(index[:, k] >= 0)
        # Adjoints of the propagated vectors p of spines tracked before k (filled below).
        carried = np.zeros((tracked.size, n_nodes)) if k > 0 else np.zeros((0, n_nodes))
        carried_rows = np.zeros(tracked.size, dtype=np.bool_)
        for s in range(tracked.size):
            r = tracked[s]
            o = index[r, k]
            g = upstream[r] if k > 0 else 0.0  # the first session is conditioned on
            first = k == 0 or index[r, k - 1] < 0
            n = norm[o]
            d_n = g / n
            for j in range(n_nodes):
                d_n -= d_alpha[o, j] * alpha[o, j] / n
            d_n -= d_dead[o] * dead[o] / n
            for j in range(n_nodes):
                d_a[j] = d_alpha[o, j] / n + d_n * delta[j]
                d_delta[j] += d_n * alpha[o, j] * n
            if present[r, k]:
                for j in range(n_nodes):
                    grad_row[j] = d_a[j] * alpha[o, j] * n  # d/d ln e_j
                sd_o = math.sqrt(sd * sd + extra_var[r, k])
                _emission_gradient(
                    log_y[r, k],
                    z0,
                    h,
                    sd_o,
                    sd / sd_o,
                    additive,
                    grad_row,
                    mass[o],
                    t,
                    x_edge,
                    d_scalars,
                )
            if first:
                if k == 0:
                    for j in range(n_nodes):
                        d_initial[j] += d_a[j] * eps[o, j]
                else:
                    i = interval_index[k - 1]
                    for j in range(n_nodes):
                        d_born[i, j] += d_a[j] * eps[o, j]
                continue
            i = interval_index[k - 1]
            previous = index[r, k - 1]
            carried_rows[s] = True
            if present[r, k]:
                for j in range(n_nodes):
                    carried[s, j] = d_a[j] * eps[o, j]
            else:
                d_q = d_dead[o] / n + d_n
                d_dead[previous] += d_q
                for j in range(n_nodes):
                    # a = p ⊙ u, p = a / u where u > 0
                    p_j = alpha[o, j] * n / unseen[j] if unseen[j] > 0.0 else 0.0
                    carried[s, j] = d_a[j] * unseen[j]
                    d_unseen[j] += d_a[j] * p_j
                    d_alpha[previous, j] += d_q * delta[j] * killed[i, j]
                    d_killed[i, j] += d_q * alpha[previous, j] * delta[j]
                    d_delta[j] += d_q * alpha[previous, j] * killed[i, j]
        if k == 0:
            continue
        i = interval_index[k - 1]
        rows = np.flatnonzero(carried_rows)
        if rows.size == 0:
            continue
        weight = np.empty((rows.size, n_nodes))
        before = np.empty((rows.size, n_nodes))
        for m in range(rows.size):
            s = rows[m]
            weight[m] = carried[s]
            before[m] = alpha[index[tracked[s], k - 1]]
        back = np.dot(weight, props[i].T)
        d_props[i] += np.dot(before.T, weight)
        for m in range(rows.size):
            previous = index[tracked[rows[m]], k - 1]
            for j in range(n_nodes):
                d_alpha[previous, j] += back[m, j]
    # u_j = Φ(t_j): d u_j = φ(t_j) d t_j
    for j in range(n_nodes):
        if d_unseen[j] == 0.0:
            continue
        d_t = d_unseen[j] * INV_SQRT_2PI * math.exp(-0.5 * t_unseen[j] * t_unseen[j])
        z = z0 + j * h
        d_scalars[2] -= d_t * t_unseen[j] / sd
        if additive:
            d_scalars[0] -= d_t * math.exp(z) / sd
            d_scalars[1] -= d_t * math.exp(z) * j / sd
            d_scalars[3] += d_t * math.exp(log_limit) / sd
        else:
            d_scalars[0] -= d_t / sd
            d_scalars[1] -= d_t * j / sd
            d_scalars[3] += d_t / sd
    return d_scalars, d_initial, d_delta, d_props, d_killed, d_born


def detection_log_likelihood(dyn, block, log_limit: float, noise: str = "multiplicative"):
    """Per-spine log-likelihood of one block with a detection limit, for numpy dynamics.

    Parameters
    ----------
    dyn : spinefit.models.latent_likelihood.Dynamics
        Numpy dynamics of one parameter value (e.g. from
        :func:`spinefit.models.latent_process.numpy_dynamics`).
    block : spinefit.models.latent_likelihood.LatentBlock
    log_limit : float
        Log detection limit in units of s.
    noise : {"multiplicative", "additive"}

    Returns
    -------
    numpy.ndarray (R,)
        The first output of :func:`forward_detection_kernel`, with the size at a first
        sighting after the first session scored given that the spine was seen: minus
        ln P(seen | born within the interval), as in
        :func:`spinefit.models.latent_op.block_log_likelihood` (the count of first
        sightings is the thinned Poisson term, so the kernel's density would count
        P(seen) twice).
    """
    from spinefit.models.killed_grid import emission_sd

    op = dyn.op
    per_interval = [dyn.interval(t) for t in block.intervals]
    sd = float(emission_sd(dyn.noise_sd, op.h, noise == "additive"))
    seen = (
        1.0 - unseen_probability(op.z[0], op.h, sd, noise == "additive", log_limit, op.n_nodes)[0]
    )
    log_seen = np.log(np.maximum([(p[2] * op.delta) @ seen for p in per_interval], 1e-300))
    entry = block.entry_interval
    correction = np.where(entry >= 0, log_seen[np.maximum(entry, 0)], 0.0)
    return (
        forward_detection_kernel(
            block.present.astype(np.int8),
            np.asarray(block.log_y, dtype=float),
            np.asarray(block.extra_var, dtype=float),
            np.asarray(block.interval_index, dtype=np.int64),
            float(op.z[0]),
            float(op.h),
            sd,
            noise == "additive",
            float(log_limit),
            dyn.initial,
            op.delta,
            np.stack([p[0] for p in per_interval]),
            np.stack([p[1] for p in per_interval]),
            np.stack([p[2] for p in per_interval]),
        )[0]
        - correction
    )
