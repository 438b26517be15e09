r"""Design 2 of the variance split: noise amplitude with activity silenced vs control.

Each treatment gets its own drift–diffusion model of one SDE family
(:mod:`spinefit.families`; the linear Kesten family by default, Statman et al. 2014;
Hazan & Ziv 2020)

.. math::

    dw = \mu_k(w)\,dt + \sqrt{\sigma^2_k(w)}\,dB,\qquad k \in
    \{\mathrm{control}, \mathrm{silenced}\},

with :math:`\mu_k(w) = a_k + b_k w` and :math:`\sigma^2_k(w) = c_k + d_k w^2` for the
linear family. Every parameter, the Kesten core :math:`a, b, c, d` and the family's own
(e.g. spline coefficients), carries the ``treatment`` dim; the spline knots (or any other
data-dependent family setting) are shared by both treatments. Both are fitted in one PyMC
model, by default with the killed, noisy latent size process
(:mod:`spinefit.models.latent_process`); ``likelihood="moments"`` uses the exact
transition moments of :func:`spinefit.models.sde_moments.linear_moments` and so needs the
linear family. Fluctuations that remain when activity is blocked bound the
activity-independent (intrinsic) part from the other side than the shared-connection
design (Yasumatsu et al. 2008, J Neurosci 28:13592):

.. math::

    f_{\mathrm{intr}}(w) = \frac{\sigma^2_{\mathrm{silenced}}(w)}{\sigma^2_{\mathrm{control}}(w)},
    \qquad \bar f_{\mathrm{intr}} = \frac1N \sum_i f_{\mathrm{intr}}(w_i),

with each :math:`\sigma^2_k` the family's variance function
(:meth:`spinefit.families.base.SDEFamily.curves`, volume units), the average running over
every observed size of both treatments. The result records the family (``family``,
``family_options`` in the saved config) and the size unit s (``size_scale`` on the
posterior), so :func:`spinefit.families.family_of_result` and
:func:`spinefit.compare.intrinsic_fraction_draws` rebuild the same curves. The module holds
the functions :class:`spinefit.models.variance_split.VarianceSplit` dispatches to when
``design="silenced"``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.families import family_from_config
from spinefit.families.base import PriorScales, SDEFamily, core_priors
from spinefit.io.transitions import transitions
from spinefit.models.sde_moments import linear_moments
from spinefit.results.names import DATA_GROUP
from spinefit.stats import curve_stats, parameter_stats

N_GRID = 50
LATENT_KEYS = ("detection_threshold", "detection_limit", "measurement_cv", "noise", "grid_points")
"""Latent-likelihood options the silenced design passes on (see DriftDiffusion)."""
FAMILY_KEYS = ("family", "family_options")
"""Config keys that name the SDE family and hold its settings."""
INTRINSIC_FRACTION = "intrinsic_fraction"
INTRINSIC_FRACTION_MEAN = "intrinsic_fraction_mean"
LINEAR_PRIOR_TEXT = (
    "per treatment k: a ~ Normal(0, 2s/T); b ~ Normal(0, 2/T); "
    "c ~ HalfNormal(2v); d ~ HalfNormal(2v/s²) (s median size, T median interval, "
    "v variance of Δw/√Δt)"
)


def treatment_labels(config: dict[str, Any]) -> list[str]:
    """Return ``[control_label, silenced_label]``."""
    return [str(config["control_label"]), str(config["silenced_label"])]


def silenced_family(config: dict[str, Any]) -> SDEFamily:
    """Return the SDE family of a silenced-design config (linear if none is named).

    Parameters
    ----------
    config : dict
        Model config; only ``family`` and ``family_options`` are read.

    Returns
    -------
    SDEFamily
    """
    return family_from_config({k: config[k] for k in FAMILY_KEYS if k in config})[1]


def check_family(config: dict[str, Any], family: SDEFamily) -> None:
    """Raise ConfigError if the likelihood cannot use ``family``.

    The moments likelihood uses the linear family's exact transition moments only.
    """
    if config.get("likelihood", "latent") == "moments" and not family.exact_linear_moments:
        raise ConfigError(
            f"family '{family.name}' needs the latent likelihood in the silenced design "
            "(likelihood='latent'); likelihood='moments' supports the linear family only"
        )


def describe_silenced(family: SDEFamily) -> dict[str, str]:
    """Return the title, equation and priors of the silenced design for the report."""
    fraction = (
        r"f_{\mathrm{intr}}(w) = \sigma^2_{\mathrm{silenced}}(w)/\sigma^2_{\mathrm{control}}(w)"
    )
    if family.exact_linear_moments:
        equation = r"dw = (a_k + b_k w)\,dt + \sqrt{c_k + d_k w^2}\,dB,\quad " + fraction
        priors = LINEAR_PRIOR_TEXT
    else:
        equation = family.equation + r"\ \text{per treatment } k,\quad " + fraction
        priors = f"{LINEAR_PRIOR_TEXT}; family '{family.name}' per treatment: " + (
            family.prior_text or "no parameters of its own"
        )
    return {"title": "Variance split: silenced vs control", "equation": equation, "priors": priors}


def treatment_transitions(data: xr.Dataset, config: dict[str, Any]) -> xr.Dataset:
    """Return the transitions of control and silenced spines with a ``treatment_index``.

    Spines with any other treatment are left out. Raises :class:`DataError` when the data
    have no ``treatment`` coord or either group has fewer than 5 transitions.
    """
    source = data.attrs.get(dims.ATTR_SOURCE)
    if dims.TREATMENT not in data.coords:
        raise DataError(
            "design 'silenced' needs a 'treatment' column (e.g. control / silenced)",
            source=source,
        )
    labels = treatment_labels(config)
    trans = transitions(data)
    treatment = data[dims.TREATMENT].values.astype(str)[trans["spine_index"].values]
    index = np.full(treatment.shape, -1)
    for k, label in enumerate(labels):
        index[treatment == label] = k
        if (treatment == label).sum() < 5:
            found = sorted(set(data[dims.TREATMENT].values.astype(str)))
            raise DataError(
                f"fewer than 5 transitions with treatment '{label}' (treatments found: "
                f"{found}); set control_label / silenced_label",
                source=source,
            )
    trans = trans.assign(treatment_index=(dims.TRANSITION, index))
    return trans.isel({dims.TRANSITION: np.flatnonzero(index >= 0)})


def build_silenced(data: xr.Dataset, config: dict[str, Any]) -> pm.Model:
    """Return the treatment-indexed drift–diffusion model.

    With ``likelihood="latent"`` (the default) each treatment has its own killed, noisy
    latent size process with shared detection threshold θ and measurement noise τ
    (:mod:`spinefit.models.latent_process`): the noise floor is then attributed to the
    measurement, not to the silenced dynamics, which would otherwise pull the intrinsic
    fraction toward 1. ``likelihood="moments"`` keeps the moment-matched transitions (linear
    family only).

    Parameters
    ----------
    data : xarray.Dataset
        Time series with a ``treatment`` coord.
    config : dict
        The model config. Its ``family_options`` are filled in with the family's
        data-dependent settings (e.g. the spline knots), so that the saved result rebuilds
        the same family.

    Returns
    -------
    pymc.Model

    Raises
    ------
    ConfigError
        If the labels coincide, or a non-linear family is asked with the moments likelihood.
    """
    labels = treatment_labels(config)
    if labels[0] == labels[1]:
        raise ConfigError("control_label and silenced_label must differ")
    family = silenced_family(config)
    check_family(config, family)
    if config.get("likelihood", "latent") == "latent":
        return _build_silenced_latent(data, config, labels, family)
    return _build_silenced_moments(data, config, labels)


def _build_silenced_moments(
    data: xr.Dataset, config: dict[str, Any], labels: list[str]
) -> pm.Model:
    """Moment-matched linear model: exact transition mean and variance per treatment."""
    trans = treatment_transitions(data, config)
    w0 = trans["w_start"].values
    w1 = trans["w_end"].values
    dt = trans["dt_days"].values
    group = trans["treatment_index"].values
    scale_w = float(np.median(w0))
    scale_t = float(np.median(dt))
    rate_var = float(np.var((w1 - w0) / np.sqrt(dt))) or 1.0

    coords = {dims.TREATMENT: labels, dims.TRANSITION: np.arange(w0.size)}
    with pm.Model(coords=coords) as model:
        a = pm.Normal("a", 0.0, 2.0 * scale_w / scale_t, dims=dims.TREATMENT)
        b = pm.Normal("b", 0.0, 2.0 / scale_t, dims=dims.TREATMENT)
        c = pm.HalfNormal("c", 2.0 * rate_var, dims=dims.TREATMENT)
        d = pm.HalfNormal("d", 2.0 * rate_var / scale_w**2, dims=dims.TREATMENT)
        means, sds = [], []
        order = np.concatenate([np.flatnonzero(group == k) for k in range(2)])
        for k in range(2):
            sel = group == k
            intervals, interval_index = np.unique(np.round(dt[sel], 9), return_inverse=True)
            mean, var = linear_moments(a[k], b[k], c[k], d[k], w0[sel], interval_index, intervals)
            means.append(mean)
            sds.append(pm.math.sqrt(var))
        pm.Normal(
            "w_end",
            mu=pm.math.concatenate(means),
            sigma=pm.math.concatenate(sds),
            observed=w1[order],
            dims=dims.TRANSITION,
        )
    return model


def size_scale(data: xr.Dataset, config: dict[str, Any]) -> float:
    """Return s, the median of every present size of control and silenced spines."""
    return float(np.median(observed_sizes(data, config)))


def _build_silenced_latent(
    data: xr.Dataset, config: dict[str, Any], labels: list[str], family: SDEFamily
) -> pm.Model:
    """Latent-process model: one killed, noisy process per treatment, shared θ and τ."""
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.models.killed_grid import pytensor_namespace
    from spinefit.models.latent_likelihood import prepare_latent, resolve_detection_limit
    from spinefit.models.latent_process import LatentPart, add_grouped_latent_likelihood

    trans = treatment_transitions(data, config)  # checks labels and transition counts
    options = DriftDiffusion(
        {k: config[k] for k in LATENT_KEYS if k in config} | {"likelihood": "latent"}
    ).config
    resolve_detection_limit(options, data)  # the data's limit, when they have one
    s = size_scale(data, config)
    treatment = data[dims.TREATMENT].values.astype(str)
    keep = np.flatnonzero(np.isin(treatment, labels))
    data = data.isel({dims.SPINE: keep})
    treatment = treatment[keep]
    reference = prepare_latent(data, options["noise"], scale=s)
    scales = PriorScales.from_transitions(
        s,
        trans["w_start"].values / s,
        trans["w_end"].values / s,
        trans["dt_days"].values,
        interval=reference.median_interval,
    )
    family = family.configure(scales)
    config["family_options"] = dict(family.settings)
    xp = pytensor_namespace()
    with pm.Model(coords={dims.TREATMENT: labels} | family.extra_coords()) as model:
        core = core_priors(scales, dim=dims.TREATMENT)
        extra = family.extra_priors(scales, dim=dims.TREATMENT)
        parts = []
        for k, label in enumerate(labels):
            rows = np.flatnonzero(treatment == label)
            ld = prepare_latent(
                data.isel({dims.SPINE: rows}), options["noise"], scale=s, log_top=reference.log_top
            )
            params = {name: value[k] for name, value in (core | extra).items()}
            parts.append(
                LatentPart(
                    ld,
                    *family.size_functions(params, xp),
                    turnover_index=k,
                )
            )
        add_grouped_latent_likelihood(parts, reference, options, turnover_dim=dims.TREATMENT)
    return model


def treatment_variance(
    posterior: xr.Dataset, w: np.ndarray, label: str, family: SDEFamily, scale: float
) -> xr.DataArray:
    """Return σ²(w) of one treatment for every draw (volume units), dims (..., w).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior with the family's parameters along ``treatment`` (volume units).
    w : numpy.ndarray
        Sizes (volume units).
    label : str
        The treatment.
    family : SDEFamily
        The fitted family.
    scale : float
        s, the size unit of the fit.
    """
    names = [n for n in family.parameter_names if n in posterior.data_vars]
    part = posterior[names].sel({dims.TREATMENT: label}, drop=True)
    return family.curves(part, np.asarray(w, dtype=float), scale)["variance"]


def intrinsic_fraction(
    posterior: xr.Dataset,
    w: np.ndarray,
    labels: list[str],
    family: SDEFamily | None = None,
    scale: float | None = None,
) -> xr.DataArray:
    r"""Return σ²_silenced(w)/σ²_control(w) for every draw, dims (chain, draw, ..., w).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior with the family's parameters along ``treatment``.
    w : numpy.ndarray
        Sizes (volume units).
    labels : list of str
        ``[control_label, silenced_label]``.
    family : SDEFamily, optional
        The fitted family (default: linear, :math:`\sigma^2 = c + d w^2`).
    scale : float, optional
        s of the fit (default: the posterior's ``size_scale`` attr, else 1; the linear
        family does not depend on it).

    Returns
    -------
    xarray.DataArray
        Named ``intrinsic_fraction``.
    """
    family = family or silenced_family({})
    if scale is None:
        scale = float(posterior.attrs.get("size_scale", 1.0))
    control, silenced = (treatment_variance(posterior, w, lab, family, scale) for lab in labels)
    return (silenced / control).rename(INTRINSIC_FRACTION)


def observed_sizes(data: xr.Dataset, config: dict[str, Any]) -> np.ndarray:
    """Return every present size of control and silenced spines."""
    labels = treatment_labels(config)
    keep = np.isin(data[dims.TREATMENT].values.astype(str), labels)
    volume = data[dims.VOLUME].values[keep]
    return volume[np.isfinite(volume) & (volume > 0)]


def postprocess_silenced(tree: xr.DataTree, data: xr.Dataset, config: dict[str, Any]):
    """Add ``intrinsic_fraction_mean`` (average over the observed sizes) to the posterior.

    Also records s (``size_scale``) and the units of every family parameter on the
    posterior, as the drift–diffusion models do
    (:func:`spinefit.models.drift_diffusion.record_family`).
    """
    from spinefit.models.drift_diffusion import record_family

    posterior = tree["posterior"].to_dataset()
    family = silenced_family(config)
    scale = size_scale(data, config)
    fraction = intrinsic_fraction(
        posterior, observed_sizes(data, config), treatment_labels(config), family, scale
    )
    posterior[INTRINSIC_FRACTION_MEAN] = fraction.mean(dims.SIZE_GRID).transpose(*dims.SAMPLE_DIMS)
    posterior[INTRINSIC_FRACTION_MEAN].attrs = {
        "units": "1",
        "long_name": "σ²_silenced/σ²_control averaged over the observed sizes",
    }
    tree["posterior"] = xr.DataTree(dataset=posterior)
    return record_family(tree, data, SimpleNamespace(size_scale=scale, family=family))


def default_grid(tree: xr.DataTree, config: dict[str, Any]) -> np.ndarray:
    """Return 50 sizes between the 1st and 99th percentiles of the observed sizes."""
    sizes = observed_sizes(tree[DATA_GROUP].to_dataset(), config)
    low, high = np.quantile(sizes, [0.01, 0.99])
    return np.linspace(float(low), float(high), N_GRID)


def summarize_silenced(
    tree: xr.DataTree, config: dict[str, Any], grid: list[float] | None = None
) -> dict[str, Any]:
    """Return parameters per treatment, ``intrinsic_fraction_mean`` and the fraction curve.

    The curve is the fitted family's σ²_silenced(w)/σ²_control(w) on ``grid`` (default:
    :func:`default_grid`), with s read from the posterior's ``size_scale``.
    """
    posterior = tree["posterior"].to_dataset()
    data = tree[DATA_GROUP].to_dataset()
    labels = treatment_labels(config)
    family = silenced_family(config)
    w = np.asarray(grid, dtype=float) if grid else default_grid(tree, config)
    curve = intrinsic_fraction(posterior, w, labels, family)
    trans = treatment_transitions(data, config)
    counts = np.bincount(trans["treatment_index"].values, minlength=2)
    # Scalar family parameters (e.g. the power exponents) are reported per treatment too.
    scalar_extras = [
        p.name
        for p in family.extra_parameters
        if p.vector_dim is None and p.name in posterior.data_vars
    ]
    names = ["a", "b", "c", "d", *scalar_extras, INTRINSIC_FRACTION_MEAN]
    return {
        "parameters": parameter_stats(posterior, {n: n for n in names}),
        "curves": {INTRINSIC_FRACTION: curve_stats(curve, dims.SIZE_GRID) | {"units": "1"}},
        "data": {
            "design": "silenced",
            "family": family.name,
            "control_label": labels[0],
            "silenced_label": labels[1],
            "transitions": {labels[0]: int(counts[0]), labels[1]: int(counts[1])},
            "volume_units": data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS),
        },
    }
