r"""Split synapse-size variance into a part shared within a connection (or group) and the rest.

Dvorkin & Ziv (2016, PLoS Biol 14:e1002572) reasoned that synapses sharing both the axon
and the postsynaptic neuron ("commonly innervated", CI) share their activity history, so
the covariance of their sizes, beyond that of pairs sharing only the axon or only the
dendrite, bounds the history-dependent share of size variation.

Design 1, ``design="shared"`` (default)
---------------------------------------
*Snapshot (ssEM) data.* With :math:`y_i = \ln w_i`,

.. math::

    y_i = \mu + u^{\mathrm{pre}}_{p(i)} + u^{\mathrm{post}}_{q(i)} + u_{c(i)} + e_i,\qquad
    u_c \sim \mathcal N(0, V_c),\ e_i \sim \mathcal N(0, V_e),

where :math:`c(i)` is the synapse's connection (or the ``group_by`` column) and the
baseline effects of the presynaptic (:math:`p`) and postsynaptic (:math:`q`) cell are
included when other connections share those cells (``baselines="auto"``). Reported:

- ``connection_shared_fraction`` :math:`= V_c / (V_c + V_e)` (``group_shared_fraction``
  when grouped by another column), the correlation of the log sizes of two synapses of
  one connection beyond what their cells alone give, and its complement
  ``connection_unshared_fraction``;
- ``corr_same_axon`` :math:`= V_{\mathrm{pre}}/V`, ``corr_same_dendrite``
  :math:`= V_{\mathrm{post}}/V`, ``corr_commonly_innervated``
  :math:`= (V_{\mathrm{pre}} + V_{\mathrm{post}} + V_c)/V` and the CI excess over the
  baselines ``ci_excess`` :math:`= V_c/V` (:math:`V` the total variance).

Every connection is used: singles inform :math:`V_c + V_e`, multiples inform the split.

What the shared fraction includes
---------------------------------
:math:`V_c` is everything that two synapses of one connection have in common beyond
their two cells' baselines: shared activity history (Hebbian plasticity), but also
shared factors with nothing to do with activity (the same dendritic branch and its
local resources, distance from the soma, the same axonal bouton type, a common
segmentation or imaging context). These bias the fraction *up* as a measure of
activity dependence. Measurement and segmentation error of each synapse falls into
:math:`V_e` and biases it *down*. Cell baselines the model cannot separate (a
connection whose cells make no other connection, or ``baselines="off"``) fall into
:math:`V_c` and bias it *up*. The two directions do not cancel in any known proportion,
so the fraction is neither an upper nor a lower bound on an activity-dependent share;
hence the name, which says what is shared, not why.

*Time-series data.* The same decomposition applied to changes of log size between
consecutive sessions in which the spine is present in both,

.. math::

    \Delta_{i,t} = \delta_t + g_{k(i),t} + e_{i,t},\qquad
    g \sim \mathcal N(0, V_g),\ e \sim \mathcal N(0, V_e),

with :math:`k(i)` the spine's group (``dendrite_id`` by default) and :math:`\delta_t` the
population-wide change of interval :math:`t`. ``group_shared_fraction``
:math:`= V_g/(V_g + V_e)` is the shared fraction of change variance.

Priors
------
Priors are placed on the reported fractions directly: the shared fraction
:math:`f \sim \mathrm{Beta}(1, 1)` (uniform); with baselines, the baseline fraction
:math:`b = (V_{\mathrm{pre}} + V_{\mathrm{post}})/V \sim \mathrm{Beta}(1, 1)` and the
axon's part of it :math:`a = V_{\mathrm{pre}}/(V_{\mathrm{pre}} + V_{\mathrm{post}}) \sim
\mathrm{Beta}(1, 1)`; the total SD :math:`\sqrt V \sim` HalfNormal (scale 2·SD of the
data). Then :math:`V_{\mathrm{pre}} = V b a`, :math:`V_{\mathrm{post}} = V b (1 - a)`,
:math:`V_c = V (1 - b) f`, :math:`V_e = V (1 - b)(1 - f)`. Five reported correlations are
functions of three free fractions, so they cannot all have uniform priors: the implied
prior of every reported quantity (e.g. ``ci_excess`` :math:`= (1-b) f`, prior mean 1/4)
is drawn with :func:`pymc.sample_prior_predictive`, stored in the result's ``prior``
group and shown next to its posterior in the summary and the report. (The earlier flat
Dirichlet over the four variances implied ``corr_commonly_innervated`` ~ Beta(3, 1).)

Renamed quantities
------------------
``activity_dependent_fraction`` and ``activity_independent_fraction`` claimed more than
the quantity measures; they are now ``connection_shared_fraction`` /
``connection_unshared_fraction`` (or ``group_...``). For one release the summary lists
the old names under ``deprecated_aliases`` and results saved under the old names are
read with a :class:`DeprecationWarning`.

Design 2, ``design="silenced"``
-------------------------------
Silenced vs control drift–diffusion fits; see
:mod:`spinefit.models.variance_split_silenced`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.families import family_from_config
from spinefit.io.transitions import transitions
from spinefit.models import variance_split_silenced as silenced
from spinefit.models.base import SamplerSettings, SpineModel, one_blas_thread
from spinefit.models.prior_scales import (
    LOCATION_SCALE_KEYS,
    check_prior_scales,
    location_and_scale,
)
from spinefit.results.names import DATA_GROUP
from spinefit.sampling.compiled_cache import data as data_or_value
from spinefit.stats import parameter_stats, stats_of

if TYPE_CHECKING:
    from spinefit.families.base import SDEFamily

DESIGNS = ("shared", "silenced")
BASELINE_OPTIONS = ("auto", "on", "off")
PRE_CELL, POST_CELL = dims.PRE_CELL, dims.POST_CELL
INTERVAL = dims.INTERVAL
PRE_ID, POST_ID, SIZE_VARIABLE = "pre_id", "post_id", "size_variable"

_GROUP_DIMS = {dims.CONNECTION: dims.CONNECTION, dims.DENDRITE_ID: dims.DENDRITE}


PRIOR_GROUP = "prior"
"""DataTree group with prior draws of every reported quantity."""
PRIOR_DRAWS = 2000
"""Prior draws stored per fit (the implied priors are cheap: no likelihood is evaluated)."""
BASELINE_FRACTION = "baseline_fraction"
AXON_SHARE = "axon_share_of_baseline"
DEPRECATED_ALIASES = {
    "activity_dependent_fraction": "shared",
    "activity_independent_fraction": "unshared",
}
"""Old names of the fractions (kept for one release) and which new name they map to."""


def fraction_names(group_by: str) -> tuple[str, str]:
    """Return the names of the shared fraction and its complement for a grouping.

    ``connection_shared_fraction`` / ``connection_unshared_fraction`` when synapses are
    grouped by connection, ``group_shared_fraction`` / ``group_unshared_fraction``
    otherwise (dendrite, any ``--by`` label): the name says what is shared, not why.
    """
    prefix = "connection" if group_by == dims.CONNECTION else "group"
    return f"{prefix}_shared_fraction", f"{prefix}_unshared_fraction"


def deprecated_aliases(group_by: str) -> dict[str, str]:
    """Return ``{old name: new name}`` of the renamed fractions for a grouping."""
    shared, unshared = fraction_names(group_by)
    new = {"shared": shared, "unshared": unshared}
    return {old: new[kind] for old, kind in DEPRECATED_ALIASES.items()}


def upgrade_posterior(posterior: xr.Dataset, group_by: str) -> xr.Dataset:
    """Return a posterior with the old fraction names of an older result renamed.

    Warns with :class:`DeprecationWarning` when the old names are found, so scripts that
    read results saved by earlier versions keep working for one release.
    """
    old = {k: v for k, v in deprecated_aliases(group_by).items() if k in posterior}
    if not old:
        return posterior
    warnings.warn(
        f"result uses the deprecated name(s) {sorted(old)}; read as {sorted(old.values())} "
        "(the old names will not be read by the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    return posterior.rename(old)


def group_dim(group_by: str) -> str:
    """Return the dim name of the group effects for a ``group_by`` column."""
    return _GROUP_DIMS.get(group_by, group_by)


def group_variance_name(group_by: str) -> str:
    """Return the posterior name of the group variance (``var_connection``, ...)."""
    return f"var_{group_dim(group_by)}"


def log_sizes(data: xr.Dataset) -> tuple[np.ndarray, str, str]:
    """Return natural-log sizes of a snapshot, the size variable and its units."""
    name = data.attrs.get(SIZE_VARIABLE) or next(iter(data.data_vars))
    values = data[name].values.astype(float)
    if not np.all(np.isfinite(values) & (values > 0)):
        raise DataError(
            f"sizes in '{name}' must be positive and finite",
            source=data.attrs.get(dims.ATTR_SOURCE),
        )
    return np.log(values), name, data[name].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)


def log_changes(data: xr.Dataset, group_by: str) -> pd.DataFrame:
    """Return Δ ln w between consecutive sessions, with the group and interval of each.

    Returns
    -------
    pandas.DataFrame
        Columns ``change`` (Δ ln w), ``group`` (label), ``interval`` (index of the earlier
        session in time order), ``spine`` (spine id).
    """
    if group_by not in data.coords:
        raise ConfigError(
            f"group_by='{group_by}' is not a label of the data; "
            f"available: {sorted(c for c in data.coords if data[c].dims == (dims.SPINE,))}"
        )
    trans = transitions(data)
    spine_index = trans["spine_index"].values
    return pd.DataFrame(
        {
            "change": np.log(trans["w_end"].values) - np.log(trans["w_start"].values),
            "group": data[group_by].values.astype(str)[spine_index],
            "interval": trans["session_start"].values,
            "spine": trans[dims.SPINE_ID].values.astype(str),
        }
    )


def empirical_pair_correlations(
    y: np.ndarray, connection: np.ndarray, pre: np.ndarray, post: np.ndarray
) -> dict[str, dict[str, float]]:
    """Pearson correlation of log sizes over synapse pairs of each kind (no model).

    Kinds: ``commonly_innervated`` (same connection), ``same_axon`` (same presynaptic
    cell, different postsynaptic cell), ``same_dendrite`` (same postsynaptic cell,
    different presynaptic cell). Each unordered pair enters in both orders.

    Returns
    -------
    dict
        ``{kind: {"r": correlation, "pairs": number of unordered pairs}}``.
    """
    out = {}
    kinds = {
        "commonly_innervated": (connection, None),
        "same_axon": (pre, post),
        "same_dendrite": (post, pre),
    }
    for kind, (shared, differing) in kinds.items():
        first, second = [], []
        for members in pd.Series(np.arange(len(y))).groupby(shared).indices.values():
            if len(members) < 2:
                continue
            i, j = np.triu_indices(len(members), 1)
            i, j = members[i], members[j]
            if differing is not None:
                keep = differing[i] != differing[j]
                i, j = i[keep], j[keep]
            first.append(i)
            second.append(j)
        if not first or sum(len(f) for f in first) < 2:
            out[kind] = {"r": float("nan"), "pairs": 0}
            continue
        i, j = np.concatenate(first), np.concatenate(second)
        r = np.corrcoef(np.concatenate([y[i], y[j]]), np.concatenate([y[j], y[i]]))[0, 1]
        out[kind] = {"r": float(r), "pairs": int(len(i))}
    return out


def _variance_components(group_by: str, sd_y: float, baselines: bool) -> dict[str, Any]:
    """Add the total SD and the fraction priors; return the named variances.

    The shared fraction (and, with baselines, the baseline fraction and the axon's part
    of it) carry Beta(1, 1) priors themselves; the variances are derived from them (see
    the module docstring).
    """
    shared_name, unshared_name = fraction_names(group_by)
    sigma_total = pm.HalfNormal("sigma_total", 2.0 * sd_y)
    total = sigma_total**2
    shared = pm.Beta(shared_name, 1.0, 1.0)
    pm.Deterministic(unshared_name, 1.0 - shared)
    within = total
    var: dict[str, Any] = {}
    if baselines:
        baseline = pm.Beta(BASELINE_FRACTION, 1.0, 1.0)
        axon = pm.Beta(AXON_SHARE, 1.0, 1.0)
        var["var_pre"] = pm.Deterministic("var_pre", total * baseline * axon)
        var["var_post"] = pm.Deterministic("var_post", total * baseline * (1.0 - axon))
        within = total * (1.0 - baseline)
    var[group_variance_name(group_by)] = pm.Deterministic(
        group_variance_name(group_by), within * shared
    )
    var["var_synapse"] = pm.Deterministic("var_synapse", within * (1.0 - shared))
    return var


def grouped_normal_logp(value, mean, var_group, var_synapse, codes, counts):
    r"""Log-density of Gaussian data sharing a random group effect, the effect integrated out.

    Within a group of :math:`m` members the residuals :math:`r = y - \text{mean}` are
    normal with compound-symmetric covariance :math:`V_e I + V_g J`, whose log-density is

    .. math::

        -\tfrac12\Big[m\ln 2\pi + (m-1)\ln V_e + \ln(V_e + m V_g)
        + \big(\textstyle\sum r^2 - \frac{V_g}{V_e + m V_g}(\sum r)^2\big)/V_e\Big].

    Integrating the effects out exactly (instead of sampling one per group) removes the
    funnel between the group variance and thousands of single-member groups. Each member
    carries ``1/m`` of its group's log-density, so the sum is exact.
    """
    import pytensor.tensor as pt

    residual = value - mean
    sums = pt.inc_subtensor(pt.zeros(counts.size)[codes], residual)
    squares = pt.inc_subtensor(pt.zeros(counts.size)[codes], residual**2)
    scaled = var_synapse + counts * var_group
    group_logp = -0.5 * (
        counts * np.log(2 * np.pi)
        + (counts - 1) * pt.log(var_synapse)
        + pt.log(scaled)
        + (squares - var_group / scaled * sums**2) / var_synapse
    )
    return group_logp[codes] / counts[codes]


def grouped_normal_loglik(
    residual: np.ndarray, var_group: np.ndarray, var_synapse: np.ndarray, codes: np.ndarray
) -> np.ndarray:
    """NumPy twin of :func:`grouped_normal_logp`, summed per group, for many draws.

    Parameters
    ----------
    residual : numpy.ndarray
        ``(draws, n)`` data minus mean.
    var_group, var_synapse : numpy.ndarray
        ``(draws,)`` variance components.
    codes : numpy.ndarray
        ``(n,)`` group index of every member (0..G-1, every group non-empty).

    Returns
    -------
    numpy.ndarray
        ``(draws, G)`` log-density of every group's members jointly.
    """
    n_groups = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    sums = np.zeros((residual.shape[0], n_groups))
    squares = np.zeros_like(sums)
    np.add.at(sums.T, codes, residual.T)
    np.add.at(squares.T, codes, (residual**2).T)
    vg, ve = var_group[:, None], var_synapse[:, None]
    scaled = ve + counts * vg
    return -0.5 * (
        counts * np.log(2 * np.pi)
        + (counts - 1) * np.log(ve)
        + np.log(scaled)
        + (squares - vg / scaled * sums**2) / ve
    )


def _grouped_normal(name, mean, var_group, var_synapse, codes, observed, dim):
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes).astype(float)
    return pm.CustomDist(
        name,
        mean,
        var_group,
        var_synapse,
        logp=lambda value, m, vg, ve: grouped_normal_logp(value, m, vg, ve, codes, counts),
        observed=observed,
        dims=dim,
    )


class VarianceSplit(SpineModel):
    r"""Share of synapse-size variance common to one connection (or group), and the rest.

    Design 1 (``shared``) fits
    :math:`\ln w_i = \mu + u^{\mathrm{pre}} + u^{\mathrm{post}} + u_{c(i)} + e_i` on
    snapshots, or :math:`\Delta_{i,t} = \delta_t + g_{k(i),t} + e_{i,t}` on time series,
    and reports ``connection_shared_fraction`` :math:`= V_c/(V_c+V_e)` (or
    ``group_shared_fraction``) with a Beta(1, 1) prior on the fraction itself (Dvorkin &
    Ziv 2016, PLoS Biol 14:e1002572).
    Design 2 (``silenced``) fits per-treatment drift–diffusion models and reports
    :math:`\sigma^2_{\mathrm{silenced}}(w)/\sigma^2_{\mathrm{control}}(w)`.

    Parameters
    ----------
    config : dict, optional
        ``design`` ("shared" or "silenced"); ``group_by`` (grouping label; default
        ``connection`` for snapshots, ``dendrite_id`` for time series); ``baselines``
        ("auto", "on", "off": presynaptic/postsynaptic cell effects in snapshot fits
        grouped by connection); ``control_label``, ``silenced_label``; ``family`` (SDE
        family of the silenced design, default ``"linear"``; its own settings, e.g.
        ``n_basis``, are options too and are kept in ``family_options``); ``prior_scales``
        (shared design, snapshots: None to centre and scale the priors by the mean and SD
        of the log sizes, or ``{"mean": m, "sd": s}`` to use those, see
        :mod:`spinefit.models.prior_scales`).
    """

    name = "variance-split"
    data_kinds = (dims.KIND_SNAPSHOT, dims.KIND_TIME_SERIES)
    default_config: dict[str, Any] = {
        "design": "shared",
        "group_by": None,
        "baselines": "auto",
        "control_label": "control",
        "silenced_label": "silenced",
        "likelihood": "latent",
        "family": "linear",
        "family_options": {},
        "prior_scales": None,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config, _ = family_from_config(config)
        super().__init__(config)
        if self.config["design"] not in DESIGNS:
            raise ConfigError(
                f"unknown design '{self.config['design']}'; choose one of {', '.join(DESIGNS)}"
            )
        if self.config["likelihood"] not in ("latent", "moments"):
            raise ConfigError(
                "likelihood (silenced design) must be 'latent' (killed, noisy latent process) "
                "or 'moments'"
            )
        if self.config["baselines"] not in BASELINE_OPTIONS:
            raise ConfigError(
                f"baselines must be one of {', '.join(BASELINE_OPTIONS)}, "
                f"got '{self.config['baselines']}'"
            )
        if self.config["design"] == "silenced":
            silenced.check_family(self.config, self.family)
        elif self.family.name != "linear":
            raise ConfigError("family applies to the silenced design only (design='silenced')")
        prior = check_prior_scales(
            self.config["prior_scales"], LOCATION_SCALE_KEYS, signed=("mean",)
        )
        if prior and self.config["design"] != "shared":
            raise ConfigError("prior_scales applies to the shared design (snapshots) only")
        self.config["prior_scales"] = prior

    # -- specification -------------------------------------------------------------------
    @property
    def family(self) -> SDEFamily:
        """The SDE family of the silenced design, with the settings in the config.

        Read from the config each time, so that the data-dependent settings a build fills
        in (e.g. the spline knots) are those of the fitted family.
        """
        return silenced.silenced_family(self.config)

    def kind(self, data: xr.Dataset) -> str:
        """Return the data kind (snapshot or time series)."""
        return data.attrs.get(dims.ATTR_DATA_KIND, dims.KIND_TIME_SERIES)

    def group_by(self, data: xr.Dataset) -> str:
        """Return the grouping column, defaulting by data kind."""
        if self.config["group_by"]:
            return str(self.config["group_by"])
        return dims.CONNECTION if self.kind(data) == dims.KIND_SNAPSHOT else dims.DENDRITE_ID

    def uses_baselines(self, data: xr.Dataset) -> bool:
        """Return whether pre/post cell effects enter the snapshot model."""
        option = self.config["baselines"]
        if self.kind(data) != dims.KIND_SNAPSHOT or self.group_by(data) != dims.CONNECTION:
            if option == "on":
                raise ConfigError("baselines need snapshot data grouped by connection")
            return False
        if option != "auto":
            return option == "on"
        if PRE_ID not in data.coords or POST_ID not in data.coords:
            return False
        per_pre = pd.Series(data[dims.CONNECTION].values).groupby(data[PRE_ID].values).nunique()
        per_post = pd.Series(data[dims.CONNECTION].values).groupby(data[POST_ID].values).nunique()
        return bool((per_pre > 1).any() and (per_post > 1).any())

    def describe(self) -> dict[str, str]:
        """Return the equation and priors for the report."""
        if self.config["design"] == "silenced":
            return silenced.describe_silenced(self.family)
        return {
            "title": "Variance split: variance shared within a connection (or group)",
            "equation": r"\ln w_i = \mu + u^{\mathrm{pre}} + u^{\mathrm{post}} + u_{c(i)} + e_i"
            r"\ \text{(snapshots)};\quad \Delta_{i,t} = \delta_t + g_{k(i),t} + e_{i,t}"
            r"\ \text{(time series)}",
            "priors": "shared fraction V_c/(V_c + V_e) ~ Beta(1, 1); baseline fraction "
            "(V_pre + V_post)/V ~ Beta(1, 1) and axon share V_pre/(V_pre + V_post) ~ "
            "Beta(1, 1); σ_total = √V ~ HalfNormal(2·SD of the response); μ, δ_t ~ "
            "Normal(mean, 2·SD); cell effects non-centred. Implied priors of the other "
            "reported quantities are shown next to their posteriors.",
        }

    def build(self, data: xr.Dataset) -> pm.Model:
        """Build the PyMC model for ``data`` under the configured design."""
        if self.config["design"] == "silenced":
            if self.kind(data) != dims.KIND_TIME_SERIES:
                raise DataError(
                    "design 'silenced' needs time-series data with a treatment column",
                    source=data.attrs.get(dims.ATTR_SOURCE),
                )
            return silenced.build_silenced(data, self.config)
        if self.kind(data) == dims.KIND_SNAPSHOT:
            return self._build_snapshot(data)
        return self._build_changes(data)

    def _build_snapshot(self, data: xr.Dataset) -> pm.Model:
        group_by = self.group_by(data)
        if group_by not in data.coords:
            raise ConfigError(f"group_by='{group_by}' is not a coordinate of the snapshot data")
        y, _, _ = log_sizes(data)
        if len(y) < 5:
            raise DataError("need at least 5 synapses", source=data.attrs.get(dims.ATTR_SOURCE))
        group_codes, group_labels = pd.factorize(data[group_by].values.astype(str))
        if np.bincount(group_codes).max() < 2:
            raise DataError(
                f"no {group_by} has two or more synapses, so the shared and individual "
                "variance cannot be told apart",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        gdim = group_dim(group_by)
        baselines = self.uses_baselines(data)
        coords = {gdim: np.asarray(group_labels), dims.SYNAPSE: data[dims.SYNAPSE].values}
        if baselines:
            pre_codes, pre_labels = pd.factorize(data[PRE_ID].values.astype(str))
            post_codes, post_labels = pd.factorize(data[POST_ID].values.astype(str))
            coords |= {PRE_CELL: np.asarray(pre_labels), POST_CELL: np.asarray(post_labels)}
        mean_y, sd_y = location_and_scale(y, self.config["prior_scales"])
        with pm.Model(coords=coords) as model:
            mu = pm.Normal("mu", mean_y, 2.0 * sd_y)
            var = _variance_components(group_by, sd_y, baselines)
            var_group = var[group_variance_name(group_by)]
            mean = mu + 0.0 * pm.math.ones(len(y))
            if baselines:
                z_pre = pm.Normal("z_pre", 0.0, 1.0, dims=PRE_CELL)
                z_post = pm.Normal("z_post", 0.0, 1.0, dims=POST_CELL)
                mean = mean + pm.math.sqrt(var["var_pre"]) * z_pre[pre_codes]
                mean = mean + pm.math.sqrt(var["var_post"]) * z_post[post_codes]
            # A container inside compiled_cache.reuse() (calibration, batch): one compile
            # serves every data set of this design.
            observed = data_or_value("log_size_observed", y, dims=dims.SYNAPSE)
            _grouped_normal(
                "log_size", mean, var_group, var["var_synapse"], group_codes, observed, dims.SYNAPSE
            )
            if baselines:
                total = var["var_pre"] + var["var_post"] + var_group + var["var_synapse"]
                pm.Deterministic("corr_same_axon", var["var_pre"] / total)
                pm.Deterministic("corr_same_dendrite", var["var_post"] / total)
                pm.Deterministic(
                    "corr_commonly_innervated",
                    (var["var_pre"] + var["var_post"] + var_group) / total,
                )
                pm.Deterministic("ci_excess", var_group / total)
        return model

    def _build_changes(self, data: xr.Dataset) -> pm.Model:
        if self.config["prior_scales"]:
            raise ConfigError("prior_scales applies to snapshots (sizes), not to time series")
        group_by = self.group_by(data)
        table = log_changes(data, group_by)
        if len(table) < 5:
            raise DataError(
                f"only {len(table)} changes (spines present in consecutive sessions); need 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        cell_sizes = table.groupby(["group", "interval"]).size()
        if cell_sizes.max() < 2:
            raise DataError(
                f"no {group_by} has two spines changing over the same interval",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        group_codes, group_labels = pd.factorize(table["group"])
        intervals = np.unique(table["interval"])
        interval_codes = np.searchsorted(intervals, table["interval"])
        gdim = group_dim(group_by)
        coords = {
            gdim: np.asarray(group_labels),
            INTERVAL: intervals,
            dims.TRANSITION: np.arange(len(table)),
        }
        y = table["change"].to_numpy()
        sd_y = float(np.std(y)) or 1.0
        with pm.Model(coords=coords) as model:
            shift = pm.Normal("interval_shift", 0.0, 2.0 * sd_y, dims=INTERVAL)
            var = _variance_components(group_by, sd_y, baselines=False)
            cell_codes = group_codes * len(intervals) + interval_codes
            _grouped_normal(
                "log_change",
                shift[interval_codes],
                var[group_variance_name(group_by)],
                var["var_synapse"],
                np.unique(cell_codes, return_inverse=True)[1],
                y,
                dims.TRANSITION,
            )
        return model

    def sample(self, data: xr.Dataset, settings: SamplerSettings) -> xr.DataTree:
        """Sample the posterior, then store prior draws of every reported quantity.

        The prior group lets the summary and the report show the implied prior of each
        reported fraction next to its posterior (see the module docstring).
        """
        tree = super().sample(data, settings)
        if self.config["design"] != "shared":
            return tree
        model = self.build(data)
        names = [n for n in self._reported_names(self.group_by(data)) if n in model.named_vars]
        with one_blas_thread():
            prior = pm.sample_prior_predictive(
                draws=PRIOR_DRAWS, model=model, var_names=names, random_seed=settings.random_seed
            )
        tree[PRIOR_GROUP] = xr.DataTree(dataset=prior["prior"].to_dataset())
        return tree

    @staticmethod
    def _reported_names(group_by: str) -> list[str]:
        """Return the reported quantities of the shared design, headline first."""
        return [
            *fraction_names(group_by),
            group_variance_name(group_by),
            "var_synapse",
            "var_pre",
            "var_post",
            "corr_same_axon",
            "corr_same_dendrite",
            "corr_commonly_innervated",
            "ci_excess",
            "mu",
        ]

    # -- results -------------------------------------------------------------------------
    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Attach units to the variance components (design 2: add the mean fraction)."""
        if self.config["design"] == "silenced":
            return silenced.postprocess_silenced(tree, data, self.config)
        posterior = tree["posterior"].to_dataset()
        if self.kind(data) == dims.KIND_SNAPSHOT:
            _, _, units = log_sizes(data)
            response = f"ln({units})"
        else:
            units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
            response = f"Δ ln({units}) per interval"
        for name in posterior.data_vars:
            if name.startswith("var_"):
                posterior[name].attrs["units"] = f"({response})^2"
            elif "fraction" in name or name.startswith(("corr_", "ci_", "axon_share")):
                posterior[name].attrs["units"] = "1"
        posterior.attrs["response"] = response
        posterior.attrs["group_by"] = self.group_by(data)
        tree["posterior"] = xr.DataTree(dataset=posterior)
        return tree

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]] | None:
        """Return the log-likelihood of every group (snapshot) or group × interval (changes).

        Groups are the units that are independent given the parameters (their shared
        effect integrated out); with baselines the likelihood is conditional on the
        sampled cell effects, as in the fit. None for the silenced design.
        """
        if self.config["design"] == "silenced":
            return None
        posterior = tree["posterior"].to_dataset()
        data = tree[DATA_GROUP].to_dataset()
        group_by = self.group_by(data)

        def flat(name: str) -> np.ndarray:
            values = posterior[name].transpose(*dims.SAMPLE_DIMS, ...).values
            return values.reshape(-1, *values.shape[2:])

        var_group = flat(group_variance_name(group_by))
        if self.kind(data) == dims.KIND_SNAPSHOT:
            y, _, _ = log_sizes(data)
            codes, labels = pd.factorize(data[group_by].values.astype(str))
            mean = np.repeat(flat("mu")[:, None], len(y), axis=1)
            if "var_pre" in posterior:
                pre = pd.Index(posterior[PRE_CELL].values).get_indexer(
                    data[PRE_ID].values.astype(str)
                )
                post = pd.Index(posterior[POST_CELL].values).get_indexer(
                    data[POST_ID].values.astype(str)
                )
                mean = mean + np.sqrt(flat("var_pre"))[:, None] * flat("z_pre")[:, pre]
                mean = mean + np.sqrt(flat("var_post"))[:, None] * flat("z_post")[:, post]
            log_lik = grouped_normal_loglik(y - mean, var_group, flat("var_synapse"), codes)
            return log_lik, [str(v) for v in labels]
        table = log_changes(data, group_by)
        cells = table["group"].astype(str) + "@" + table["interval"].astype(str)
        codes, labels = pd.factorize(cells)
        intervals = np.unique(table["interval"])
        shift = flat("interval_shift")[:, np.searchsorted(intervals, table["interval"])]
        residual = table["change"].to_numpy()[None, :] - shift
        log_lik = grouped_normal_loglik(residual, var_group, flat("var_synapse"), codes)
        return log_lik, [str(v) for v in labels]

    def contrast_curves(self, tree: xr.DataTree, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return the intrinsic fraction σ²_silenced(w)/σ²_control(w) of a silenced fit.

        Per draw (and condition, when the posterior has one), from the fitted family's
        variance function; other designs have no curves.
        """
        posterior = tree["posterior"].to_dataset()
        labels = [str(self.config["control_label"]), str(self.config["silenced_label"])]
        if (
            self.config["design"] != "silenced"
            or dims.TREATMENT not in posterior.dims
            or not set(labels) <= {str(v) for v in posterior[dims.TREATMENT].values}
        ):
            return {}
        fraction = silenced.intrinsic_fraction(posterior, grid, labels, self.family)
        sample = [d for d in dims.SAMPLE_DIMS if d in fraction.dims]
        return {"intrinsic_fraction": fraction.transpose(*sample, ...).rename(None)}

    def parameter_names(self, tree: xr.DataTree) -> list[str]:
        """Return the reported posterior variables (both designs)."""
        posterior = tree["posterior"]
        if self.config["design"] == "silenced":
            names = [silenced.INTRINSIC_FRACTION_MEAN, "a", "b", "c", "d"]
            return [n for n in names if n in posterior.data_vars]
        group_by = self.group_by(tree[DATA_GROUP].to_dataset())
        posterior = upgrade_posterior(posterior.to_dataset(), group_by)
        names = self._reported_names(group_by)
        names[2:4] = sorted(v for v in posterior.data_vars if v.startswith("var_"))
        return list(dict.fromkeys(n for n in names if n in posterior.data_vars))

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return the fractions, variance components, baselines and data counts."""
        if self.config["design"] == "silenced":
            return silenced.summarize_silenced(tree, self.config, grid)
        data = tree[DATA_GROUP].to_dataset()
        group_by = self.group_by(data)
        posterior = upgrade_posterior(tree["posterior"].to_dataset(), group_by)
        names = self.parameter_names(tree)
        out: dict[str, Any] = {"parameters": parameter_stats(posterior, names)}
        if PRIOR_GROUP in tree.children:
            prior = tree[PRIOR_GROUP].to_dataset()
            out["prior"] = {
                name: stats_of(prior[name], diagnostics=False) for name in names if name in prior
            }
        aliases = deprecated_aliases(group_by)
        out["deprecated_aliases"] = aliases
        out["notes"] = [
            f"'{old}' is now '{new}' (deprecated alias, removed in the next release)"
            for old, new in aliases.items()
        ] + [
            f"{fraction_names(group_by)[0]} is the share of variance common to one "
            f"{group_by}, whatever its cause, not a measure of activity dependence alone"
        ]
        info: dict[str, Any] = {
            "design": "shared",
            "group_by": group_by,
            "response": posterior.attrs.get("response", ""),
        }
        if self.kind(data) == dims.KIND_SNAPSHOT:
            y, size_variable, units = log_sizes(data)
            counts = pd.Series(data[group_by].values).value_counts()
            info |= {
                "synapses": int(len(y)),
                "groups": int(len(counts)),
                "groups_by_size": {
                    int(k): int(v) for k, v in counts.value_counts().sort_index().items()
                },
                "size_variable": size_variable,
                "size_units": units,
                "baselines": bool("var_pre" in posterior),
            }
            if PRE_ID in data.coords and group_by == dims.CONNECTION:
                out["empirical_pair_correlations"] = empirical_pair_correlations(
                    y, data[dims.CONNECTION].values, data[PRE_ID].values, data[POST_ID].values
                )
        else:
            table = log_changes(data, group_by)
            info |= {
                "changes": int(len(table)),
                "groups": int(table["group"].nunique()),
                "intervals": int(table["interval"].nunique()),
                "spines": int(data.sizes[dims.SPINE]),
            }
        out["data"] = info
        return out
