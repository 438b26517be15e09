r"""Simulated data with a known split of size variance into shared and individual parts.

Three generators, one per use of :mod:`spinefit.models.variance_split`:

- :func:`simulate_shared_snapshot`: an ssEM-like snapshot in which

  .. math:: \log w_i = \mu + u_{\mathrm{pre}(i)} + u_{\mathrm{post}(i)} + u_{c(i)} + e_i,

  so synapses of one connection (same axon, same postsynaptic cell) share :math:`u_c`
  (Dvorkin & Ziv 2016, PLoS Biol 14:e1002572);
- :func:`simulate_shared_changes`: a time series whose log-size changes between
  consecutive sessions are :math:`\Delta_{i,t} = \delta_t + g_{k(i),t} + e_{i,t}`, with
  :math:`g` shared by the spines of one dendrite;
- :func:`simulate_silenced_control`: Kesten/Langevin time series of a control and a
  silenced group (:func:`spinefit.simulate.particles.simulate_particles`) with different
  noise amplitudes, so the intrinsic fraction
  :math:`\sigma^2_{\mathrm{silenced}}(w)/\sigma^2_{\mathrm{control}}(w)` is known.

Each returns ``(dataset, truth)``; the datasets have the layout the readers produce.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError
from spinefit.io.ingestion_report import IngestionReport
from spinefit.io.ssem import synapse_dataset
from spinefit.simulate.particles import simulate_particles

__all__ = [
    "intrinsic_fraction_curve",
    "simulate_shared_changes",
    "simulate_shared_snapshot",
    "simulate_silenced_control",
]

DEFAULT_MULTIPLICITY_WEIGHTS = (0.45, 0.3, 0.15, 0.1)
"""Probabilities of connections with 1, 2, 3 and 4 synapses (more multiples than MICrONS,
so that small simulations still inform the connection/synapse split)."""


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


def simulate_shared_snapshot(
    *,
    connection_shared_fraction: float | None = None,
    n_connections: int = 400,
    n_pre: int = 60,
    n_post: int = 120,
    multiplicity_weights: Sequence[float] = DEFAULT_MULTIPLICITY_WEIGHTS,
    mean_log_size: float = np.log(0.05),
    var_within: float = 0.5,
    var_pre: float = 0.0,
    var_post: float = 0.0,
    random_seed: int = 0,
    activity_dependent_fraction: float | None = None,
) -> tuple[xr.Dataset, dict[str, float]]:
    r"""Simulate an ssEM snapshot with a known connection share of log-size variance.

    Parameters
    ----------
    connection_shared_fraction : float
        :math:`\mathrm{Var}(u_c) / (\mathrm{Var}(u_c) + \mathrm{Var}(e))`, in [0, 1).
    n_connections : int
        Number of distinct (pre, post) cell pairs.
    n_pre, n_post : int
        Numbers of presynaptic and postsynaptic cells the connections are drawn from.
    multiplicity_weights : sequence of float
        Probability that a connection has 1, 2, ... synapses.
    mean_log_size : float
        :math:`\mu`, natural log of the size in µm³.
    var_within : float
        :math:`\mathrm{Var}(u_c) + \mathrm{Var}(e)`.
    var_pre, var_post : float
        Variances of the presynaptic- and postsynaptic-cell effects (the baselines).
    random_seed : int
        Seed.
    activity_dependent_fraction : float, optional
        Deprecated name of ``connection_shared_fraction`` (warns; removed in the next
        release).

    Returns
    -------
    dataset : xarray.Dataset
        Snapshot Dataset (:func:`spinefit.io.ssem.synapse_dataset`) with size variable
        ``spine_vol_um3``.
    truth : dict
        The variance components and derived fractions the model reports.
    """
    if activity_dependent_fraction is not None:
        warnings.warn(
            "activity_dependent_fraction is deprecated; use connection_shared_fraction",
            DeprecationWarning,
            stacklevel=2,
        )
        if connection_shared_fraction is None:
            connection_shared_fraction = activity_dependent_fraction
    if connection_shared_fraction is None:
        raise ConfigError("give connection_shared_fraction")
    _check_fraction("connection_shared_fraction", connection_shared_fraction)
    if n_pre * n_post < n_connections:
        raise ConfigError("n_pre * n_post must be at least n_connections")
    rng = np.random.default_rng(random_seed)
    weights = np.asarray(multiplicity_weights, dtype=float)
    pair_codes = rng.choice(n_pre * n_post, size=n_connections, replace=False)
    pre_of_connection, post_of_connection = np.divmod(pair_codes, n_post)
    multiplicity = rng.choice(np.arange(1, len(weights) + 1), size=n_connections, p=weights)

    var_connection = connection_shared_fraction * var_within
    var_synapse = var_within - var_connection
    u_pre = rng.normal(0.0, np.sqrt(var_pre), n_pre)
    u_post = rng.normal(0.0, np.sqrt(var_post), n_post)
    u_connection = rng.normal(0.0, np.sqrt(var_connection), n_connections)

    connection = np.repeat(np.arange(n_connections), multiplicity)
    pre = pre_of_connection[connection]
    post = post_of_connection[connection]
    log_size = (
        mean_log_size
        + u_pre[pre]
        + u_post[post]
        + u_connection[connection]
        + rng.normal(0.0, np.sqrt(var_synapse), connection.size)
    )
    size = np.exp(log_size)
    dataset = synapse_dataset(
        synapse_ids=np.arange(1, connection.size + 1),
        # Offsets keep pre and post ids distinct, so no pair is a self-connection.
        pre_ids=pre + 1000,
        post_ids=post + 100000,
        sizes={"spine_vol_um3": size},
        units={"spine_vol_um3": "um^3"},
        source=f"simulate_shared_snapshot(seed={random_seed})",
        content_hash="sha256:" + hashlib.sha256(size.tobytes()).hexdigest(),
    )
    total = var_pre + var_post + var_within
    truth = {
        "connection_shared_fraction": connection_shared_fraction,
        "connection_unshared_fraction": 1.0 - connection_shared_fraction,
        "var_connection": var_connection,
        "var_synapse": var_synapse,
        "var_pre": var_pre,
        "var_post": var_post,
        "mu": mean_log_size,
        "corr_same_axon": var_pre / total,
        "corr_same_dendrite": var_post / total,
        "corr_commonly_innervated": (var_pre + var_post + var_connection) / total,
        "ci_excess": var_connection / total,
    }
    return dataset, truth


def simulate_shared_changes(
    *,
    shared_fraction: float,
    n_dendrites: int = 12,
    spines_per_dendrite: int = 25,
    n_sessions: int = 6,
    interval_days: float = 4.0,
    var_change: float = 0.1,
    session_shift_sd: float = 0.05,
    absent_probability: float = 0.1,
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, float]]:
    r"""Simulate a time series whose log-size changes are partly shared within dendrites.

    Parameters
    ----------
    shared_fraction : float
        :math:`\mathrm{Var}(g) / (\mathrm{Var}(g) + \mathrm{Var}(e))`, in [0, 1).
    n_dendrites, spines_per_dendrite, n_sessions : int
        Layout of the series.
    interval_days : float
        Days between sessions.
    var_change : float
        :math:`\mathrm{Var}(g) + \mathrm{Var}(e)`, variance of one change in log size.
    session_shift_sd : float
        SD of the population-wide change :math:`\delta_t` of each interval.
    absent_probability : float
        Probability that a spine is missing (NaN) in a session, independently.
    random_seed : int
        Seed.

    Returns
    -------
    dataset : xarray.Dataset
        Time series in the :mod:`spinefit.io.two_photon` layout with a ``dendrite_id``
        coord on ``spine``.
    truth : dict
        ``shared_fraction``, ``group_shared_fraction`` (the same number, under the name
        the model reports), ``group_unshared_fraction``, ``var_group`` and
        ``var_synapse``.
    """
    _check_fraction("shared_fraction", shared_fraction)
    rng = np.random.default_rng(random_seed)
    n_spines = n_dendrites * spines_per_dendrite
    dendrite = np.repeat(np.arange(n_dendrites), spines_per_dendrite)
    var_group = shared_fraction * var_change
    var_synapse = var_change - var_group
    n_intervals = n_sessions - 1
    session_shift = rng.normal(0.0, session_shift_sd, n_intervals)
    group_change = rng.normal(0.0, np.sqrt(var_group), (n_dendrites, n_intervals))
    own_change = rng.normal(0.0, np.sqrt(var_synapse), (n_spines, n_intervals))
    changes = session_shift[None, :] + group_change[dendrite] + own_change
    start = rng.normal(0.0, 0.5, n_spines)
    log_volume = np.concatenate([start[:, None], start[:, None] + np.cumsum(changes, 1)], 1)
    volume = np.exp(log_volume)
    volume[rng.random(volume.shape) < absent_probability] = np.nan
    # Every spine keeps at least one session, as the readers guarantee.
    volume[np.isnan(volume).all(1), 0] = np.exp(start[np.isnan(volume).all(1)])

    report = IngestionReport(
        source=f"simulate_shared_changes(seed={random_seed})", rows_read=n_spines
    )
    report.rows_kept = n_spines
    dataset = xr.Dataset(
        {
            dims.VOLUME: (
                (dims.SPINE, dims.SESSION),
                volume,
                {"units": dims.DEFAULT_VOLUME_UNITS, "long_name": "spine volume"},
            )
        },
        coords={
            dims.SPINE: (dims.SPINE, np.array([f"s{i:04d}" for i in range(n_spines)])),
            dims.SESSION: (dims.SESSION, np.arange(n_sessions, dtype=np.int64)),
            dims.TIME_DAYS: (
                dims.SESSION,
                interval_days * np.arange(n_sessions, dtype=float),
                {"units": dims.DAY},
            ),
            dims.DENDRITE_ID: (dims.SPINE, np.array([f"d{k}" for k in dendrite])),
        },
        attrs={
            dims.ATTR_SOURCE: report.source,
            dims.ATTR_CONTENT_HASH: "sha256:"
            + hashlib.sha256(np.nan_to_num(volume).tobytes()).hexdigest(),
            dims.ATTR_VERSION: __version__,
            dims.ATTR_DATA_KIND: dims.KIND_TIME_SERIES,
            dims.ATTR_INGESTION_REPORT: report.to_json(),
        },
    )
    truth = {
        "shared_fraction": shared_fraction,
        "group_shared_fraction": shared_fraction,
        "group_unshared_fraction": 1.0 - shared_fraction,
        "var_group": var_group,
        "var_synapse": var_synapse,
    }
    return dataset, truth


def intrinsic_fraction_curve(
    control: dict[str, float], silenced: dict[str, float], w: np.ndarray
) -> np.ndarray:
    r"""Return :math:`(c_s + d_s w^2)/(c_c + d_c w^2)` for parameter dicts with ``c``, ``d``."""
    w = np.asarray(w, dtype=float)
    return (silenced["c"] + silenced["d"] * w**2) / (control["c"] + control["d"] * w**2)


def simulate_silenced_control(
    *,
    control: dict[str, float] | None = None,
    silenced: dict[str, float] | None = None,
    n_spines: int = 150,
    times_days: Sequence[float] = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0),
    control_label: str = "control",
    silenced_label: str = "silenced",
    random_seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    r"""Simulate control and silenced spines with known drift and diffusion.

    Parameters
    ----------
    control, silenced : dict, optional
        ``{"a", "b", "c", "d"}`` of :math:`dw = (a + b w)dt + \sqrt{c + d w^2}\,dB` per
        treatment. Defaults: silenced noise is 60% of control noise at every size.
    n_spines : int
        Sites per treatment.
    times_days : sequence of float
        Imaging times.
    control_label, silenced_label : str
        Values of the ``treatment`` coord.
    random_seed : int
        Seed; the silenced group uses ``random_seed + 1``.

    Returns
    -------
    dataset : xarray.Dataset
        Both groups concatenated along ``spine``, with a ``treatment`` coord.
    truth : dict
        ``control``, ``silenced`` (parameter dicts) and ``labels``.
    """
    control = control or {"a": 0.2, "b": -0.2, "c": 0.002, "d": 0.05}
    silenced = silenced or {"a": 0.2, "b": -0.2, "c": 0.0012, "d": 0.03}
    groups = []
    for k, (label, params) in enumerate(((control_label, control), (silenced_label, silenced))):
        groups.append(
            simulate_particles(
                params["a"],
                params["b"],
                params["c"],
                params["d"],
                n_spines=n_spines,
                times_days=times_days,
                dt=0.02,
                threshold=-np.inf,
                new_size_mu=0.0,
                new_size_sigma=0.3,
                burn_in_days=20.0,
                random_seed=random_seed + k,
                labels={dims.TREATMENT: label},
                spine_id_prefix=f"{label[:1]}",
            )
        )
    dataset = xr.concat(groups, dim=dims.SPINE, combine_attrs="override")
    dataset.attrs[dims.ATTR_SOURCE] = f"simulate_silenced_control(seed={random_seed})"
    truth = {
        "control": dict(control),
        "silenced": dict(silenced),
        "labels": (control_label, silenced_label),
    }
    return dataset, truth
