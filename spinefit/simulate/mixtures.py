"""Synapse-size data with known truth for the mixture models.

The draws are plain numpy; the only xarray step is packing the arrays into the
:func:`spinefit.io.ssem.read_ssem` layout with :func:`spinefit.io.ssem.synapse_dataset`,
so simulated and real tables go through the same models unchanged. Write a simulated
Dataset to a CSV that ``read_ssem`` reads back with :func:`spinefit.io.ssem.write_ssem`.

Two generators:

- :func:`simulate_mixture`: independent synapses (each in its own connection) whose
  log10 size follows a K-component Gaussian mixture.
- :func:`simulate_paired_mixture`: connections with given multiplicities. Single-synapse
  connections are large with probability ``weight_large_single``. In a connection of two
  synapses the joint state is drawn from the symmetric 2×2 table
  ``(p_SS, p_SL/2, p_SL/2, p_LL)``. In a connection of ``m > 2`` synapses, with probability
  ``phi`` all synapses share one state drawn with ``P(large) = p_L``, otherwise each
  state is drawn independently with ``P(large) = p_L``; every pair of synapses of such a
  connection then has exactly the 2×2 table above (this needs ``phi >= 0``).
- :func:`simulate_exchangeable_connections`: the exchangeable state model of
  :class:`~spinefit.models.paired_mixture.PairedMixture`, with state parameters per
  multiplicity group and an optional analog offset shared by each connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import gammaln

from spinefit.io.ssem import synapse_dataset

DORKENWALD_COMPONENTS: dict[str, float] = {
    "mu_small": -1.42,
    "sigma_small": 0.24,
    "mu_large": -0.77,
    "sigma_large": 0.22,
    "weight_large": 0.23,
}
"""Dorkenwald et al. 2022 (eLife 11:e76120) Table 2, all synapses (log10 µm³)."""

MICRONS_CONNECTIONS: dict[int, int] = {1: 1545, 2: 160, 3: 24, 4: 3, 5: 2}
"""Connections per multiplicity in the MICrONS L2/3 table after excluding self-connections."""

SIZE_VARIABLE = "spine_vol_um3"
SIZE_UNITS = "um^3"


def joint_state_table(p_large: float, phi: float) -> tuple[float, float, float]:
    """Return ``(p_SS, p_SL, p_LL)`` of a symmetric 2×2 table with marginal and phi.

    Parameters
    ----------
    p_large : float
        Marginal probability that a synapse of a pair is large, ``p_LL + p_SL / 2``.
    phi : float
        Phi coefficient (correlation of the two binary states).

    Returns
    -------
    tuple of float
        ``(p_SS, p_SL, p_LL)``, where ``p_SL`` counts both mixed orders together.
    """
    q = p_large * (1.0 - p_large)
    table = ((1 - p_large) ** 2 + phi * q, 2 * q * (1 - phi), p_large**2 + phi * q)
    if min(table) < 0 or not 0 < p_large < 1:
        raise ValueError(f"no 2x2 table has P(large)={p_large} and phi={phi}")
    return table


def phi_of(p_SS: float, p_SL: float, p_LL: float) -> float:
    """Return the phi coefficient of the symmetric table ``(p_SS, p_SL/2, p_SL/2, p_LL)``."""
    p_large = p_LL + p_SL / 2
    return (p_SS * p_LL - (p_SL / 2) ** 2) / (p_large * (1 - p_large))


def draw_log10_sizes(
    state: np.ndarray, mu: Sequence[float], sigma: Sequence[float], rng: np.random.Generator
) -> np.ndarray:
    """Return log10 sizes drawn from the Gaussian of each synapse's component index."""
    mu_arr, sigma_arr = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    return rng.normal(mu_arr[state], sigma_arr[state])


def draw_connection_states(
    multiplicity: np.ndarray,
    p_SS: float,
    p_SL: float,
    p_LL: float,
    weight_large_single: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw the binary state (1 = large) of every synapse, connection by connection.

    Parameters
    ----------
    multiplicity : numpy.ndarray
        Number of synapses of each connection.
    p_SS, p_SL, p_LL : float
        Joint state table of two synapses of a connection (``p_SL``: both mixed orders).
    weight_large_single : float
        P(large) of a synapse that is alone in its connection.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        States of all synapses, connection after connection (length ``multiplicity.sum()``).
    """
    if not np.isclose(p_SS + p_SL + p_LL, 1.0) or min(p_SS, p_SL, p_LL) < 0:
        raise ValueError("p_SS, p_SL, p_LL must be non-negative and sum to 1")
    p_large = p_LL + p_SL / 2
    phi = phi_of(p_SS, p_SL, p_LL)
    if phi < 0 and np.any(multiplicity > 2):
        raise ValueError("phi < 0 is only possible when no connection has more than 2 synapses")
    states = []
    for m in multiplicity:
        if m == 1:
            states.append(np.array([rng.random() < weight_large_single], dtype=np.int64))
        elif m == 2:
            cell = rng.choice(4, p=[p_SS, p_SL / 2, p_SL / 2, p_LL])
            states.append(np.array([cell // 2, cell % 2], dtype=np.int64))
        elif rng.random() < phi:
            states.append(np.full(m, rng.random() < p_large, dtype=np.int64))
        else:
            states.append((rng.random(m) < p_large).astype(np.int64))
    return np.concatenate(states) if states else np.zeros(0, dtype=np.int64)


def simulate_mixture(
    n_synapses: int,
    *,
    mu: Sequence[float] = (DORKENWALD_COMPONENTS["mu_small"], DORKENWALD_COMPONENTS["mu_large"]),
    sigma: Sequence[float] = (
        DORKENWALD_COMPONENTS["sigma_small"],
        DORKENWALD_COMPONENTS["sigma_large"],
    ),
    weights: Sequence[float] = (0.77, 0.23),
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Simulate independent synapses with a K-component log-normal mixture of sizes.

    Parameters
    ----------
    n_synapses : int
        Number of synapses; each is alone in its connection (multiplicity 1).
    mu, sigma : sequence of float
        Component means and SDs of log10 size (log10 µm³), in increasing order of mean.
    weights : sequence of float
        Component weights (sum to 1).
    random_seed : int
        Seed of the generator.

    Returns
    -------
    dataset : xarray.Dataset
        In the :func:`~spinefit.io.ssem.read_ssem` layout, size variable
        ``spine_vol_um3`` (µm³).
    truth : dict
        ``mu``, ``sigma``, ``weights`` (lists), ``state`` (component index per synapse)
        and ``large`` (bool per synapse); for two components also ``mu_small``,
        ``sigma_small``, ``mu_large``, ``sigma_large``, ``weight_large``.
    """
    rng = np.random.default_rng(random_seed)
    weights_arr = np.asarray(weights, dtype=float)
    if not np.isclose(weights_arr.sum(), 1.0) or len({len(weights_arr), len(mu), len(sigma)}) > 1:
        raise ValueError("weights must sum to 1 and mu, sigma, weights must have equal length")
    state = rng.choice(len(weights_arr), size=n_synapses, p=weights_arr)
    log10_size = draw_log10_sizes(state, mu, sigma, rng)
    connection = np.arange(n_synapses, dtype=np.int64)
    dataset = _dataset(
        log10_size,
        pre=1_000_000 + connection,
        post=2_000_000 + connection % 997,
        source=f"simulated: simulate_mixture(n_synapses={n_synapses}, random_seed={random_seed})",
    )
    truth: dict[str, Any] = {
        "mu": list(map(float, mu)),
        "sigma": list(map(float, sigma)),
        "weights": weights_arr.tolist(),
        "state": state,
        "large": state == len(weights_arr) - 1,
    }
    if len(weights_arr) == 2:
        truth |= {
            "mu_small": float(mu[0]),
            "sigma_small": float(sigma[0]),
            "mu_large": float(mu[1]),
            "sigma_large": float(sigma[1]),
            "weight_large": float(weights_arr[1]),
        }
    return dataset, truth


def simulate_skew_normal(
    n_synapses: int,
    *,
    loc: float = -1.55,
    scale: float = 0.45,
    shape: float = 4.0,
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Simulate independent synapses whose log10 size is one skew-normal population.

    A single population with skew, the case in which a two-component mixture fits
    better than one normal without there being two states. The defaults give a mean and
    SD close to the MICrONS log10 spine volumes.

    Parameters
    ----------
    n_synapses : int
        Number of synapses, each alone in its connection.
    loc, scale, shape : float
        Skew-normal location, scale (log10 µm³) and shape (Azzalini's alpha).
    random_seed : int
        Seed of the generator.

    Returns
    -------
    dataset : xarray.Dataset
        In the :func:`~spinefit.io.ssem.read_ssem` layout.
    truth : dict
        ``loc``, ``scale``, ``shape``.
    """
    from scipy.stats import skewnorm

    rng = np.random.default_rng(random_seed)
    log10_size = skewnorm.rvs(shape, loc=loc, scale=scale, size=n_synapses, random_state=rng)
    connection = np.arange(n_synapses, dtype=np.int64)
    dataset = _dataset(
        log10_size,
        pre=1_000_000 + connection,
        post=2_000_000 + connection % 997,
        source=f"simulated: simulate_skew_normal(n_synapses={n_synapses}, seed={random_seed})",
    )
    return dataset, {"loc": loc, "scale": scale, "shape": shape}


def simulate_paired_mixture(
    connections: dict[int, int] | None = None,
    *,
    p_SS: float = 0.62,
    p_SL: float = 0.22,
    p_LL: float = 0.16,
    weight_large_single: float = 0.2,
    mu_small: float = DORKENWALD_COMPONENTS["mu_small"],
    sigma_small: float = DORKENWALD_COMPONENTS["sigma_small"],
    mu_large: float = DORKENWALD_COMPONENTS["mu_large"],
    sigma_large: float = DORKENWALD_COMPONENTS["sigma_large"],
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Simulate connections whose synapses share correlated binary states.

    Parameters
    ----------
    connections : dict, optional
        ``{multiplicity: number of connections}``; default the MICrONS counts
        (:data:`MICRONS_CONNECTIONS`).
    p_SS, p_SL, p_LL : float
        Joint state table of two synapses of one connection (``p_SL``: both mixed orders).
    weight_large_single : float
        P(large) of a synapse alone in its connection.
    mu_small, sigma_small, mu_large, sigma_large : float
        Components of log10 size (log10 µm³).
    random_seed : int
        Seed of the generator.

    Returns
    -------
    dataset : xarray.Dataset
        In the :func:`~spinefit.io.ssem.read_ssem` layout (size variable ``spine_vol_um3``).
    truth : dict
        The parameters above, ``phi``, ``p_large_pairs`` (``p_LL + p_SL / 2``), the
        weight of the large state by multiplicity group (``weight_large_m1``,
        ``weight_large_m2``, ``weight_large_m3plus``), and ``large`` (bool per synapse).
    """
    connections = dict(MICRONS_CONNECTIONS if connections is None else connections)
    rng = np.random.default_rng(random_seed)
    multiplicity = np.repeat(
        np.array(list(connections), dtype=np.int64), np.array(list(connections.values()))
    )
    multiplicity = rng.permutation(multiplicity)
    state = draw_connection_states(multiplicity, p_SS, p_SL, p_LL, weight_large_single, rng)
    log10_size = draw_log10_sizes(state, (mu_small, mu_large), (sigma_small, sigma_large), rng)
    connection = np.repeat(np.arange(len(multiplicity), dtype=np.int64), multiplicity)
    dataset = _dataset(
        log10_size,
        pre=1_000_000 + connection,
        post=2_000_000 + connection % 997,
        source=(
            f"simulated: simulate_paired_mixture(connections={connections}, "
            f"random_seed={random_seed})"
        ),
    )
    p_large = p_LL + p_SL / 2
    truth = {
        "p_SS": p_SS,
        "p_SL": p_SL,
        "p_LL": p_LL,
        "phi": phi_of(p_SS, p_SL, p_LL),
        "p_large_pairs": p_large,
        "weight_large_single": weight_large_single,
        "weight_large_m1": weight_large_single,
        "weight_large_m2": p_large,
        "weight_large_m3plus": p_large,
        "mu_small": mu_small,
        "sigma_small": sigma_small,
        "mu_large": mu_large,
        "sigma_large": sigma_large,
        "large": state.astype(bool),
    }
    return dataset, truth


def exchangeable_count_probabilities(alpha: float, beta: float, m: int) -> np.ndarray:
    r"""Return P(k of m large), k = 0..m, of :math:`\binom{m}{k} e^{\alpha k + \beta k(k-1)/2}`."""
    k = np.arange(m + 1)
    log_w = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1) + alpha * k
    log_w = log_w + beta * k * (k - 1) / 2
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def exchangeable_phi(alpha: float, beta: float, m: int) -> float:
    """Return the correlation of two synapses' states in a connection of m ≥ 2 synapses."""
    pk = exchangeable_count_probabilities(alpha, beta, m)
    k = np.arange(m + 1)
    p_large = float(pk @ k) / m
    p_both = float(pk @ (k * (k - 1))) / (m * (m - 1))
    return (p_both - p_large**2) / (p_large * (1 - p_large))


def simulate_exchangeable_connections(
    connections: dict[int, int] | None = None,
    *,
    alpha: dict[str, float],
    beta: dict[str, float],
    weight_large_single: float = 0.2,
    sigma_connection: float = 0.0,
    split_multiplicity_at: int = 3,
    mu_small: float = DORKENWALD_COMPONENTS["mu_small"],
    sigma_small: float = DORKENWALD_COMPONENTS["sigma_small"],
    mu_large: float = DORKENWALD_COMPONENTS["mu_large"],
    sigma_large: float = DORKENWALD_COMPONENTS["sigma_large"],
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    r"""Simulate connections from the exchangeable state model of the paired mixture.

    A connection of m synapses has k large synapses with probability
    :math:`\binom{m}{k} e^{\alpha_g k + \beta_g k(k-1)/2}/Z_m` (g its multiplicity
    group), the k are placed at random, and log10 sizes are
    :math:`\mu_{s_i} + u_c + e_i` with :math:`u_c \sim \mathcal N(0, \tau^2)` shared by
    the connection.

    Parameters
    ----------
    connections : dict, optional
        ``{multiplicity: number of connections}``; default the MICrONS counts.
    alpha, beta : dict
        ``{group: value}`` for the groups ``m2``, ``m3plus`` (labels as in
        :func:`spinefit.models.paired_mixture.group_label`). β = 0: independent states.
    weight_large_single : float
        P(large) of a synapse alone in its connection.
    sigma_connection : float
        τ, SD of the shared analog offset of a connection (log10 µm³).
    split_multiplicity_at : int
        First multiplicity of the last group (3: groups m2, m3plus).
    mu_small, sigma_small, mu_large, sigma_large : float
        Components of log10 size (log10 µm³).
    random_seed : int
        Seed of the generator.

    Returns
    -------
    dataset : xarray.Dataset
        In the :func:`~spinefit.io.ssem.read_ssem` layout (size variable ``spine_vol_um3``).
    truth : dict
        ``alpha_<g>``, ``beta_<g>``, ``phi_<g>`` and ``p_large_<g>`` (within-multiplicity
        values averaged over the group's connections), ``phi`` (over every multi-synapse
        connection), ``sigma_connection``, the components and ``large`` (bool per synapse).
    """
    connections = dict(MICRONS_CONNECTIONS if connections is None else connections)
    rng = np.random.default_rng(random_seed)

    def group(m: int) -> str:
        return f"m{m}" if m < split_multiplicity_at else f"m{split_multiplicity_at}plus"

    multiplicity = rng.permutation(
        np.repeat(np.array(list(connections), dtype=np.int64), list(connections.values()))
    )
    states = []
    for m in multiplicity:
        if m == 1:
            states.append(np.array([rng.random() < weight_large_single], dtype=np.int64))
            continue
        pk = exchangeable_count_probabilities(alpha[group(m)], beta[group(m)], m)
        state = np.zeros(m, dtype=np.int64)
        state[rng.permutation(m)[: rng.choice(m + 1, p=pk)]] = 1
        states.append(state)
    state = np.concatenate(states)
    connection = np.repeat(np.arange(len(multiplicity), dtype=np.int64), multiplicity)
    offset = rng.normal(0.0, sigma_connection, len(multiplicity))[connection]
    log10_size = draw_log10_sizes(state, (mu_small, mu_large), (sigma_small, sigma_large), rng)
    dataset = _dataset(
        log10_size + offset,
        pre=1_000_000 + connection,
        post=2_000_000 + connection % 997,
        source=(
            f"simulated: simulate_exchangeable_connections(connections={connections}, "
            f"random_seed={random_seed})"
        ),
    )
    truth: dict[str, Any] = {
        "sigma_connection": sigma_connection,
        "weight_large_single": weight_large_single,
        "mu_small": mu_small,
        "sigma_small": sigma_small,
        "mu_large": mu_large,
        "sigma_large": sigma_large,
        "large": state.astype(bool),
    }
    phi_total, n_total = 0.0, 0
    for g in sorted({group(m) for m in connections if m > 1}):
        members = {m: n for m, n in connections.items() if m > 1 and group(m) == g}
        n_g = sum(members.values())
        phi = sum(n * exchangeable_phi(alpha[g], beta[g], m) for m, n in members.items())
        large = sum(
            n * float(exchangeable_count_probabilities(alpha[g], beta[g], m) @ np.arange(m + 1))
            for m, n in members.items()
        )
        truth |= {
            f"alpha_{g}": alpha[g],
            f"beta_{g}": beta[g],
            f"phi_{g}": phi / n_g,
            f"p_large_{g}": large / sum(m * n for m, n in members.items()),
        }
        phi_total += phi
        n_total += n_g
    truth["phi"] = phi_total / n_total
    return dataset, truth


def _dataset(log10_size: np.ndarray, pre: np.ndarray, post: np.ndarray, source: str):
    digest = hashlib.sha256()
    for array in (log10_size, pre, post):
        digest.update(np.ascontiguousarray(array).tobytes())
    return synapse_dataset(
        synapse_ids=np.arange(1, len(log10_size) + 1, dtype=np.int64),
        pre_ids=pre,
        post_ids=post,
        sizes={SIZE_VARIABLE: 10.0**log10_size},
        units={SIZE_VARIABLE: SIZE_UNITS},
        source=source,
        content_hash=f"sha256:{digest.hexdigest()}",
    )


__all__ = [
    "DORKENWALD_COMPONENTS",
    "MICRONS_CONNECTIONS",
    "draw_connection_states",
    "draw_log10_sizes",
    "exchangeable_count_probabilities",
    "exchangeable_phi",
    "joint_state_table",
    "phi_of",
    "simulate_mixture",
    "simulate_exchangeable_connections",
    "simulate_paired_mixture",
    "simulate_skew_normal",
]
