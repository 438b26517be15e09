r"""Design 2 of the variance split: noise amplitude with activity silenced vs control.

Each treatment gets its own linear drift–diffusion model (Statman et al. 2014; Hazan & Ziv
2020)

.. math::

    dw = (a_k + b_k w)\,dt + \sqrt{c_k + d_k w^2}\,dB,\qquad k \in
    \{\mathrm{control}, \mathrm{silenced}\},

fitted in one PyMC model with the exact transition moments of
:func:`spinefit.models.sde_moments.linear_moments`. Fluctuations that remain when activity
is blocked bound the activity-independent (intrinsic) part from the other side than the
shared-connection design (Yasumatsu et al. 2008, J Neurosci 28:13592):

.. math::

    f_{\mathrm{intr}}(w) = \frac{\sigma^2_{\mathrm{silenced}}(w)}{\sigma^2_{\mathrm{control}}(w)},
    \qquad \bar f_{\mathrm{intr}} = \frac1N \sum_i f_{\mathrm{intr}}(w_i),

the average running over every observed size of both treatments. The module holds the
functions :class:`spinefit.models.variance_split.VarianceSplit` dispatches to when
``design="silenced"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.transitions import transitions
from spinefit.models.base import DATA_GROUP
from spinefit.models.sde_moments import linear_moments
from spinefit.stats import curve_stats, parameter_stats

N_GRID = 50
LATENT_KEYS = ("detection_threshold", "measurement_cv", "noise", "grid_points")
"""Latent-likelihood options the silenced design passes on (see DriftDiffusion)."""
INTRINSIC_FRACTION = "intrinsic_fraction"
INTRINSIC_FRACTION_MEAN = "intrinsic_fraction_mean"


def treatment_labels(config: dict[str, Any]) -> list[str]:
    """Return ``[control_label, silenced_label]``."""
    return [str(config["control_label"]), str(config["silenced_label"])]


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
    fraction toward 1. ``likelihood="moments"`` keeps the moment-matched transitions.
    """
    labels = treatment_labels(config)
    if labels[0] == labels[1]:
        raise ConfigError("control_label and silenced_label must differ")
    if config.get("likelihood", "latent") == "latent":
        return _build_silenced_latent(data, config, labels)
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


def _build_silenced_latent(data: xr.Dataset, config: dict[str, Any], labels: list[str]):
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.models.latent_likelihood import prepare_latent
    from spinefit.models.latent_process import LatentPart, add_grouped_latent_likelihood

    trans = treatment_transitions(data, config)  # checks labels and transition counts
    options = DriftDiffusion(
        {k: config[k] for k in LATENT_KEYS if k in config} | {"likelihood": "latent"}
    ).config
    treatment = data[dims.TREATMENT].values.astype(str)
    keep = np.flatnonzero(np.isin(treatment, labels))
    data = data.isel({dims.SPINE: keep})
    treatment = treatment[keep]
    reference = prepare_latent(data, options["noise"])
    s = reference.scale
    t = reference.median_interval
    x0, x1 = trans["w_start"].values / s, trans["w_end"].values / s
    rate_var = float(np.var((x1 - x0) / np.sqrt(trans["dt_days"].values))) or 1.0
    with pm.Model(coords={dims.TREATMENT: labels}) as model:
        a_s = pm.Normal("a_scaled", 0.0, 2.0 / t, dims=dims.TREATMENT)
        b = pm.Normal("b", 0.0, 2.0 / t, dims=dims.TREATMENT)
        c_s = pm.HalfNormal("c_scaled", 2.0 * rate_var, dims=dims.TREATMENT)
        d = pm.HalfNormal("d", 2.0 * rate_var, dims=dims.TREATMENT)
        pm.Deterministic("a", a_s * s, dims=dims.TREATMENT)
        pm.Deterministic("c", c_s * s**2, dims=dims.TREATMENT)
        parts = []
        for k, label in enumerate(labels):
            rows = np.flatnonzero(treatment == label)
            ld = prepare_latent(
                data.isel({dims.SPINE: rows}), options["noise"], scale=s, log_top=reference.log_top
            )
            parts.append(
                LatentPart(
                    ld,
                    lambda x, k=k: a_s[k] + b[k] * x,
                    lambda x, k=k: c_s[k] + d[k] * x**2,
                    turnover_index=k,
                )
            )
        add_grouped_latent_likelihood(parts, reference, options, turnover_dim=dims.TREATMENT)
    return model


def intrinsic_fraction(posterior: xr.Dataset, w: np.ndarray, labels: list[str]) -> xr.DataArray:
    """Return σ²_silenced(w)/σ²_control(w) for every draw, dims (chain, draw, w)."""
    grid = xr.DataArray(np.asarray(w, float), dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: w})
    control, silenced = (
        {v: posterior[v].sel({dims.TREATMENT: lab}) for v in "cd"} for lab in labels
    )
    ratio = (silenced["c"] + silenced["d"] * grid**2) / (control["c"] + control["d"] * grid**2)
    return ratio.drop_vars(dims.TREATMENT, errors="ignore").rename(INTRINSIC_FRACTION)


def observed_sizes(data: xr.Dataset, config: dict[str, Any]) -> np.ndarray:
    """Return every present size of control and silenced spines."""
    labels = treatment_labels(config)
    keep = np.isin(data[dims.TREATMENT].values.astype(str), labels)
    volume = data[dims.VOLUME].values[keep]
    return volume[np.isfinite(volume) & (volume > 0)]


def postprocess_silenced(tree: xr.DataTree, data: xr.Dataset, config: dict[str, Any]):
    """Add ``intrinsic_fraction_mean`` (average over the observed sizes) to the posterior."""
    posterior = tree["posterior"].to_dataset()
    labels = treatment_labels(config)
    sizes = observed_sizes(data, config)
    control, silenced = (
        {v: posterior[v].sel({dims.TREATMENT: lab}).values for v in "cd"} for lab in labels
    )
    w2 = sizes**2
    ratio = (silenced["c"][..., None] + silenced["d"][..., None] * w2) / (
        control["c"][..., None] + control["d"][..., None] * w2
    )
    posterior[INTRINSIC_FRACTION_MEAN] = (
        dims.SAMPLE_DIMS,
        ratio.mean(-1),
        {
            "units": "1",
            "long_name": "σ²_silenced/σ²_control averaged over the observed sizes",
        },
    )
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    for name, unit in {
        "a": f"{units}/day",
        "b": "1/day",
        "c": f"({units})^2/day",
        "d": "1/day",
    }.items():
        posterior[name].attrs["units"] = unit
    tree["posterior"] = xr.DataTree(dataset=posterior)
    return tree


def default_grid(tree: xr.DataTree, config: dict[str, Any]) -> np.ndarray:
    """Return 50 sizes between the 1st and 99th percentiles of the observed sizes."""
    sizes = observed_sizes(tree[DATA_GROUP].to_dataset(), config)
    low, high = np.quantile(sizes, [0.01, 0.99])
    return np.linspace(float(low), float(high), N_GRID)


def summarize_silenced(
    tree: xr.DataTree, config: dict[str, Any], grid: list[float] | None = None
) -> dict[str, Any]:
    """Return parameters per treatment, ``intrinsic_fraction_mean`` and the fraction curve."""
    posterior = tree["posterior"].to_dataset()
    data = tree[DATA_GROUP].to_dataset()
    labels = treatment_labels(config)
    w = np.asarray(grid, dtype=float) if grid else default_grid(tree, config)
    curve = intrinsic_fraction(posterior, w, labels)
    trans = treatment_transitions(data, config)
    counts = np.bincount(trans["treatment_index"].values, minlength=2)
    return {
        "parameters": parameter_stats(
            posterior,
            {
                "a": "a",
                "b": "b",
                "c": "c",
                "d": "d",
                INTRINSIC_FRACTION_MEAN: INTRINSIC_FRACTION_MEAN,
            },
        ),
        "curves": {INTRINSIC_FRACTION: curve_stats(curve, dims.SIZE_GRID) | {"units": "1"}},
        "data": {
            "design": "silenced",
            "control_label": labels[0],
            "silenced_label": labels[1],
            "transitions": {labels[0]: int(counts[0]), labels[1]: int(counts[1])},
            "volume_units": data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS),
        },
    }
