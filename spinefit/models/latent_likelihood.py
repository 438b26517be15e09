r"""Likelihood of spine time series as a killed, noisy latent size process.

Each spine's true size :math:`x_t` (units of :math:`s`, the median observed size) follows
the killed SDE of :mod:`spinefit.models.killed_grid`; a spine is present at a session
exactly when it is alive, and its observed size is :math:`y = x e^{\varepsilon}`,
:math:`\varepsilon \sim N(0, \tau^2)` (or :math:`y = x + \varepsilon` with additive noise).
The latent sizes are summed out with the forward algorithm over the grid's live nodes, one
session at a time for all spines of an imaging block:

* present at the first session: :math:`x_0` has the stationary law of live spines and the
  likelihood is conditioned on :math:`y_0` (the first size informs the dynamics only
  through :math:`x_0 \mid y_0`);
* present → present: the transition density jointly with survival of the interval;
* present → absent: the probability of being killed within the interval (through the
  threshold at any time, or by the loss hazard);
* absent → present: a spine born at a uniform time within the interval with the birth-size
  law, propagated with killing, conditioned on having survived to the session;
* the last session right-censors: nothing is said about what follows.

Cost per likelihood evaluation: one G×G symmetric eigendecomposition, one G×G propagator
per distinct interval, and one (spines × G) @ (G × G) product per session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import gammaln

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.transitions import imaging_blocks
from spinefit.models.killed_grid import (
    NUMPY,
    GridOperator,
    emission_sd,
    log_emission,
    normal_sf,
)

TOP_MARGIN = 0.7
"""Log-size margin between the largest observed size and the reflecting top of the grid."""

NOISE_MODELS = ("multiplicative", "additive")
MEASUREMENT_ERRORS = ("none", "column")
"""``-o measurement_error``: none, or the data's ``volume_se`` column (known errors)."""


def known_errors(config: dict[str, Any]) -> bool:
    """Return True when a model config asks for the data's per-observation errors.

    Raises
    ------
    ConfigError
        If ``measurement_error`` is not one of :data:`MEASUREMENT_ERRORS`.
    """
    value = str(config.get("measurement_error", "none"))
    if value not in MEASUREMENT_ERRORS:
        raise ConfigError(
            f"unknown measurement_error '{value}'; choose one of {', '.join(MEASUREMENT_ERRORS)}"
        )
    return value == "column"


def resolve_detection_limit(config: dict[str, Any], data: xr.Dataset) -> None:
    """Replace a latent config's ``detection_limit="auto"`` by the data's limit, in place.

    The data's limit is its ``detection_limit`` attr (:data:`spinefit.dims.ATTR_DETECTION_LIMIT`:
    a long table's ``detection_limit`` column, e.g. the volume at ``spinefit measure``'s
    presence cut); None when the data have none. A number or None is left as it is, so the
    call is idempotent and the saved config holds the limit the fit used.
    """
    if config.get("detection_limit") != "auto":
        return
    limit = data.attrs.get(dims.ATTR_DETECTION_LIMIT)
    config["detection_limit"] = None if limit is None else float(limit)


def gap_cells(present: np.ndarray) -> np.ndarray:
    """Return the absent cells between two sightings of a spine (spine × session, bool).

    With a detection limit such a cell is a living spine that was not seen.
    """
    seen_before = np.maximum.accumulate(present, axis=1)
    seen_after = np.maximum.accumulate(present[:, ::-1], axis=1)[:, ::-1]
    return seen_before & seen_after & ~present


@dataclass
class LatentBlock:
    """One imaging block (spines sharing their imaged sessions), prepared for the forward pass.

    Attributes
    ----------
    rows : ndarray (R,)
        Positions of the block's spines in the Dataset.
    present : ndarray (R, K) of bool
        Spine present at each imaged session.
    log_y : ndarray (R, K)
        Log observed size in units of s (0 where absent).
    interval_index : ndarray (K-1,)
        Index into ``intervals`` of each session-to-session interval.
    intervals : ndarray
        Distinct interval lengths in days.
    log_jacobian_rows : ndarray (R,)
        Per spine, the change of variables from log y / s (or y / s) to data units of the
        scored observations.
    present_start, formed : ndarray (K-1,)
        Spines present at the start of each interval, and spines formed within it.
    first_seen : ndarray (K-1,)
        Spines seen for the first time at the end of each interval (formations when a
        detection limit makes a gap an unseen, living spine).
    entry_interval : ndarray (R,) of int
        Per spine, the index into ``intervals`` of the interval that ends at its first
        sighting; -1 for spines seen at the first session (whose size is conditioned on).
    extra_var : ndarray (R, K)
        Known per-observation noise variance (log size, or units of s² for additive
        noise), added to τ²; 0 where none is given.
    """

    rows: np.ndarray
    present: np.ndarray
    log_y: np.ndarray
    interval_index: np.ndarray
    intervals: np.ndarray
    extra_var: np.ndarray | None = None
    log_jacobian_rows: np.ndarray = field(init=False)
    present_start: np.ndarray = field(init=False)
    formed: np.ndarray = field(init=False)
    first_seen: np.ndarray = field(init=False)
    entry_interval: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.extra_var is None:
            self.extra_var = np.zeros(self.present.shape)
        start, end = self.present[:, :-1], self.present[:, 1:]
        self.log_jacobian_rows = np.zeros(self.present.shape[0])
        self.present_start = start.sum(axis=0)
        self.formed = (~start & end).sum(axis=0)
        seen_before = np.maximum.accumulate(self.present, axis=1)[:, :-1]
        self.first_seen = (~seen_before & end).sum(axis=0)
        first = np.argmax(self.present, axis=1)
        index = np.asarray(self.interval_index, dtype=np.int64)
        self.entry_interval = np.where(first > 0, index[np.maximum(first - 1, 0)], -1)

    @property
    def scored(self) -> np.ndarray:
        """Observations whose density enters the likelihood (R, K).

        All present ones but the first session's (conditioned on).
        """
        scored = self.present.copy()
        scored[:, 0] = False
        return scored


@dataclass
class LatentData:
    """A time series prepared for the latent-process likelihood.

    Attributes
    ----------
    blocks : list of LatentBlock
    scale : float
        s, the median observed size (data units).
    log_top : float
        Log of the top grid node (units of s).
    log_min_observed : float
        Log of the smallest observed size (units of s).
    n_spines : int
        Spines in the Dataset.
    log_jacobian : float
        Sum over scored observations of the change of variables to data units.
    new_log_sizes : ndarray
        Log first sizes (units of s) of spines that appeared after the first session.
    """

    blocks: list[LatentBlock]
    scale: float
    log_top: float
    log_min_observed: float
    n_spines: int
    noise: str
    log_jacobian: float
    new_log_sizes: np.ndarray
    median_interval: float

    @property
    def birth_prior_centre(self) -> float:
        """Centre of the birth law's log-mean prior (units of s).

        The mean log first size of new spines, or 0.5 above the smallest observed size when
        fewer than 3 spines appeared.
        """
        new = self.new_log_sizes
        return float(np.mean(new)) if new.size >= 3 else self.log_min_observed + 0.5


def prepare_latent(
    data: xr.Dataset,
    noise: str = "multiplicative",
    *,
    scale: float | None = None,
    log_top: float | None = None,
    measurement_error: bool = False,
) -> LatentData:
    """Split a time series into imaging blocks with log sizes in units of the median size.

    Parameters
    ----------
    data : xarray.Dataset
        A time series (``volume(spine, session)``, NaN where absent).
    noise : {"multiplicative", "additive"}
        Measurement-noise model (sets the change of variables to data units).
    scale, log_top : float, optional
        Size unit s and log grid top to use instead of this data's own (so that parts of
        one data set, e.g. conditions, share one grid).
    measurement_error : bool
        Use the Dataset's known per-observation errors: their variance (of log y,
        ≈ (se / y)², or of y / s) is added to τ². Unknown (NaN) errors add 0. The part
        independent between sessions (``volume_se_session``) is used where known, else
        ``volume_se`` (so files combined with and without it each give theirs): the
        likelihood treats a spine's errors as independent between sessions, and a bias
        that persists does not enter its changes.

    Returns
    -------
    LatentData

    Raises
    ------
    DataError
        If fewer than 5 spine-sessions are present or no spine is seen twice, or if
        ``measurement_error`` is set and the data have neither standard-error column.
    """
    volume = data[dims.VOLUME].to_numpy()
    se_all = None
    if measurement_error:
        se_all = _known_errors(data)
    present_all = np.isfinite(volume) & (volume > 0)
    if present_all.sum() < 5:
        raise DataError(
            f"only {int(present_all.sum())} present spine-sessions; the drift-diffusion "
            "model needs at least 5",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    scale = float(np.median(volume[present_all])) if scale is None else float(scale)
    blocks, new_sizes, jacobian = [], [], 0.0
    for rows, block_volume, times in imaging_blocks(data):
        present = np.isfinite(block_volume)
        if present.shape[1] < 2 or not present.any():
            continue
        log_y = np.where(present, np.log(np.where(present, block_volume, 1.0) / scale), 0.0)
        dt = np.diff(times)
        intervals, interval_index = np.unique(np.round(dt, 9), return_inverse=True)
        extra = None
        if se_all is not None:
            extra = _known_variance(se_all, rows, times, data, block_volume, scale, noise)
        block = LatentBlock(rows, present, log_y, interval_index.reshape(-1), intervals, extra)
        blocks.append(block)
        scored = block.scored
        if noise == "additive":
            block.log_jacobian_rows = -scored.sum(axis=1) * np.log(scale)
        else:
            block.log_jacobian_rows = -np.where(
                scored, np.log(np.where(scored, block_volume, 1.0)), 0.0
            ).sum(axis=1)
        jacobian += float(block.log_jacobian_rows.sum())
        born = present[:, 1:] & ~present[:, :-1]
        new_sizes.append(log_y[:, 1:][born])
    if not blocks:
        raise DataError(
            "no spine was imaged in two sessions; the drift-diffusion model needs time series",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    sizes = volume[present_all] / scale
    dts = np.diff(np.unique(data[dims.TIME_DAYS].to_numpy()))
    return LatentData(
        blocks=blocks,
        scale=scale,
        log_top=float(np.log(sizes.max()) + TOP_MARGIN) if log_top is None else float(log_top),
        log_min_observed=float(np.log(sizes.min())),
        n_spines=int(volume.shape[0]),
        noise=noise,
        log_jacobian=float(jacobian),
        new_log_sizes=np.concatenate(new_sizes),
        median_interval=float(np.median(dts)) if dts.size else 1.0,
    )


def prepare_for_config(data: xr.Dataset, config: dict[str, Any]) -> LatentData:
    """:func:`prepare_latent` with a model config's options.

    ``noise``, ``measurement_error``, the size unit of ``prior_scales`` and ``grid_top``
    (the reflecting top of the grid in volume units; default 0.7 in log size above the
    largest observed size), so that the fit, its checks and its report use one grid.
    """
    prior = config.get("prior_scales") or {}
    ld = prepare_latent(
        data,
        config.get("noise", "multiplicative"),
        scale=prior.get("size"),
        measurement_error=known_errors(config),
    )
    top = config.get("grid_top")
    if top is not None:
        ld.log_top = float(np.log(float(top) / ld.scale))
    return ld


def _known_errors(data: xr.Dataset) -> np.ndarray:
    """Return each observation's standard error for ``measurement_error=column``.

    ``volume_se_session`` where it is known, else ``volume_se``; NaN where neither is.

    Raises
    ------
    DataError
        If the data have neither column.
    """
    names = [name for name in (dims.VOLUME_SE_SESSION, dims.VOLUME_SE) if name in data]
    if not names:
        raise DataError(
            "measurement_error=column needs a volume_se column (per-observation "
            "standard errors, e.g. from spinefit measure)",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    errors = data[names[0]].to_numpy().astype(float)
    for name in names[1:]:
        fallback = data[name].to_numpy().astype(float)
        errors = np.where(np.isfinite(errors), errors, fallback)
    return errors


def _known_variance(se_all, rows, times, data, block_volume, scale, noise) -> np.ndarray:
    """Known noise variance of a block's observations from their standard errors."""
    sessions = np.searchsorted(data[dims.TIME_DAYS].to_numpy(), times)
    se = se_all[np.ix_(rows, sessions)]
    present = np.isfinite(block_volume)
    if noise == "additive":
        relative = se / scale
    else:
        relative = se / np.where(present, block_volume, 1.0)
    return np.where(present & np.isfinite(relative), relative**2, 0.0)


@dataclass
class Dynamics:
    """Per-parameter-draw quantities shared by every block: grid, laws and interval operators.

    Attributes
    ----------
    op : GridOperator
    initial : array (G,)
        Stationary law of live spines, in β coordinates, normalised.
    birth : array (G,)
        Birth-size law in β coordinates (probabilities ÷ Δ).
    noise_sd : scalar
        τ (multiplicative) or the additive SD in units of s.
    """

    op: GridOperator
    initial: Any
    birth: Any
    noise_sd: Any
    _cache: dict = field(default_factory=dict)

    def interval(self, t: float) -> tuple[Any, Any, Any, Any]:
        """Return the operators of an interval of t days.

        The propagator, the killing probability, the born-within law (normalised) and the
        log survival of a spine born within the interval.
        """
        key = float(t)
        if key not in self._cache:
            op = self.op
            born = op.born_within(self.birth, t)
            survival = op.total(born)
            self._cache[key] = (
                op.propagator(t),
                op.killed_within(t),
                born / survival,
                op.xp.log(survival),
            )
        return self._cache[key]

    def intervals(self, t) -> tuple[Any, Any, Any, Any]:
        """Return the operators of :meth:`interval` for a vector of I interval lengths at once.

        Shapes (I, G, G), (I, G), (I, G) and (I,): one graph node each, whatever I is, so
        the lengths may be a data container (``spinefit.sampling.compiled_cache.data``).
        """
        op = self.op
        born = op.born_within(self.birth, t)
        survival = born @ op.delta
        return (
            op.propagator(t),
            op.killed_within(t),
            born / survival[:, None],
            op.xp.log(survival),
        )


def dynamics(op: GridOperator, birth_nodes, noise_sd) -> Dynamics:
    """Return the :class:`Dynamics` of a grid with a birth-size law on its nodes."""
    birth = birth_nodes / op.delta
    initial = op.occupation(birth)
    initial = initial / op.total(initial)
    return Dynamics(op=op, initial=initial, birth=birth, noise_sd=noise_sd)


def forward(
    dyn: Dynamics, block: LatentBlock, noise: str = "multiplicative", *, pit: bool = False
) -> tuple[Any, Any] | tuple[Any, Any, np.ndarray]:
    """Run the forward algorithm over one block; return per-spine log-likelihoods.

    Parameters
    ----------
    dyn : Dynamics
        Grid and laws of one parameter value (numpy or PyTensor).
    block : LatentBlock
        The block's data.
    noise : {"multiplicative", "additive"}
        Measurement-noise model.
    pit : bool
        Numpy only: also return the probability integral transform of every present →
        present observation under its one-step predictive distribution.

    Returns
    -------
    log_lik : array (R,)
        Per-spine log-likelihood of everything after the first session (log density of
        log y / s for multiplicative noise, of y / s for additive noise; add
        :attr:`LatentData.log_jacobian` for densities in data units).
    log_survival_birth : list
        Log survival of a spine born within each interval (for the formation counts).
    pit_values : ndarray, optional
        PIT values (NaN where not a present → present observation).
    """
    op, xp = dyn.op, dyn.op.xp
    n_rows, n_sessions = block.present.shape
    present = block.present
    # Only the spines present at a session carry a distribution, kept as a compact
    # (present spines × nodes) array in row order: the propagation then costs
    # (spines present) × G² per session, and the emission (one erfc per grid edge and
    # observation, the costliest part) is computed for present observations only.
    obs_index = np.full(present.shape, -1)
    obs_index[present] = np.arange(int(present.sum()))
    noise_sd = dyn.noise_sd
    if np.any(block.extra_var[present] > 0):
        noise_sd = xp.sqrt(dyn.noise_sd**2 + block.extra_var[present])
    log_e = log_emission(op, block.log_y[present], noise_sd, noise)
    delta = op.delta

    def weighted(log_e_rows, candidate):
        peak = log_e_rows.max(axis=1, keepdims=True)
        new = candidate * xp.exp(log_e_rows - peak)
        mass = new @ delta
        log_mass = xp.log(xp.maximum(mass, 1e-300)) + peak[:, 0]
        return new / xp.maximum(mass, 1e-300)[:, None], log_mass

    rows = np.flatnonzero(present[:, 0])
    beta, _ = weighted(log_e[obs_index[rows, 0]], dyn.initial[None, :] + 0.0 * log_e[:1])
    parts, part_rows = [], []  # log-likelihood terms and the rows they belong to
    log_survival_birth = []
    pit_values = np.full((n_rows, n_sessions), np.nan) if pit else None
    for k in range(1, n_sessions):
        propagator, killed, born_law, log_survival = dyn.interval(
            block.intervals[block.interval_index[k - 1]]
        )
        log_survival_birth.append(log_survival)
        now = present[rows, k]  # of the spines present at k-1
        stay_pos, gone_pos = np.flatnonzero(now), np.flatnonzero(~now)
        born_rows = np.flatnonzero(~present[:, k - 1] & present[:, k])
        if gone_pos.size:
            p_killed = (beta[gone_pos] * delta) @ killed
            parts.append(xp.log(xp.maximum(p_killed, 1e-300)))
            part_rows.append(rows[gone_pos])
        predicted = beta[stay_pos] @ propagator
        new_rows = np.concatenate([rows[stay_pos], born_rows])
        if new_rows.size == 0:
            rows, beta = new_rows, beta[:0]
            continue
        candidate = xp.concatenate(
            [predicted, born_law[None, :] + 0.0 * log_e[: born_rows.size]], axis=0
        )
        if pit and stay_pos.size:
            pit_values[rows[stay_pos], k] = _pit(
                op,
                predicted,
                block.log_y[rows[stay_pos], k],
                np.sqrt(dyn.noise_sd**2 + block.extra_var[rows[stay_pos], k]),
                noise,
            )
        new_beta, log_mass = weighted(log_e[obs_index[new_rows, k]], candidate)
        parts.append(log_mass)
        part_rows.append(new_rows)
        order = np.argsort(new_rows)
        rows, beta = new_rows[order], new_beta[order]
    log_lik = _per_row(xp, parts, part_rows, n_rows)
    if pit:
        return log_lik, log_survival_birth, pit_values
    return log_lik, log_survival_birth


def _per_row(xp, parts: list, part_rows: list[np.ndarray], n_rows: int):
    """Sum log-likelihood terms into one value per row (spine)."""
    if not parts:
        return np.zeros(n_rows) if xp is NUMPY else xp.zeros(n_rows)
    values = xp.concatenate(parts)
    index = np.concatenate(part_rows)
    if xp is NUMPY:
        out = np.zeros(n_rows)
        np.add.at(out, index, values)
        return out
    import pytensor.tensor as pt

    return pt.inc_subtensor(pt.zeros(n_rows)[index], values)


def _normal_partial_integral(u):
    """Antiderivative of the standard normal CDF: u Φ(u) + φ(u)."""
    return u * (1.0 - normal_sf(u)) + np.exp(-0.5 * u**2) / np.sqrt(2.0 * np.pi)


def _pit(op: GridOperator, candidate, log_y, noise_sd, noise: str) -> np.ndarray:
    """Predictive CDF at each observation given its predicted latent law (numpy)."""
    sd = emission_sd(np.asarray(noise_sd), op.h, noise == "additive")
    sd = sd[:, None] if sd.ndim == 1 else sd
    weights = candidate * op.delta
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    ly = log_y[:, None]
    if noise == "additive":
        y = np.exp(ly)
        lo, hi = np.exp(op.z - 0.5 * op.h), np.exp(op.z + 0.5 * op.h)
        cdf = (sd / (hi - lo)) * (
            _normal_partial_integral((y - lo) / sd) - _normal_partial_integral((y - hi) / sd)
        )
    else:
        cdf = (sd / op.h) * (
            _normal_partial_integral((ly - op.z + 0.5 * op.h) / sd)
            - _normal_partial_integral((ly - op.z - 0.5 * op.h) / sd)
        )
    return np.clip((weights * cdf).sum(axis=1), 0.0, 1.0)


def formation_terms(block: LatentBlock, detection: bool = False) -> dict[str, Any]:
    """Return the data of a block's formation counts, per session interval.

    ``log_exposure`` (log of spines present at the start × days), ``counts`` (spines
    formed; with ``detection``, spines seen for the first time, a return after a gap being
    no formation) and ``log_factorial`` (the sum of log counts!, a constant of the
    likelihood).
    """
    dt = block.intervals[block.interval_index]
    exposure = np.maximum(block.present_start * dt, 1e-12)
    counts = (block.first_seen if detection else block.formed).astype(float)
    return {
        "log_exposure": np.log(exposure),
        "counts": counts,
        "log_factorial": float(np.sum(gammaln(counts + 1))),
    }


def formation_log_likelihood(
    block: LatentBlock,
    log_survival_birth,
    birth_rate,
    xp=NUMPY,
    dispersion=None,
    terms: dict[str, Any] | None = None,
):
    r"""Log-likelihood of the spines formed in each interval of a block.

    Births above threshold occur at ``birth_rate`` per present spine per day; a spine born
    within an interval is seen at its end only if it survives, so the expected count is
    :math:`m = \lambda_b n \Delta t\, S_b(\Delta t)`. The counts are Poisson with mean
    :math:`m`, or, given ``dispersion`` :math:`\alpha`, negative binomial with mean
    :math:`m` and variance :math:`m + m^2/\alpha` (overdispersed counts).

    ``log_survival_birth`` holds one value per session interval (a list or an array);
    ``terms`` replaces :func:`formation_terms` of the block (e.g. by data containers).
    """
    terms = formation_terms(block) if terms is None else terms
    if isinstance(log_survival_birth, list):
        log_survival_birth = xp.stack(log_survival_birth) if log_survival_birth else xp.zeros(0)
    log_mean = xp.log(birth_rate) + terms["log_exposure"] + log_survival_birth
    counts = terms["counts"]
    constant = terms["log_factorial"]
    if dispersion is None:
        return xp.sum(counts * log_mean - xp.exp(log_mean)) - constant
    alpha = dispersion
    log_total = xp.log(alpha + xp.exp(log_mean))
    return (
        xp.sum(
            xp.gammaln(counts + alpha)
            - xp.gammaln(alpha)
            + alpha * (xp.log(alpha) - log_total)
            + counts * (log_mean - log_total)
        )
        - constant
    )
