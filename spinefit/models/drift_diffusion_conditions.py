r"""Drift–diffusion model with condition-specific parameters (genotypes, treatments, cell types).

For condition :math:`k` (e.g. WT, KO) and a spine of animal :math:`j` in that condition,

.. math::

    dw = (a_{kj} + b_{kj} w)\,dt + \sqrt{c_k + d_{kj} w^2}\,dB,

    (a, b, \log c, \log d, \log\lambda)_{kj} = (a, b, \log c, \log d, \log\lambda)_k
    + \omega \odot u_j,\qquad u \sim \mathcal N(0, 1),

the linear Kesten family of :class:`~spinefit.models.drift_diffusion.DriftDiffusion`
(Statman et al. 2014; Hazan & Ziv 2020). Condition parameters get the single-condition
priors independently (no pooling across conditions): with two or three conditions a
between-condition scale is not identified and its funnel makes NUTS diverge. From four
conditions on (or ``pool_conditions=True``) they are partially pooled around a population
mean, :math:`a_k = \bar a + \tau_a z^a_k` (zero-sum :math:`z`, non-centred; likewise
:math:`b`, :math:`\log c`, :math:`\log d`). When ``animal_id`` is present, animals are
nested within condition: the partial pooling is where it is identified, across animals.
Turnover (λ: the formation rate and the loss hazard of the latent likelihood, or the
elimination and formation rates of the moments likelihood) is estimated per condition,
with animal offsets too, so that every contrasted parameter is compared against
animal-to-animal variation. ``turnover_counts="overdispersed"`` makes the count
likelihoods negative binomial (and beta-binomial), see
:mod:`spinefit.models.turnover_counts`.

The LOO baseline ("pooled") is this same model fitted with every spine in one condition:
same priors, same animal structure, so ``elpd_diff`` measures the condition effects only.

Unit of replication. Spines of one animal share its physiology, so treating spines as
independent replicates overstates the evidence for a condition difference
(pseudo-replication). With animal offsets, the condition means are compared against the
between-animal spread :math:`\omega`, so a difference has to exceed animal-to-animal
variation to be credible. Without ``animal_id`` (or with fewer than 2 animals per
condition) the unit of replication is the spine and contrasts are only as trustworthy as
that assumption.

"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.families import family_from_config
from spinefit.families.base import PriorScales, condition_prior_table
from spinefit.families.curves import curve_draws
from spinefit.io.transitions import imaged_by_group, transitions, turnover_intervals
from spinefit.models.base import SpineModel, sample_model
from spinefit.models.condition_quantities import (
    DEFAULT_PRIMARY,
    DERIVED,
    OMITTED_ATTR,
    REFERENCE_SIZE_ATTR,
    derived_draws,
    reference_size,
)
from spinefit.models.drift_diffusion import DriftDiffusion, configure_family, record_family
from spinefit.models.family_comparison import pointwise_loo
from spinefit.models.grid_choice import AUTO, AutoGridSampling
from spinefit.models.grid_resolution import latent_result_warnings
from spinefit.models.killed_grid import pytensor_namespace
from spinefit.models.latent_likelihood import (
    known_errors,
    prepare_latent,
    resolve_detection_limit,
)
from spinefit.models.latent_process import LatentPart, add_grouped_latent_likelihood
from spinefit.models.moment_start import condition_start_hints
from spinefit.models.sde_moments import family_moments, linear_moments
from spinefit.models.turnover_counts import add_turnover_counts
from spinefit.results import default_reference, loo_record
from spinefit.results.names import (
    CONTRAST_VARS_ATTR,
    DATA_GROUP,
    LOO_ATTR,
    PRIMARY_ATTR,
    REFERENCE_ATTR,
)
from spinefit.sampling.hints import attach as attach_hints
from spinefit.stats import curve_stats, observed_size_grid, parameter_stats

CONDITION_PARAMS = ("a", "b", "log_c", "log_d")
CONTRASTED = ("a", "b", "c", "d", "elimination_per_day", "formation_per_day")
"""Posterior variables :mod:`spinefit.compare` contrasts between conditions."""
MIN_POOLED_CONDITIONS = 4
"""With fewer conditions a between-condition scale is not identified; use separate priors."""
LATENT_ANIMAL_PARAMS = ("a", "b", "log_c", "log_d", "log_formation", "log_loss")
"""Animal offsets with the latent likelihood: drift, both noise terms and both turnover hazards."""
MOMENTS_ANIMAL_PARAMS = ("a", "b", "log_c", "log_d", "log_elimination", "log_formation")
"""Animal offsets with the moments likelihood (turnover rates of the count likelihood)."""
POOLED_LABEL = "pooled"
"""Condition label of every spine in the matched pooled model of the LOO comparison."""
POOLED_DESCRIPTION = (
    "the same model with one condition: every spine labelled '{label}', the same priors, "
    "the same animal offsets ({animals}) and one set of turnover parameters"
)
LATENT_OPTIONS = (
    "likelihood",
    "detection_threshold",
    "detection_limit",
    "measurement_cv",
    "noise",
    "grid_points",
    "family",
    "family_options",
    "turnover_counts",
)
"""Options shared with the single-population model (and its pooled LOO fit)."""


def condition_labels(data: xr.Dataset, by: str) -> np.ndarray:
    """Return the condition label of every spine (str), or raise ConfigError."""
    if by not in data.coords or dims.SPINE not in data[by].dims:
        available = [
            name
            for name, coord in data.coords.items()
            if coord.dims == (dims.SPINE,) and name != dims.SPINE
        ]
        raise ConfigError(
            f"no per-spine '{by}' column to group by; available: {', '.join(available) or 'none'}"
        )
    return data[by].values.astype(str)


class ConditionalDriftDiffusion(AutoGridSampling, SpineModel):
    r"""Drift–diffusion with condition-specific :math:`a, b, c, d` and turnover rates.

    Parameters
    ----------
    config : dict, optional
        ``by`` (per-spine coordinate holding the condition, default ``"condition"``),
        ``pool_animals`` (``"auto"``: animals nested in condition when ``animal_id`` is
        present with at least 2 animals in every condition; or True/False),
        ``pool_conditions`` (``"auto"``: partial pooling of condition effects from 4
        conditions on; or True/False),
        ``reference`` (label contrasts are taken against; default a WT/control-like label,
        else the first sorted label, see :func:`spinefit.results.default_reference`),
        ``loo`` (also fit the matched pooled model and store the LOO comparison),
        ``turnover_counts`` (``"poisson"`` or ``"overdispersed"``), ``replicate`` (the
        per-spine column whose groups get offsets: ``animal_id`` by default, or e.g.
        ``dendrite_id`` when animals are not recorded),
        ``primary_contrasts`` (the quantities findings come from; default
        :data:`~spinefit.models.condition_quantities.DEFAULT_PRIMARY`).
    """

    name = "drift-diffusion-conditions"
    fits_conditions = True
    data_kinds = (dims.KIND_TIME_SERIES,)
    default_config: dict[str, Any] = {
        "by": dims.CONDITION_LABEL,
        "pool_animals": "auto",
        "pool_conditions": "auto",
        "reference": None,
        "loo": True,
        "family": "linear",
        "family_options": {},
        "n_substeps": 16,
        "likelihood": "latent",
        "detection_threshold": None,
        "detection_limit": "auto",
        "measurement_cv": None,
        "noise": "multiplicative",
        "measurement_error": "none",
        "grid_points": AUTO,
        "turnover_counts": "poisson",
        "primary_contrasts": list(DEFAULT_PRIMARY),
        "replicate": dims.ANIMAL_ID,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config, self.family = family_from_config(config)
        super().__init__(config)
        for option in ("pool_animals", "pool_conditions"):
            if self.config[option] not in ("auto", True, False):
                raise ConfigError(f"{option} must be 'auto', true or false")
        # The single-population model validates and normalises the likelihood options.
        self.single = DriftDiffusion({k: self.config[k] for k in LATENT_OPTIONS})
        self.config.update({k: self.single.config[k] for k in LATENT_OPTIONS})
        self.config["primary_contrasts"] = _name_list(self.config["primary_contrasts"])
        unknown = set(self.config["primary_contrasts"]) - set(CONTRASTED) - set(DERIVED)
        if unknown:
            raise ConfigError(
                f"unknown primary contrast(s) {', '.join(sorted(unknown))}; choose from "
                f"{', '.join((*CONTRASTED, *DERIVED))}"
            )

    result_warnings = latent_result_warnings

    @classmethod
    def from_result(cls, tree: xr.DataTree) -> ConditionalDriftDiffusion:
        """Rebuild the model of a result.

        Results that predate the latent likelihood were fitted with the moments one.
        """
        config = json.loads(tree.attrs.get("spinefit_config", "{}"))
        model = cls({"likelihood": "moments"} | config)
        model.result = tree
        return model

    @property
    def latent(self) -> bool:
        """True when the killed, noisy latent-process likelihood is used."""
        return self.config["likelihood"] == "latent"

    # -- specification -------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """Return the equation and priors for the report."""
        return {
            "title": "Drift–diffusion model by condition",
            "equation": r"dw = (a_k + b_k\,w)\,dt + \sqrt{c_k + d_k\,w^{2}}\,dB",
            "priors": (
                "s = median size, T = median interval, v = variance of Δw/√Δt. "
                "Per condition (independently below 4 conditions): a ~ Normal(0, 2s/T), "
                "b ~ Normal(0, 2/T), log c ~ Normal(log v, 2), log d ~ Normal(log(v/s²), 2); "
                "from 4 conditions: population means with these priors plus zero-sum "
                "offsets ~ Normal(0, τ), τ ~ HalfNormal(s/T, 1/T, 1, 1); "
                "animal offsets of a, b, log c, log d and the log turnover hazards within "
                "condition ~ Normal(0, ω), ω ~ HalfNormal(0.5·scale); turnover rates ~ "
                "Gamma(1, 1) per day per condition"
            ),
        }

    def pools_animals(self, data: xr.Dataset, conditions: np.ndarray) -> bool:
        """Return whether animal offsets are used (resolving ``pool_animals="auto"``)."""
        setting = self.config["pool_animals"]
        if setting is False:
            return False
        column = self.config["replicate"]
        has_animals = column in data.coords and data[column].dims == (dims.SPINE,)
        if column != dims.ANIMAL_ID and not has_animals:
            raise ConfigError(
                f"replicate: no per-spine '{column}' column in the input (e.g. animal_id, "
                "dendrite_id)"
            )
        if setting is True and not has_animals:
            raise ConfigError(f"pool_animals needs an '{column}' column in the input")
        if not has_animals:
            return False
        animals = data[column].values.astype(str)
        enough = all(len(np.unique(animals[conditions == k])) >= 2 for k in np.unique(conditions))
        return enough or setting is True

    def prepare(self, data: xr.Dataset) -> xr.Dataset:
        """Mark sessions a condition did not image, so they are not read as absence.

        The transitions, turnover and the pooled model of the LOO comparison then all use
        the same consecutive imaged sessions of each condition. The detection limit
        "auto" becomes the data's (see :meth:`DriftDiffusion.prepare`).
        """
        data = imaged_by_group(data, condition_labels(data, self.config["by"]))
        self.single.prepare(data)
        self.config["detection_limit"] = self.single.config["detection_limit"]
        return data

    def build(self, data: xr.Dataset) -> pm.Model:
        """Build the PyMC model from an ingested time-series Dataset with a condition coord."""
        if self.latent:
            return self._build_latent(data)
        return self._build_moments(data)

    def _build_latent(self, data: xr.Dataset) -> pm.Model:
        """Latent-process likelihood: one killed process per animal (or condition), shared θ, τ."""
        resolve_detection_limit(self.config, data)
        conditions = condition_labels(data, self.config["by"])
        labels, condition_of_spine = np.unique(conditions, return_inverse=True)
        self._check_reference(labels)
        reference = prepare_latent(
            data, self.config["noise"], measurement_error=known_errors(self.config)
        )
        s, t = reference.scale, reference.median_interval
        trans = transitions(data)
        if trans.sizes[dims.TRANSITION] < 5:
            raise DataError(
                f"only {trans.sizes[dims.TRANSITION]} transitions; the drift-diffusion model "
                "needs at least 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        scales = PriorScales.from_transitions(
            s,
            trans["w_start"].values / s,
            trans["w_end"].values / s,
            trans["dt_days"].values,
            interval=t,
        )
        family = configure_family(self, scales)
        coords: dict[str, Any] = {
            dims.CONDITION: labels,
            dims.CONDITION_PARAM: list(CONDITION_PARAMS),
            dims.SPINE: data[dims.SPINE].values,
        } | family.extra_coords()
        pool, group_of_spine, condition_of_group = self._groups(
            data, conditions, condition_of_spine, coords, LATENT_ANIMAL_PARAMS
        )
        with pm.Model(coords=coords) as model:
            priors = condition_prior_table(scales)
            if pooled := self.pools_conditions(len(labels)):
                a_s, b, log_c, log_d = self._pooled_condition_params(priors, 1.0, t)
                b = pm.Deterministic("b", b, dims=dims.CONDITION)
            else:
                a_s, b, log_c, log_d = (
                    pm.Normal(name if name != "a" else "a_scaled", mean, sd, dims=dims.CONDITION)
                    for name, (mean, sd) in priors.items()
                )
            pm.Deterministic("a", a_s * s, dims=dims.CONDITION)
            pm.Deterministic("c", pt.exp(log_c) * s**2, dims=dims.CONDITION)
            pm.Deterministic("d", pt.exp(log_d), dims=dims.CONDITION)
            extra = family.extra_priors(scales, dim=dims.CONDITION)
            k = condition_of_group
            group_a, group_b, group_log_c, group_log_d = a_s[k], b[k], log_c[k], log_d[k]
            offsets = None
            if pool:
                offsets = _animal_offsets([1.0 / t, 1.0 / t, 1.0, 1.0, 1.0, 1.0])
                group_a = group_a + offsets[:, 0]
                group_b = group_b + offsets[:, 1]
                group_log_c = group_log_c + offsets[:, 2]
                group_log_d = group_log_d + offsets[:, 3]
            xp = pytensor_namespace()
            parts = []
            for g in range(len(condition_of_group)):
                rows = np.flatnonzero(group_of_spine == g)
                part_data = data.isel({dims.SPINE: rows})
                ld = prepare_latent(
                    part_data,
                    self.config["noise"],
                    scale=s,
                    log_top=reference.log_top,
                    measurement_error=known_errors(self.config),
                )
                params = {
                    "a": group_a[g],
                    "b": group_b[g],
                    "c": pt.exp(group_log_c[g]),
                    "d": pt.exp(group_log_d[g]),
                } | {name: value[k[g]] for name, value in extra.items()}
                parts.append(
                    LatentPart(
                        ld,
                        *family.size_functions(params, xp),
                        turnover_index=int(k[g]),
                        spine_rows=rows,
                        formation_log_offset=0.0 if offsets is None else offsets[g, 4],
                        loss_log_offset=0.0 if offsets is None else offsets[g, 5],
                    )
                )
            add_grouped_latent_likelihood(
                parts,
                reference,
                self.config,
                turnover_dim=dims.CONDITION,
                pointwise=bool(self.config["loo"]),
            )
        # Moment estimates per condition start one more optimisation of the robust start.
        log_floor = priors["log_c"][0] - 2.0 * priors["log_c"][1]
        attach_hints(
            model,
            condition_start_hints(
                trans["w_start"].values,
                trans["w_end"].values,
                trans["dt_days"].values,
                s,
                condition_of_spine[trans["spine_index"].values],
                len(labels),
                pooled=pooled,
                log_floor=log_floor,
            ),
        )
        return model

    def _check_reference(self, labels: np.ndarray) -> None:
        reference = self.config["reference"]
        if reference is not None and str(reference) not in labels:
            raise ConfigError(
                f"reference condition '{reference}' not in the data; labels: {', '.join(labels)}"
            )

    def _build_moments(self, data: xr.Dataset) -> pm.Model:
        conditions = condition_labels(data, self.config["by"])
        labels, condition_of_spine = np.unique(conditions, return_inverse=True)
        self._check_reference(labels)
        trans = transitions(data)
        n = trans.sizes[dims.TRANSITION]
        if n < 5:
            raise DataError(
                f"only {n} transitions; the drift-diffusion model needs at least 5",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        spine_index = trans["spine_index"].values
        condition_index = condition_of_spine[spine_index]
        w0 = trans["w_start"].values
        w1 = trans["w_end"].values
        dt = trans["dt_days"].values
        scale_w = float(np.median(w0))
        scale_t = float(np.median(dt))
        rate_var = float(np.var((w1 - w0) / np.sqrt(dt))) or 1.0

        coords: dict[str, Any] = {
            dims.TRANSITION: np.arange(n),
            dims.CONDITION: labels,
            dims.CONDITION_PARAM: list(CONDITION_PARAMS),
        }
        pool, group_of_spine, condition_of_group = self._groups(
            data, conditions, condition_of_spine, coords, MOMENTS_ANIMAL_PARAMS
        )

        pool_conditions = self.pools_conditions(len(labels))
        scales = PriorScales.from_transitions(scale_w, w0 / scale_w, w1 / scale_w, dt)
        family = configure_family(self, scales)
        coords |= family.extra_coords()
        with pm.Model(coords=coords) as model:
            priors = {
                "a": (0.0, 2.0 * scale_w / scale_t),
                "b": (0.0, 2.0 / scale_t),
                "log_c": (np.log(rate_var), 2.0),
                "log_d": (np.log(rate_var / scale_w**2), 2.0),
            }
            if pool_conditions:
                a, b, log_c, log_d = self._pooled_condition_params(priors, scale_w, scale_t)
                a = pm.Deterministic("a", a, dims=dims.CONDITION)
                b = pm.Deterministic("b", b, dims=dims.CONDITION)
            else:
                a, b, log_c, log_d = (
                    pm.Normal(name, mean, sd, dims=dims.CONDITION)
                    for name, (mean, sd) in priors.items()
                )
            c = pm.Deterministic("c", pt.exp(log_c), dims=dims.CONDITION)
            d = pm.Deterministic("d", pt.exp(log_d), dims=dims.CONDITION)
            extra = family.extra_priors(scales, dim=dims.CONDITION)
            moments = partial(
                self._moments_by_group, family=family, extra=extra, scale=scale_w, w0=w0, dt=dt
            )

            k = condition_of_group
            offsets = None
            if pool:
                offsets = _animal_offsets([scale_w / scale_t, 1.0 / scale_t, 1.0, 1.0, 1.0, 1.0])
                mean, var = moments(
                    a[k] + offsets[:, 0],
                    b[k] + offsets[:, 1],
                    c[k] * pt.exp(offsets[:, 2]),
                    d[k] * pt.exp(offsets[:, 3]),
                    group_index=group_of_spine[spine_index],
                    condition_of_group=k,
                )
            else:
                mean, var = moments(a, b, c, d, group_index=condition_index, condition_of_group=k)
            pm.Normal("w_end", mu=mean, sigma=pt.sqrt(var), observed=w1, dims=dims.TRANSITION)
            self._turnover_terms(data, group_of_spine, condition_of_group, offsets)
        return model

    def _groups(
        self,
        data: xr.Dataset,
        conditions: np.ndarray,
        condition_of_spine: np.ndarray,
        coords: dict[str, Any],
        animal_params: tuple[str, ...],
    ) -> tuple[bool, np.ndarray, np.ndarray]:
        """Return whether animals are pooled, the group of every spine and of every group.

        Groups are animals nested in condition when animals are pooled (their ids are
        only unique within a condition in many labs: "m1" in WT and KO), else conditions.
        Adds the ``animal`` and ``animal_param`` coords to ``coords`` when pooling.
        """
        if not self.pools_animals(data, conditions):
            return False, condition_of_spine, np.arange(condition_of_spine.max() + 1)
        animal_key = np.char.add(
            np.char.add(conditions, "/"), data[self.config["replicate"]].values.astype(str)
        )
        animals, group_of_spine = np.unique(animal_key, return_inverse=True)
        coords[dims.ANIMAL] = animals
        coords[dims.ANIMAL_PARAM] = list(animal_params)
        condition_of_group = np.zeros(len(animals), dtype=np.int64)
        condition_of_group[group_of_spine] = condition_of_spine
        return True, group_of_spine, condition_of_group

    @staticmethod
    def _intervals(dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intervals, interval_index = np.unique(np.round(dt, 9), return_inverse=True)
        return interval_index, intervals

    def _moments_by_group(
        self, a, b, c, d, *, family, extra, scale, w0, dt, group_index, condition_of_group
    ):
        """Transition moments, one set of scalar parameters per group (condition or animal).

        ``a, b, c, d`` (volume units) are vectors over groups; ``group_index`` maps every
        transition to its group and ``condition_of_group`` every group to its condition,
        which picks the family's own (per-condition, size-unit) parameters ``extra``. The
        linear family uses one matrix exponential per (group, interval).
        """
        mean = pt.zeros(len(w0))
        var = pt.ones(len(w0))
        xp = pytensor_namespace()
        for g in np.unique(group_index):
            rows = np.flatnonzero(group_index == g)
            if family.exact_linear_moments:
                m_g, v_g = linear_moments(
                    a[g], b[g], c[g], d[g], w0[rows], *self._intervals(dt[rows])
                )
            else:
                params = {"a": a[g] / scale, "b": b[g], "c": c[g] / scale**2, "d": d[g]} | {
                    name: value[condition_of_group[g]] for name, value in extra.items()
                }
                m_g, v_g = family_moments(
                    *family.size_functions(params, xp),
                    w0[rows],
                    dt[rows],
                    scale,
                    n_steps=self.config["n_substeps"],
                )
            mean = pt.set_subtensor(mean[rows], m_g)
            var = pt.set_subtensor(var[rows], v_g)
        return mean, var

    @staticmethod
    def _pooled_condition_params(priors, scale_w: float, scale_t: float):
        """Return a, b, log c, log d: population means plus zero-sum offsets with scales τ."""
        pop = {name: pm.Normal(f"{name}_pop", mean, sd) for name, (mean, sd) in priors.items()}
        tau = pm.HalfNormal(
            "tau_condition",
            np.array([scale_w / scale_t, 1.0 / scale_t, 1.0, 1.0]),
            dims=dims.CONDITION_PARAM,
        )
        # Zero-sum offsets: the population mean is the average over conditions, which
        # removes the ridge between it and the offsets.
        z = pm.ZeroSumNormal("condition_z", 1.0, dims=(dims.CONDITION_PARAM, dims.CONDITION))
        offsets = (z * tau[:, None]).T
        return tuple(pop[name] + offsets[:, i] for i, name in enumerate(pop))

    def pools_conditions(self, n_conditions: int) -> bool:
        """Return whether condition effects are partially pooled (``"auto"``: 4+ conditions)."""
        setting = self.config["pool_conditions"]
        if setting == "auto":
            return n_conditions >= MIN_POOLED_CONDITIONS
        return bool(setting)

    @staticmethod
    def turnover_by_group(data: xr.Dataset, group_of_spine: np.ndarray) -> xr.Dataset:
        """Return per-interval turnover counts of every group, stacked on ``interval``.

        Each group (condition or animal) is counted on its own spines; sessions its
        condition did not image are skipped through the ``imaged`` mask that
        :meth:`prepare` adds. ``group_index`` gives every row's group.
        """
        tables = []
        for g in range(int(group_of_spine.max()) + 1):
            table = turnover_intervals(data.isel({dims.SPINE: group_of_spine == g}))
            tables.append(
                table.assign(group_index=("interval", np.full(table.sizes["interval"], g)))
            )
        stacked = xr.concat(tables, dim="interval")
        return stacked.assign_coords(interval=np.arange(stacked.sizes["interval"]))

    def _turnover_terms(
        self,
        data: xr.Dataset,
        group_of_spine: np.ndarray,
        condition_of_group: np.ndarray,
        offsets: Any = None,
    ) -> None:
        """Add the turnover count likelihood, per condition and (with offsets) per animal."""
        table = self.turnover_by_group(data, group_of_spine)
        g = table["group_index"].values
        k = condition_of_group[g]
        lam_e = pm.Gamma("elimination_per_day", alpha=1.0, beta=1.0, dims=dims.CONDITION)
        lam_f = pm.Gamma("formation_per_day", alpha=1.0, beta=1.0, dims=dims.CONDITION)
        rate_e, rate_f = lam_e[k], lam_f[k]
        if offsets is not None:
            rate_e = rate_e * pt.exp(offsets[g, 4])
            rate_f = rate_f * pt.exp(offsets[g, 5])
        add_turnover_counts(table, rate_e, rate_f, self.config["turnover_counts"])

    # -- fitting -------------------------------------------------------------------------

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Record the reference label and, with ``loo``, compare to the pooled model by LOO.

        The pointwise log-likelihood (draws × transitions) is used for LOO and then
        dropped, so the saved result stays small; the LOO numbers are kept as a JSON attr.
        """
        record_family(tree, data, self)
        posterior = tree["posterior"].to_dataset()
        derived, omitted = derived_draws(posterior, data, self)
        posterior = posterior.assign(derived)
        labels = [str(v) for v in posterior[dims.CONDITION].values]
        reference = self.config["reference"] or default_reference(labels)
        primary = [n for n in self.primary_contrasts() if n in posterior]
        posterior.attrs |= {
            REFERENCE_ATTR: str(reference),
            "condition_by": self.config["by"],
            CONTRAST_VARS_ATTR: json.dumps([*CONTRASTED, *derived]),
            PRIMARY_ATTR: json.dumps(primary),
            REFERENCE_SIZE_ATTR: reference_size(data),
            OMITTED_ATTR: json.dumps(omitted),
        }
        tree["posterior"] = xr.DataTree(dataset=posterior)
        if self.config["loo"]:
            loo = pooled_vs_conditions_loo(tree, data, model, self)
            tree["posterior"].attrs[LOO_ATTR] = json.dumps(loo)
        return tree

    # -- reading results -----------------------------------------------------------------
    def parameter_names(self, tree: xr.DataTree) -> dict[str, str]:
        """Return ``{public name: posterior variable}`` of the reported parameters."""
        names = list(CONTRASTED)
        extra = ("loss_per_day", "threshold_elimination_share", "detection_threshold")
        names += [n for n in (*extra, "measurement_cv") if n in tree["posterior"]]
        names += [n for n in ("tau_condition", "omega_animal") if n in tree["posterior"]]
        names += [n for n in DERIVED if n in tree["posterior"]]
        return {n: n for n in names}

    def curves(self, posterior: xr.Dataset, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return μ(w), σ(w) and the stationary density per draw and condition on ``grid``."""
        return curve_draws(posterior, grid, self.family)

    def contrast_curves(self, tree: xr.DataTree, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return μ(w), σ(w) and the stationary density per draw and condition on ``grid``."""
        return self.curves(tree["posterior"].to_dataset(), grid)

    def primary_contrasts(self) -> list[str]:
        """Return the configured primary contrasts (default: d, σ at the median, P(elim 4 d))."""
        return list(self.config["primary_contrasts"])

    def default_grid(self, tree: xr.DataTree) -> np.ndarray:
        """Return 50 points spanning the observed sizes."""
        return observed_size_grid(tree)

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters per condition (``a[WT]``), curves per condition and the LOO."""
        posterior = tree["posterior"].to_dataset()
        grid_values = np.asarray(grid, dtype=float) if grid else self.default_grid(tree)
        curves = self.curves(posterior, grid_values)
        data = tree[DATA_GROUP].to_dataset()
        units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        labels = [str(v) for v in posterior[dims.CONDITION].values]
        conditions = condition_labels(data, self.config["by"])
        trans = transitions(data)
        per_condition_transitions = np.bincount(
            np.searchsorted(labels, conditions[trans["spine_index"].values]),
            minlength=len(labels),
        )
        curve_out: dict[str, Any] = {}
        for key, unit in (
            ("drift", f"{units}/day"),
            ("diffusion", f"{units}/sqrt(day)"),
            ("stationary", f"1/{units}"),
        ):
            curve_out[key] = {
                label: curve_stats(curves[key].sel({dims.CONDITION: label}), dims.SIZE_GRID)
                for label in labels
            } | {"units": unit}
        out: dict[str, Any] = {
            "conditions": labels,
            "reference": posterior.attrs.get(REFERENCE_ATTR) or default_reference(labels),
            "pooled_animals": "omega_animal" in posterior,
            "parameters": parameter_stats(posterior, self.parameter_names(tree)),
            "curves": curve_out,
            "data": {
                "spines": int(data.sizes[dims.SPINE]),
                "sessions": int(data.sizes[dims.SESSION]),
                "transitions": int(trans.sizes[dims.TRANSITION]),
                "transitions_per_condition": dict(
                    zip(labels, (int(v) for v in per_condition_transitions), strict=True)
                ),
                "volume_units": units,
            },
        }
        if LOO_ATTR in posterior.attrs:
            out["loo"] = json.loads(posterior.attrs[LOO_ATTR])
        return out


def _name_list(value: Any) -> list[str]:
    """Return a list of names from a list or a comma-separated string (``-o a=d,b``)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _animal_offsets(scales: list[float]):
    """Return non-centred animal offsets (animal × animal_param) with SDs ω ~ HalfNormal."""
    omega = pm.HalfNormal("omega_animal", 0.5 * np.asarray(scales), dims=dims.ANIMAL_PARAM)
    u = pm.Normal("animal_z", 0.0, 1.0, dims=(dims.ANIMAL, dims.ANIMAL_PARAM))
    return u * omega


def pooled_data(data: xr.Dataset, by: str, replicate: str = dims.ANIMAL_ID) -> xr.Dataset:
    """Return ``data`` with every spine in one condition and its animals kept apart.

    Animal ids become ``condition/animal``, so animals that share an id across conditions
    stay distinct animals, exactly as in the by-condition model.
    """
    conditions = condition_labels(data, by)
    coords: dict[str, Any] = {by: (dims.SPINE, np.full(conditions.size, POOLED_LABEL))}
    if replicate in data.coords:
        animals = data[replicate].values.astype(str)
        coords[replicate] = (dims.SPINE, np.char.add(np.char.add(conditions, "/"), animals))
    return data.assign_coords(coords)


def pooled_model(model: ConditionalDriftDiffusion, data: xr.Dataset) -> ConditionalDriftDiffusion:
    """Return the matched no-difference model of ``model`` for ``data``.

    Same class, likelihood, family, priors and animal structure (animal pooling resolved
    as in ``model``); only the condition labels are merged. It stores the pointwise
    log-likelihood that LOO needs.
    """
    conditions = condition_labels(data, model.config["by"])
    config = model.config | {
        "loo": True,
        "reference": None,
        "pool_conditions": False,
        "pool_animals": model.pools_animals(data, conditions),
    }
    return ConditionalDriftDiffusion(config)


def pooled_vs_conditions_loo(
    tree: xr.DataTree,
    data: xr.Dataset,
    model: pm.Model,
    condition_model: ConditionalDriftDiffusion,
) -> dict[str, Any]:
    """Compare the by-condition model with its matched pooled model by PSIS-LOO.

    The pooled model (:func:`pooled_model`) differs from the by-condition one only in
    having one condition, so ``elpd_diff`` measures condition effects, not animal
    structure or prior families. Units: transitions (``w_end``) for the moments
    likelihood, spines (sizes and fates after the first session; formation counts are
    not per spine) for the latent one. The pooled model is sampled with the settings of
    the by-condition fit.

    Returns
    -------
    dict
        ``pooled``, ``by_condition`` (elpd_loo of each), their ``se_pooled``,
        ``se_by_condition``, ``elpd_diff`` (by_condition − pooled; positive favours
        condition-specific parameters), ``se`` (SE of that difference), the max Pareto k,
        ``pooled_model`` (what "pooled" means) and ``loo_unit``.
    """
    import arviz_stats

    baseline = pooled_model(condition_model, data)
    merged = pooled_data(data, condition_model.config["by"], condition_model.config["replicate"])
    baseline_model = baseline.build(merged)
    pooled_tree = sample_model(baseline_model, condition_model.settings)
    animals = (
        ", ".join(LATENT_ANIMAL_PARAMS if condition_model.latent else MOMENTS_ANIMAL_PARAMS)
        if baseline.config["pool_animals"]
        else "none"
    )
    described = {
        "pooled_model": POOLED_DESCRIPTION.format(label=POOLED_LABEL, animals=animals),
    }
    if "spine_log_likelihood" in tree["posterior"]:
        record = loo_record(pointwise_loo(pooled_tree), pointwise_loo(tree))
        tree["posterior"] = xr.DataTree(
            dataset=tree["posterior"].to_dataset().drop_vars("spine_log_likelihood")
        )
        return record | described | {"loo_unit": "spine"}
    quiet = {"progressbar": False}
    with_ll = pm.compute_log_likelihood(tree, model=model, var_names=["w_end"], **quiet)
    pooled_tree = pm.compute_log_likelihood(
        pooled_tree, model=baseline_model, var_names=["w_end"], **quiet
    )
    loo_cond = arviz_stats.loo(with_ll, var_name="w_end", pointwise=True)
    loo_pooled = arviz_stats.loo(pooled_tree, var_name="w_end", pointwise=True)
    if "log_likelihood" in tree.children:
        del tree["log_likelihood"]
    return loo_record(loo_pooled, loo_cond) | described | {"loo_unit": "transition"}
