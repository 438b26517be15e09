r"""Drift–diffusion (Langevin) model of spine-size dynamics.

.. math::

    dw = \mu(w)\,dt + \sigma(w)\,dB

Default (``family="linear"``): :math:`\mu(w) = a + b w`, :math:`\sigma^2(w) = c + d w^2`
with :math:`c, d \ge 0`, the continuous-time Kesten process with additive plus
multiplicative noise (Statman et al. 2014, PLoS Comput Biol; Hazan & Ziv 2020,
J Neurosci). Flexible (``family="power"``): :math:`\mu(w) = a + b w^{\beta}`,
:math:`\sigma^2(w) = c + d w^{\gamma}`; the linear family is :math:`\beta = 1,
\gamma = 2`, so the posteriors of :math:`\beta` and :math:`\gamma` test it.

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

import json
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.transitions import transitions, turnover_intervals
from spinefit.models.base import DATA_GROUP, SpineModel
from spinefit.models.latent_likelihood import NOISE_MODELS, known_errors, prepare_latent
from spinefit.models.latent_process import LATENT_PARAMETERS, add_latent_likelihood
from spinefit.models.sde_moments import linear_moments, rk4_moments
from spinefit.stats import curve_stats, observed_size_grid, parameter_stats

FAMILIES = ("linear", "power")
TURNOVER_PARAMETERS = ("formation_per_day", "elimination_per_day")
LIKELIHOODS = ("latent", "moments")


def family_functions(family: str, params: dict[str, Any], scale: float):
    r"""Return :math:`\mu(x)` and :math:`\sigma^2(x)` in units of the median size s.

    Parameters
    ----------
    family : {"linear", "power"}
        SDE family.
    params : dict
        a, b, c, d (data units) and, for the power family, beta and gamma (numbers or
        PyTensor variables).
    scale : float
        s, the size unit (x = w/s): :math:`\mu_s(x) = \mu(s x)/s`,
        :math:`\sigma^2_s(x) = \sigma^2(s x)/s^2`.

    Returns
    -------
    drift, variance : callable
    """
    a_s, b, c_s, d = params["a"] / scale, params["b"], params["c"] / scale**2, params["d"]
    if family == "power":
        beta, gamma = params["beta"], params["gamma"]
        return (lambda x: a_s + b * x**beta), (lambda x: c_s + d * x**gamma)
    return (lambda x: a_s + b * x), (lambda x: c_s + d * x**2)


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


class DriftDiffusion(SpineModel):
    r"""Langevin drift–diffusion model :math:`dw = (a + b w)dt + \sqrt{c + d w^2}\,dB`.

    Parameters
    ----------
    config : dict, optional
        ``family`` ("linear" or "power"), ``pool_animals`` (partial pooling of a, b and
        log d across animals, non-centred), ``n_substeps`` (Runge–Kutta sub-steps per
        interval for the power family and pooled fits), ``detection_threshold`` (None,
        "auto" or a size; see :meth:`detection_threshold`).
    """

    name = "drift-diffusion"
    data_kinds = (dims.KIND_TIME_SERIES,)
    default_config: dict[str, Any] = {
        "family": "linear",
        "likelihood": "latent",
        "pool_animals": False,
        "n_substeps": 16,
        "detection_threshold": None,
        "measurement_cv": None,
        "noise": "multiplicative",
        "measurement_error": "none",
        "grid_points": 48,
        "pointwise": False,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        for key, allowed in (
            ("family", FAMILIES),
            ("likelihood", LIKELIHOODS),
            ("noise", NOISE_MODELS),
        ):
            if self.config[key] not in allowed:
                raise ConfigError(
                    f"unknown drift-diffusion {key} '{self.config[key]}'; "
                    f"choose one of {', '.join(allowed)}"
                )
        if known_errors(self.config) and not self.latent:
            raise ConfigError("measurement_error=column needs the latent likelihood")
        if self.latent:
            self._check_latent_options()

    @property
    def latent(self) -> bool:
        """True when the killed, noisy latent-process likelihood is used."""
        return self.config["likelihood"] == "latent"

    def _check_latent_options(self) -> None:
        config = self.config
        if config["pool_animals"]:
            raise ConfigError(
                "pool_animals is only available with --likelihood moments; animals are "
                "nested in condition by the condition model"
            )
        for key in ("detection_threshold", "measurement_cv"):
            value = config[key]
            if value in (None, "none", "estimate"):
                config[key] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} takes a number (or 'estimate'), got {value!r}") from None
            if not (np.isfinite(number) and number >= 0) or (
                key == "detection_threshold" and number <= 0
            ):
                raise ConfigError(f"{key} must be a positive number, got {value!r}")
            config[key] = number
        points = int(config["grid_points"])
        if not 16 <= points <= 400:
            raise ConfigError(f"grid_points must be between 16 and 400, got {points}")
        config["grid_points"] = points

    # -- specification -------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """Return the equation and priors for the report."""
        if self.config["family"] == "power":
            equation = r"dw = (a + b\,w^{\beta})\,dt + \sqrt{c + d\,w^{\gamma}}\,dB"
        else:
            equation = r"dw = (a + b\,w)\,dt + \sqrt{c + d\,w^{2}}\,dB"
        priors = (
            "s = median observed size, T = median interval, v = variance of Δw/√Δt. "
            "a ~ Normal(0, 2s/T); b ~ Normal(0, 2/T); c ~ HalfNormal(2v); d ~ HalfNormal(2v/s²)"
        )
        if self.config["family"] == "power":
            priors += "; β ~ Gamma(mean 1, sd 0.5); γ ~ Gamma(mean 2, sd 1)"
        if self.config["pool_animals"]:
            priors += (
                "; per-animal offsets of a, b, log d ~ Normal(0, τ), τ ~ HalfNormal(0.5·scale)"
            )
        if self.latent:
            priors += (
                "; θ: ln(θ/y_min) ~ Normal(−0.3, 0.3) (or fixed); τ ~ HalfNormal(0.2) (or "
                "fixed); birth log-median ~ Normal(mean log size of new spines, 1), birth log "
                "SD ~ HalfNormal(1); formation λ_b ~ Gamma(1, 1) per present spine per day; "
                "loss ~ HalfNormal(0.1) per day"
            )
            noise = (
                r"y = w\,e^{\varepsilon}"
                if self.config["noise"] == "multiplicative"
                else r"y = w + \varepsilon"
            )
            likelihood = (
                r"\text{latent: } w \text{ killed at } \theta,\; "
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
        return {
            "title": "Drift–diffusion (Langevin) model",
            "equation": equation,
            "likelihood": likelihood,
            "priors": priors,
        }

    def build(self, data: xr.Dataset) -> pm.Model:
        """Build the PyMC model from an ingested time-series Dataset."""
        if self.latent:
            return self._build_latent(data)
        return self._build_moments(data)

    def _build_latent(self, data: xr.Dataset) -> pm.Model:
        trans = transitions(data)
        if trans.sizes[dims.TRANSITION] < 5:
            raise DataError(
                f"only {trans.sizes[dims.TRANSITION]} transitions (consecutive sessions with "
                "the spine present in both); the drift-diffusion model needs at least 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        ld = prepare_latent(data, self.config["noise"], measurement_error=known_errors(self.config))
        s, t = ld.scale, ld.median_interval
        x0, x1 = trans["w_start"].values / s, trans["w_end"].values / s
        rate_var = float(np.var((x1 - x0) / np.sqrt(trans["dt_days"].values))) or 1.0
        with pm.Model(coords={dims.SPINE: data[dims.SPINE].values}) as model:
            # Sampled in units of the median size so the posterior geometry (and hence
            # every draw) is the same whatever the volume units.
            a_scaled = pm.Normal("a_scaled", 0.0, 2.0 / t)
            b = pm.Normal("b", 0.0, 2.0 / t)
            c_scaled = pm.HalfNormal("c_scaled", 2.0 * rate_var)
            d = pm.HalfNormal("d", 2.0 * rate_var)
            params = {
                "a": pm.Deterministic("a", a_scaled * s),
                "b": b,
                "c": pm.Deterministic("c", c_scaled * s**2),
                "d": d,
            }
            if self.config["family"] == "power":
                params["beta"] = pm.Gamma("beta", mu=1.0, sigma=0.5)
                params["gamma"] = pm.Gamma("gamma", mu=2.0, sigma=1.0)
            drift, variance = family_functions(self.config["family"], params, s)
            add_latent_likelihood(ld, drift, variance, self.config, self.config["pointwise"])
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
            a = pm.Normal("a", 0.0, 2.0 * scale_w / scale_t)
            b = pm.Normal("b", 0.0, 2.0 / scale_t)
            c = pm.HalfNormal("c", 2.0 * rate_var)
            d = pm.HalfNormal("d", 2.0 * rate_var / scale_w**2)
            a_t, b_t, d_t = a, b, d
            if pool:
                tau = pm.HalfNormal("tau", 0.5 * np.array([scale_w / scale_t, 1 / scale_t, 1.0]))
                z = pm.Normal("animal_offset_z", 0.0, 1.0, dims=(dims.ANIMAL, "pooled_param"))
                offsets = z * tau
                a_animal = pm.Deterministic("a_animal", a + offsets[:, 0], dims=dims.ANIMAL)
                b_animal = pm.Deterministic("b_animal", b + offsets[:, 1], dims=dims.ANIMAL)
                d_animal = pm.Deterministic("d_animal", d * pt.exp(offsets[:, 2]), dims=dims.ANIMAL)
                a_t, b_t, d_t = (p[animal_index] for p in (a_animal, b_animal, d_animal))
                model.add_coord("pooled_param", ["a", "b", "log_d"])

            if self.config["family"] == "power":
                beta = pm.Gamma("beta", mu=1.0, sigma=0.5)
                gamma = pm.Gamma("gamma", mu=2.0, sigma=1.0)
                u = scale_w  # sizes enter as w/s so that a, b, c, d keep their units
                mean, var = rk4_moments(
                    lambda w: a_t + b_t * u * (pt.maximum(w, 1e-6) / u) ** beta,
                    lambda w: b_t * beta * (pt.maximum(w, 1e-6) / u) ** (beta - 1.0),
                    lambda w: (
                        b_t * beta * (beta - 1.0) / u * (pt.maximum(w, 1e-6) / u) ** (beta - 2.0)
                    ),
                    lambda w: c + d_t * u**2 * (pt.maximum(w, 1e-6) / u) ** gamma,
                    lambda w: (
                        d_t * gamma * (gamma - 1.0) * (pt.maximum(w, 1e-6) / u) ** (gamma - 2.0)
                    ),
                    w0,
                    dt,
                    n_steps=self.config["n_substeps"],
                )
                var = pt.maximum(var, 1e-12)
            else:
                mean, var = linear_moments(a_t, b_t, c, d_t, w0, interval_index, intervals)
            threshold = self.detection_threshold(data)
            sd = pt.sqrt(var)
            pm.Normal("w_end", mu=mean, sigma=sd, observed=w1, dims=dims.TRANSITION)
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

    @staticmethod
    def _turnover_terms(data: xr.Dataset) -> None:
        table = turnover_intervals(data)
        at_risk = table["present_start"].values
        interval = table["dt_days"].values
        lam_e = pm.Gamma("elimination_per_day", alpha=1.0, beta=1.0)
        lam_f = pm.Gamma("formation_per_day", alpha=1.0, beta=1.0)
        pm.Binomial(
            "eliminations",
            n=at_risk,
            p=1.0 - pt.exp(-lam_e * interval),
            observed=table["eliminated"].values,
        )
        pm.Poisson("formations", mu=lam_f * at_risk * interval, observed=table["formed"].values)

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
        """Return the fitted family's μ(x), σ²(x) in units of the median size.

        See :func:`family_functions`.
        """
        return family_functions(self.config["family"], draw, scale)

    # -- reading results -----------------------------------------------------------------
    def parameter_names(self, tree: xr.DataTree) -> dict[str, str]:
        """Return ``{public name: posterior variable}`` of the reported parameters."""
        names = ["a", "b", "c", "d"]
        if self.config["family"] == "power":
            names += ["beta", "gamma"]
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
        w = xr.DataArray(grid, dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
        a, b, c, d = (posterior[v] for v in "abcd")
        if self.config["family"] == "power":
            u = float(posterior.attrs.get("size_scale", 1.0))
            wp = np.maximum(w, 1e-6) / u
            drift = a + b * u * wp ** posterior["beta"]
            variance = c + d * u**2 * wp ** posterior["gamma"]
        else:
            drift = a + b * w
            variance = c + d * w**2
        return {"drift": drift, "diffusion": np.sqrt(variance)}

    def default_grid(self, tree: xr.DataTree) -> np.ndarray:
        """Return 50 points spanning the observed sizes."""
        return observed_size_grid(tree)

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Record the size scale used by the power family."""
        trans = transitions(data)
        tree["posterior"].attrs["size_scale"] = float(np.median(trans["w_start"].values))
        return tree

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters, drift/diffusion curves and turnover rates."""
        posterior = tree["posterior"].to_dataset()
        grid_values = np.asarray(grid, dtype=float) if grid else self.default_grid(tree)
        curves = self.curves(posterior, grid_values)
        data = tree[DATA_GROUP].to_dataset()
        trans = transitions(data)
        units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        return {
            "parameters": parameter_stats(posterior, self.parameter_names(tree)),
            "curves": {
                "drift": curve_stats(curves["drift"], dims.SIZE_GRID) | {"units": f"{units}/day"},
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
                    k: int(v) for k, v in turnover_intervals(data).sum().items() if k != "dt_days"
                }
            },
            "data": {
                "spines": int(data.sizes[dims.SPINE]),
                "sessions": int(data.sizes[dims.SESSION]),
                "transitions": int(trans.sizes[dims.TRANSITION]),
                "volume_units": units,
            },
            "likelihood": self.config["likelihood"],
        }

    def report_sections(self, tree: xr.DataTree) -> list:
        """Return the drift/diffusion, size-distribution and turnover sections."""
        from spinefit.report.drift_diffusion import drift_diffusion_sections

        return drift_diffusion_sections(self, tree)
