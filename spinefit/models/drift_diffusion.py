r"""Drift–diffusion (Langevin) model of spine-size dynamics.

.. math::

    dw = \mu(w)\,dt + \sigma(w)\,dB

The SDE family is one of :mod:`spinefit.families`. Default (``family="linear"``):
:math:`\mu(w) = a + b w`, :math:`\sigma^2(w) = c + d w^2` with :math:`c, d \ge 0`, the
continuous-time Kesten process with additive plus multiplicative noise (Statman et al.
2014, PLoS Comput Biol; Hazan & Ziv 2020, J Neurosci). ``"power"`` lets the exponents
free; ``"spline"`` adds a penalised B-spline to the drift (and optionally modulates the
variance), which can have several fixed points.

Likelihoods (``likelihood``):

* ``"latent"`` (default): the true size follows the SDE and the spine is eliminated when
  it first falls to the detection threshold :math:`\theta` (or by a size-independent loss
  hazard); what is observed is the true size times :math:`e^{\varepsilon}`,
  :math:`\varepsilon \sim N(0, \tau^2)`. Latent sizes are summed out exactly on a grid
  (:mod:`spinefit.models.latent_likelihood`), so survivor selection and measurement noise
  do not bias :math:`\mu` and :math:`\sigma`, and formation and elimination follow from
  the same dynamics (Yasumatsu et al. 2008, J Neurosci 28:13592).
* ``"moments"``: the fast quasi-likelihood: each transition between consecutive sessions
  in which the spine is present in both contributes
  :math:`w_1 \sim \mathcal N(m(\Delta t; w_0), V(\Delta t; w_0))` with the exact transition
  mean and variance of the SDE (see :mod:`spinefit.models.sde_moments`). Turnover is
  modelled apart: eliminations per interval are Binomial with probability
  :math:`1 - e^{-\lambda_e \Delta t}`, formations Poisson with mean :math:`\lambda_f n
  \Delta t`. It ignores the threshold and the noise, so it is biased where they matter.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.families import family_from_config, family_names
from spinefit.families.base import CORE_PRIOR_TEXT, PriorScales, SDEFamily, core_priors
from spinefit.families.dynamics import drift_fixed_points, tail_summary
from spinefit.io.transitions import transitions, turnover_intervals
from spinefit.models.base import SpineModel
from spinefit.models.family_comparison import (
    FAMILY_COMPARISON_ATTR,
    SPINE_LOG_LIKELIHOOD,
    compare_families,
    read_comparison,
)
from spinefit.models.grid_choice import AUTO, AutoGridSampling, check_grid_points
from spinefit.models.grid_resolution import latent_result_warnings
from spinefit.models.killed_grid import pytensor_namespace
from spinefit.models.latent_likelihood import (
    NOISE_MODELS,
    known_errors,
    prepare_for_config,
    prepare_latent,
    resolve_detection_limit,
)
from spinefit.models.latent_process import LATENT_PARAMETERS, add_latent_likelihood
from spinefit.models.moment_start import latent_start_hints
from spinefit.models.prior_scales import check_prior_scales
from spinefit.models.sde_moments import family_moments, linear_moments
from spinefit.models.turnover_counts import TURNOVER_COUNTS, add_turnover_counts
from spinefit.results.names import DATA_GROUP
from spinefit.sampling.compiled_cache import data as data_or_value
from spinefit.sampling.hints import attach as attach_hints
from spinefit.stats import curve_stats, observed_size_grid, parameter_stats

TURNOVER_PARAMETERS = ("formation_per_day", "elimination_per_day")
LIKELIHOODS = ("latent", "moments")


def _log_normal_sf(z):
    """Log P(Z > z) for a standard normal Z, stable in both tails."""
    return pm.logcdf(pm.Normal.dist(0.0, 1.0), -z)


def survival_log_weight(mean, var, threshold: float):
    r"""Log-weight that conditions a transition on the spine ending above detection.

    A spine is seen at the end of an interval only if its size is above the detection
    threshold :math:`\theta`, so each observed transition is weighted by
    :math:`1/P(w_1 > \theta) = 1/\bar\Phi((\theta - m)/\sqrt V)` (a truncated normal).
    Paths that dip below :math:`\theta` and come back within the interval are not
    excluded, so some selection bias near the threshold remains (see ARCHITECTURE.md).
    """
    return -_log_normal_sf((threshold - mean) / pt.sqrt(var))


def configure_family(model: SpineModel, scales: PriorScales) -> SDEFamily:
    """Fill in a model's family settings from the data; keep them and s on the model.

    The settings go to ``model.config["family_options"]`` (saved with the result, so the
    result rebuilds the same family) and s to ``model.size_scale``.
    """
    model.size_scale = scales.size
    family = model.family.configure(scales)
    model.config["family_options"] = dict(family.settings)
    return family


def _family_list(value: Any) -> list[str]:
    """Return ``compare_families`` as a list of known family names."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    names = list(value or [])
    unknown = [n for n in names if n not in family_names()]
    if unknown:
        raise ConfigError(
            f"compare_families: unknown famil{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(unknown)}; choose from {', '.join(family_names())}"
        )
    return names


def _comparison_entry(posterior: xr.Dataset) -> dict[str, Any]:
    table = read_comparison(posterior)
    return {"family_comparison": table} if table else {}


def record_family(tree: xr.DataTree, data: xr.Dataset, model: SpineModel) -> xr.DataTree:
    """Store s (``size_scale``) and each family parameter's ``units`` on the posterior."""
    posterior = tree["posterior"]
    posterior.attrs["size_scale"] = float(model.size_scale)
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    rates = {name: "1/day" for name in (*TURNOVER_PARAMETERS, "loss_per_day")}
    for name, text in (model.family.units(units) | rates).items():
        if name in posterior.data_vars:
            posterior[name].attrs["units"] = text
    return tree


PRIOR_SCALE_KEYS = ("size", "interval", "rate_variance", "min_size", "birth_median")
"""Keys of ``-o prior_scales``: the data summaries the latent model's priors are set from."""


def prior_scales_of(data: xr.Dataset, noise: str = "multiplicative") -> dict[str, float]:
    """Return the data summaries that set the latent model's priors (see ``prior_scales``).

    ``size`` s (the median observed size), ``interval`` T (the median interval, days),
    ``rate_variance`` v (of Δ(w/s)/√Δt), ``min_size`` (the smallest observed size, the
    centre of the threshold's prior) and ``birth_median`` (the centre of the birth law's
    prior: the geometric mean first size of new spines, or e^0.5 × ``min_size`` with fewer
    than 3), in volume units and days.
    """
    ld = prepare_latent(data, noise)
    trans = transitions(data)
    s = ld.scale
    scales = PriorScales.from_transitions(
        s, trans["w_start"].values / s, trans["w_end"].values / s, trans["dt_days"].values
    )
    return {
        "size": s,
        "interval": ld.median_interval,
        "rate_variance": scales.rate_var,
        "min_size": float(np.exp(ld.log_min_observed) * s),
        "birth_median": float(np.exp(ld.birth_prior_centre) * s),
    }


class DriftDiffusion(AutoGridSampling, SpineModel):
    r"""Langevin drift–diffusion model :math:`dw = (a + b w)dt + \sqrt{c + d w^2}\,dB`.

    Parameters
    ----------
    config : dict, optional
        ``family`` (a name of :func:`spinefit.families.family_names`; the family's own
        settings, e.g. ``n_basis`` of the spline, are options too and are kept in
        ``family_options``), ``pool_animals`` (partial pooling of a, b and log d across
        animals, non-centred), ``n_substeps`` (Runge–Kutta sub-steps per interval for
        families without exact moments), ``detection_threshold`` (None, "auto" or a size;
        see :meth:`detection_threshold`), ``detection_limit`` (latent likelihood: the size
        below which a living spine's measurement is not detected, so that an absent spine
        may be alive, see :mod:`spinefit.models.latent_detection_kernel`; default "auto",
        the data's limit (a long table's ``detection_limit`` column, as ``spinefit
        measure`` writes it) when it has one, else none; "none" reads every absence as a
        loss),
        ``prior_scales`` (latent likelihood: None to set
        the priors' scales from the data, or the values of :func:`prior_scales_of` of
        another data set, so that several fits share one prior; simulation-based
        calibration uses it to fit with exactly the prior the truth was drawn from),
        ``grid_top`` (latent likelihood: the reflecting top of the size grid, volume units;
        default 0.7 in log size above the largest observed size; with b > 0 the fitted
        dynamics depend on it), ``grid_points`` (latent likelihood: nodes of the size grid,
        16–400, or "auto", the default: 48 unless a pilot's noise needs more, see
        :mod:`spinefit.models.grid_choice`; the result's config holds the count used).
    """

    name = "drift-diffusion"
    condition_version = "drift-diffusion-conditions"
    data_kinds = (dims.KIND_TIME_SERIES,)
    default_config: dict[str, Any] = {
        "family": "linear",
        "family_options": {},
        "likelihood": "latent",
        "pool_animals": False,
        "n_substeps": 16,
        "detection_threshold": None,
        "detection_limit": "auto",
        "measurement_cv": None,
        "noise": "multiplicative",
        "measurement_error": "none",
        "grid_points": AUTO,
        "pointwise": False,
        "compare_families": [],
        "turnover_counts": "poisson",
        "prior_scales": None,
        "grid_top": None,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config, self.family = family_from_config(config)
        super().__init__(config)
        for key, allowed in (
            ("likelihood", LIKELIHOODS),
            ("noise", NOISE_MODELS),
            ("turnover_counts", TURNOVER_COUNTS),
        ):
            if self.config[key] not in allowed:
                raise ConfigError(
                    f"unknown drift-diffusion {key} '{self.config[key]}'; "
                    f"choose one of {', '.join(allowed)}"
                )
        self.config["compare_families"] = _family_list(self.config["compare_families"])
        if known_errors(self.config) and not self.latent:
            raise ConfigError("measurement_error=column needs the latent likelihood")
        if check_prior_scales(self.config["prior_scales"], PRIOR_SCALE_KEYS) and not self.latent:
            raise ConfigError("prior_scales needs the latent likelihood")
        if self.config["grid_top"] not in (None, "none", "auto") and not self.latent:
            raise ConfigError("grid_top needs the latent likelihood")
        if self.config["detection_limit"] not in (None, "none", "auto") and not self.latent:
            raise ConfigError("detection_limit needs the latent likelihood")
        if self.latent:
            self._check_latent_options()

    @property
    def latent(self) -> bool:
        """True when the killed, noisy latent-process likelihood is used."""
        return self.config["likelihood"] == "latent"

    @property
    def preferred_adaptation(self) -> str:
        """Return low_rank for the moments likelihood, diag for the latent one.

        The moments likelihood's a–b and c–d correlations cost the diagonal adaptation 2.6×
        the leapfrog steps on a 12 000-site panel. With the latent likelihood the low-rank
        one mixed worse after a short warm-up: exact SBC at 300 + 300, 200 replicates, had
        R-hat > 1.05 in 35 fits against 12, median min bulk ESS 88 against 130, and 94%
        coverage of birth_log_sd 0.885 (ARCHITECTURE.md, Sampling).
        """
        return "diag" if self.latent else "low_rank"

    def _check_latent_options(self) -> None:
        config = self.config
        if config["pool_animals"]:
            raise ConfigError(
                "pool_animals is only available with --likelihood moments; animals are "
                "nested in condition by the condition model"
            )
        for key in ("detection_threshold", "detection_limit", "measurement_cv"):
            value = config[key]
            if key == "detection_limit" and value == "auto":
                continue
            if value in (None, "none", "estimate"):
                config[key] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} takes a number (or 'estimate'), got {value!r}") from None
            if not (np.isfinite(number) and number >= 0) or (
                key != "measurement_cv" and number <= 0
            ):
                raise ConfigError(f"{key} must be a positive number, got {value!r}")
            config[key] = number
        config["grid_points"] = check_grid_points(config["grid_points"])
        config["prior_scales"] = check_prior_scales(config["prior_scales"], PRIOR_SCALE_KEYS)
        top = config["grid_top"]
        if top not in (None, "none", "auto"):
            try:
                top = float(top)
            except (TypeError, ValueError):
                top = float("nan")
            if not (np.isfinite(top) and top > 0):
                raise ConfigError(f"grid_top must be a positive size, got {config['grid_top']!r}")
            config["grid_top"] = top
        else:
            config["grid_top"] = None

    # -- specification -------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """Return the equation and priors for the report."""
        equation = self.family.equation
        priors = "; ".join(t for t in (CORE_PRIOR_TEXT, self.family.prior_text) if t)
        if self.config["pool_animals"]:
            priors += (
                "; per-animal offsets of a, b, log d ~ Normal(0, τ), τ ~ HalfNormal(0.5·scale)"
            )
        if self.latent:
            limit = self.config["detection_limit"]
            if limit is None:
                theta = "ln(θ/y_min) ~ Normal(−0.3, 0.3)"
            elif limit == "auto":
                theta = (
                    "ln(θ/θ_d) ~ Normal(−0.5, 0.5) below the data's detection limit θ_d, "
                    "else ln(θ/y_min) ~ Normal(−0.3, 0.3)"
                )
            else:
                theta = f"ln(θ/θ_d) ~ Normal(−0.5, 0.5) below the detection limit θ_d = {limit:g}"
            priors += (
                f"; θ: {theta} (or fixed); τ ~ HalfNormal(0.2) (or "
                "fixed); birth log-median ~ Normal(mean log size of new spines, 1), birth log "
                "SD ~ LogNormal(ln 0.5, 0.5); formation λ_b ~ Gamma(1, 1) per present spine "
                "per day; loss ~ HalfNormal(0.1) per day"
            )
            noise = (
                r"y = w\,e^{\varepsilon}"
                if self.config["noise"] == "multiplicative"
                else r"y = w + \varepsilon"
            )
            seen = (
                ""
                if limit is None
                else r"\text{seen iff } y \ge \theta_d \text{ (absent: dead or unseen)},\; "
            )
            likelihood = (
                r"\text{latent: } w \text{ killed at } \theta,\; "
                + seen
                + noise
                + r",\; \varepsilon \sim N(0, \tau^2);\; p(y_{1:n} \mid y_0) = "
                r"\sum_{\text{grid}} \prod_k p(y_k \mid w_k)\, "
                r"p_\theta(w_k, \text{alive} \mid w_{k-1})"
            )
        else:
            priors += "; turnover rates λ_e, λ_f ~ Gamma(1, 1) per day"
            likelihood = (
                r"\text{moments: } w_1 \sim N(m(\Delta t; w_0), V(\Delta t; w_0))"
                r"\text{ for spines present at both sessions}"
            )
        if self.config["turnover_counts"] == "overdispersed":
            priors += (
                "; overdispersed turnover counts: negative-binomial formations, φ ~ "
                "HalfNormal(1)"
                + ("" if self.latent else "; beta-binomial eliminations, ρ ~ HalfNormal(0.5)")
            )
        return {
            "title": "Drift–diffusion (Langevin) model",
            "equation": equation,
            "likelihood": likelihood,
            "priors": priors,
        }

    def prepare(self, data: xr.Dataset) -> xr.Dataset:
        """Take the detection limit from the data for ``detection_limit="auto"``.

        The saved config then holds the limit the fit used (None with the moments
        likelihood, which has no detection limit).
        """
        if self.latent:
            resolve_detection_limit(self.config, data)
        elif self.config["detection_limit"] == "auto":
            self.config["detection_limit"] = None
        return data

    def build(self, data: xr.Dataset) -> pm.Model:
        """Build the PyMC model from an ingested time-series Dataset."""
        if self.latent:
            return self._build_latent(data)
        return self._build_moments(data)

    def _build_latent(self, data: xr.Dataset) -> pm.Model:
        resolve_detection_limit(self.config, data)
        trans = transitions(data)
        if trans.sizes[dims.TRANSITION] < 5:
            raise DataError(
                f"only {trans.sizes[dims.TRANSITION]} transitions (consecutive sessions with "
                "the spine present in both); the drift-diffusion model needs at least 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        fixed = self.config["prior_scales"]
        ld = prepare_for_config(data, self.config)
        s = ld.scale
        scales = PriorScales.from_transitions(
            s,
            trans["w_start"].values / s,
            trans["w_end"].values / s,
            trans["dt_days"].values,
            interval=ld.median_interval,
        )
        if fixed:
            scales = dataclasses.replace(
                scales, interval=fixed["interval"], rate_var=fixed["rate_variance"]
            )
        family = configure_family(self, scales)
        coords = {dims.SPINE: data[dims.SPINE].values} | family.extra_coords()
        with pm.Model(coords=coords) as model:
            # The prior scales are data too (containers inside compiled_cache.reuse()).
            prior_scales = dataclasses.replace(
                scales,
                size=data_or_value("latent_size_unit", scales.size),
                interval=data_or_value("prior_interval", scales.interval),
                rate_var=data_or_value("prior_rate_variance", scales.rate_var),
            )
            params = core_priors(prior_scales) | family.extra_priors(prior_scales)
            xp = pytensor_namespace()
            add_latent_likelihood(
                ld,
                *family.size_functions(params, xp),
                self.config,
                self.config["pointwise"] or bool(self.config["compare_families"]),
            )
        # Every family shares the linear core a, b, c, d: its moment estimates start one
        # more optimisation of the robust start (spinefit.sampling.hints).
        hints = latent_start_hints(
            trans["w_start"].values, trans["w_end"].values, trans["dt_days"].values, s
        )
        attach_hints(model, hints)
        return model

    def _build_moments(self, data: xr.Dataset) -> pm.Model:
        trans = transitions(data)
        n = trans.sizes[dims.TRANSITION]
        if n < 5:
            raise DataError(
                f"only {n} transitions (consecutive sessions with the spine present in both); "
                "the drift-diffusion model needs at least 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        w0 = trans["w_start"].values
        w1 = trans["w_end"].values
        dt = trans["dt_days"].values
        intervals, interval_index = np.unique(np.round(dt, 9), return_inverse=True)

        scale_w = float(np.median(w0))
        scale_t = float(np.median(dt))
        rate_var = float(np.var((w1 - w0) / np.sqrt(dt))) or 1.0

        coords = {dims.TRANSITION: np.arange(n)}
        pool = self.config["pool_animals"]
        if pool:
            if dims.ANIMAL_ID not in data.coords:
                raise ConfigError("pool_animals needs an 'animal_id' column in the input")
            animal_of_spine = data[dims.ANIMAL_ID].values.astype(str)
            animals, animal_index_of_spine = np.unique(animal_of_spine, return_inverse=True)
            coords[dims.ANIMAL] = animals
            animal_index = animal_index_of_spine[trans["spine_index"].values]

        with pm.Model(coords=coords) as model:
            # Every number taken from the data goes through data_or_value: pm.Data when
            # compiled models are reused (batch, calibrate), so that one compile serves every
            # data set of this structure; a constant otherwise (spinefit.sampling.compiled_cache).
            w0_data = data_or_value("w_start", w0, dims=dims.TRANSITION)
            size_unit = data_or_value("size_unit", scale_w)
            time_unit = data_or_value("time_unit", scale_t)
            rate_unit = data_or_value("rate_variance_unit", rate_var)
            a = pm.Normal("a", 0.0, 2.0 * size_unit / time_unit)
            b = pm.Normal("b", 0.0, 2.0 / time_unit)
            c = pm.HalfNormal("c", 2.0 * rate_unit)
            d = pm.HalfNormal("d", 2.0 * rate_unit / size_unit**2)
            a_t, b_t, d_t = a, b, d
            if pool:
                tau_scale = pt.stack(
                    [pt.as_tensor(x) for x in (size_unit / time_unit, 1.0 / time_unit, 1.0)]
                )
                tau = pm.HalfNormal("tau", 0.5 * tau_scale)
                z = pm.Normal("animal_offset_z", 0.0, 1.0, dims=(dims.ANIMAL, "pooled_param"))
                offsets = z * tau
                a_animal = pm.Deterministic("a_animal", a + offsets[:, 0], dims=dims.ANIMAL)
                b_animal = pm.Deterministic("b_animal", b + offsets[:, 1], dims=dims.ANIMAL)
                d_animal = pm.Deterministic("d_animal", d * pt.exp(offsets[:, 2]), dims=dims.ANIMAL)
                animal_of = data_or_value("animal_of_transition", animal_index, dims.TRANSITION)
                a_t, b_t, d_t = (p[animal_of] for p in (a_animal, b_animal, d_animal))
                model.add_coord("pooled_param", ["a", "b", "log_d"])

            scales = PriorScales.from_transitions(scale_w, w0 / scale_w, w1 / scale_w, dt)
            family = configure_family(self, scales)
            for name, values in family.extra_coords().items():
                model.add_coord(name, values)
            extra = family.extra_priors(scales)
            if family.exact_linear_moments:
                index = None
                if len(intervals) > 1 or pool:
                    index = data_or_value("interval_index", interval_index, dims.TRANSITION)
                mean, var = linear_moments(
                    a_t,
                    b_t,
                    c,
                    d_t,
                    w0_data,
                    index,
                    data_or_value("intervals", intervals),
                    scale=size_unit,
                )
            else:
                params = {"a": a_t / scale_w, "b": b_t, "c": c / scale_w**2, "d": d_t} | extra
                xp = pytensor_namespace()
                mean, var = family_moments(
                    *family.size_functions(params, xp),
                    w0,
                    dt,
                    scale_w,
                    n_steps=self.config["n_substeps"],
                )
            threshold = self.detection_threshold(data)
            sd = pt.sqrt(var)
            w1_data = data_or_value("w_end_observed", w1, dims=dims.TRANSITION)
            pm.Normal("w_end", mu=mean, sigma=sd, observed=w1_data, dims=dims.TRANSITION)
            if threshold is not None:
                pm.Potential(
                    "survival_conditioning",
                    survival_log_weight(mean, var, threshold).sum(),
                )
            self._turnover_terms(data)
        return model

    def detection_threshold(self, data: xr.Dataset) -> float | None:
        """Return the size below which spines are not detected (None: no conditioning).

        Off by default: the plain likelihood uses every observed transition as it is. With
        ``"auto"`` (the smallest present size in the data) or a number, transitions are
        conditioned on ending above it (:func:`survival_log_weight`), which reduces the
        upward bias of small surviving spines when turnover is driven by additive noise near
        a hard detection limit, but over-corrects when the noise is mostly multiplicative
        (the normal transition density then puts mass below zero that real sizes lack).
        """
        value = self.config["detection_threshold"]
        if value is None or value == "none" or self.latent:
            return None
        if value == "auto":
            volume = data[dims.VOLUME].values
            return float(np.nanmin(volume))
        return float(value)

    def _turnover_terms(self, data: xr.Dataset) -> None:
        lam_e = pm.Gamma("elimination_per_day", alpha=1.0, beta=1.0)
        lam_f = pm.Gamma("formation_per_day", alpha=1.0, beta=1.0)
        add_turnover_counts(turnover_intervals(data), lam_e, lam_f, self.config["turnover_counts"])

    result_warnings = latent_result_warnings

    @classmethod
    def from_result(cls, tree: xr.DataTree) -> DriftDiffusion:
        """Rebuild the model of a result.

        Results saved before the latent likelihood existed (no ``likelihood`` in their
        config) were fitted with the moments likelihood.
        """
        config = json.loads(tree.attrs.get("spinefit_config", "{}"))
        model = cls({"likelihood": "moments"} | config)
        model.result = tree
        return model

    def family_in_size_units(self, draw: dict[str, Any], scale: float):
        """Return the fitted family's μ(x), σ²(x) in units of the median size (numpy).

        See :meth:`spinefit.families.base.SDEFamily.functions`.
        """
        return self.family.functions(draw, scale)

    # -- reading results -----------------------------------------------------------------
    def parameter_names(self, tree: xr.DataTree) -> dict[str, str]:
        """Return ``{public name: posterior variable}`` of the reported parameters."""
        names = list(self.family.parameter_names)
        if self.latent:
            names += [n for n in LATENT_PARAMETERS if n not in TURNOVER_PARAMETERS]
        if self.config["pool_animals"]:
            names += ["tau", "a_animal", "b_animal", "d_animal"]
        return {n: n for n in names}

    def curves(self, posterior: xr.Dataset, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Evaluate μ(w) and σ(w) for every posterior draw on ``grid``.

        Returns
        -------
        dict
            ``{"drift": DataArray(chain, draw, w), "diffusion": ...}`` in volume units per
            day and per √day.
        """
        scale = float(posterior.attrs.get("size_scale", 1.0))
        curves = self.family.curves(posterior, grid, scale)
        return {"drift": curves["drift"], "diffusion": np.sqrt(curves["variance"])}

    def default_grid(self, tree: xr.DataTree) -> np.ndarray:
        """Return 50 points spanning the observed sizes."""
        return observed_size_grid(tree)

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Record s and the parameters' units; compare families by LOO if asked.

        With ``compare_families`` the other families are fitted with the same options and
        settings (:mod:`spinefit.models.family_comparison`); the table is kept as a JSON
        attr and the pointwise log-likelihood is dropped unless ``pointwise`` was asked.
        """
        record_family(tree, data, self)
        others = self.config["compare_families"]
        if others:
            table = compare_families(tree, model, data, self, others)
            posterior = tree["posterior"].to_dataset()
            posterior.attrs[FAMILY_COMPARISON_ATTR] = json.dumps(table)
            if not self.config["pointwise"] and SPINE_LOG_LIKELIHOOD in posterior:
                posterior = posterior.drop_vars(SPINE_LOG_LIKELIHOOD)
            tree["posterior"] = xr.DataTree(dataset=posterior)
        return tree

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters, drift/diffusion curves and turnover rates."""
        posterior = tree["posterior"].to_dataset()
        grid_values = np.asarray(grid, dtype=float) if grid else self.default_grid(tree)
        curves = self.curves(posterior, grid_values)
        data = tree[DATA_GROUP].to_dataset()
        trans = transitions(data)
        units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        return (
            {
                "parameters": parameter_stats(posterior, self.parameter_names(tree)),
                "curves": {
                    "drift": curve_stats(curves["drift"], dims.SIZE_GRID)
                    | {"units": f"{units}/day"},
                    "diffusion": curve_stats(curves["diffusion"], dims.SIZE_GRID)
                    | {"units": f"{units}/sqrt(day)"},
                },
                "turnover": parameter_stats(
                    posterior,
                    {
                        "formation_per_day": "formation_per_day",
                        "elimination_per_day": "elimination_per_day",
                    },
                )
                | {
                    "counts": {
                        k: int(v)
                        for k, v in turnover_intervals(data).sum().items()
                        if k != "dt_days"
                    }
                },
                "data": {
                    "spines": int(data.sizes[dims.SPINE]),
                    "sessions": int(data.sizes[dims.SESSION]),
                    "transitions": int(trans.sizes[dims.TRANSITION]),
                    "volume_units": units,
                },
                "likelihood": self.config["likelihood"],
                "family": self.family.name,
            }
            | self.dynamics_summary(tree)
            | _comparison_entry(posterior)
        )

    def dynamics_summary(self, tree: xr.DataTree) -> dict[str, Any]:
        """Return ``fixed_points`` of μ(w) in the observed range and the stationary ``tail``."""
        posterior = tree["posterior"].to_dataset()
        observed = tree[DATA_GROUP][dims.VOLUME].to_numpy()
        observed = observed[np.isfinite(observed) & (observed > 0)]
        scale = float(posterior.attrs.get("size_scale", 1.0))
        size_range = (float(observed.min()), float(observed.max()))
        return {
            "fixed_points": drift_fixed_points(self.family, posterior, size_range, scale),
            "tail": tail_summary(self.family, posterior, size_range[1], scale),
        }
