r"""Joint binary states of the synapses of one connection, with analog size variation.

Synapses of one connection (same presynaptic axon, same postsynaptic cell) are either
small (S) or large (L), and each log10 size is Gaussian around the mean of its state
(Dorkenwald et al. 2022, eLife 11:e76120). This model asks whether the states of the
synapses of one connection are associated.

Exact exchangeable likelihood
-----------------------------
A connection of m synapses has :math:`P(k \text{ of } m \text{ large}) \propto
\binom{m}{k} e^{\alpha k + \beta k(k-1)/2}` (every configuration with k large equally
likely), marginalised exactly: in O(m²) without a shared analog effect, by the closed
form per configuration with one (:mod:`spinefit.models.paired_mixture_likelihood`).
This replaces the earlier weighted pairwise composite likelihood, whose posterior was
not calibrated and whose per-connection LOO was not an elpd (29 of 189 multi-synapse
MICrONS connections have m > 2). :math:`\beta` (a log odds ratio) can take either sign.

Multiplicity groups
-------------------
P(large) rises with multiplicity, so one state table for every m would read that rise
as shared states (P(large) = 0.3 for pairs and 0.5 for m ≥ 3 with independent states
gives φ ≈ 0.04 over the pooled MICrONS pairs). :math:`\alpha, \beta` are therefore
separate per multiplicity group (``m2``, ``m3plus``; ``split_multiplicity_at`` makes the
groups finer), and φ is computed within each multiplicity m, then averaged over
connections.

Shared analog effect
--------------------
With ``connection_effect`` (default) sizes are :math:`y_i = \mu_{s_i} + u_c + e_i`,
:math:`u_c \sim \mathcal N(0, \tau^2)`: a connection-wide offset, the quantity the
variance split models. Without it, similar sizes within a connection can only be
explained by shared states, which inflates φ. With ``effect_comparison`` (default) the
model is also fitted the other way, so the summary reports β and φ with and without the
effect, and a LOO comparison of the two.

Evidence against independent states is the posterior of β and φ and, with
``state_comparison`` (default), a PSIS-LOO comparison with the same model constrained
to β = 0 (connections are the units left out; the likelihood is exact, so this is an
elpd comparison).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import ATTR_SIZE_VARIABLE
from spinefit.models.base import SpineModel, sample_model
from spinefit.models.mixture_components import add_components
from spinefit.models.mixture_likelihood import (
    DERIVED_GROUP,
    MULTIPLICITY_GROUP,
    P_LARGE,
    component_labels,
    flat_draws,
    log10_sizes,
    resolve_size_variable,
)
from spinefit.models.mixture_loo import loo_comparison, loo_from_pointwise
from spinefit.models.paired_mixture_likelihood import (
    MAX_ENUMERATED_MULTIPLICITY,
    connection_loglik,
    large_state_probability,
    log_count_probabilities,
    logsumexp,
    pair_moments,
    phi_within,
)
from spinefit.results.names import DATA_GROUP
from spinefit.stats import parameter_stats, stats_of

if TYPE_CHECKING:
    import pymc as pm

JOINT_STATE = "joint_state"
"""Dim of a joint state table of two synapses (labels ``SS``, ``SL``, ``LL``)."""
JOINT_STATES = ("SS", "SL", "LL")
PRIOR_ALPHA_SD = 1.5
PRIOR_BETA_SD = 2.0
DRAW_CHUNK = 250
"""Posterior draws evaluated at once by the numpy likelihood (bounds memory)."""
PRIOR_GROUP = "prior"
"""DataTree group with prior draws of the reported quantities."""
PRIOR_DRAWS = 2000
PRIOR_VARIABLES = (
    "mu",
    "sigma",
    "sigma_connection",
    "state_table",
    "alpha",
    "beta",
    "p_SS",
    "p_SL",
    "p_LL",
    "phi",
    "phi_by_group",
    "p_large_by_group",
    "weight_large_single",
)
EFFECT_QUANTITIES = ("phi", "beta", "p_SS", "p_SL", "p_LL")
"""Prefixes of the quantities reported with and without the shared analog effect."""


def phi_coefficient(p_SS, p_SL, p_LL):
    """Return phi of the symmetric table ``(p_SS, p_SL/2, p_SL/2, p_LL)`` (numpy or PyTensor)."""
    p_large = p_LL + p_SL / 2
    return (p_SS * p_LL - (p_SL / 2) ** 2) / (p_large * (1 - p_large))


def alpha_beta_of_table(p_SS, p_SL, p_LL, xp: Any = np):
    r"""Return :math:`(\alpha, \beta)` of the table of two synapses given the others small.

    :math:`\alpha = \log(p_{SL}/2) - \log p_{SS}`, :math:`\beta = \log p_{LL} + \log p_{SS}
    - 2\log(p_{SL}/2)` (the log odds ratio). For m = 2 the table is the joint state table.
    """
    half = xp.log(p_SL / 2)
    return half - xp.log(p_SS), xp.log(p_LL) + xp.log(p_SS) - 2 * half


def group_label(m: int, split_at: int) -> str:
    """Return the multiplicity-group label of a connection of m ≥ 2 synapses."""
    return f"m{m}" if m < split_at else f"m{split_at}plus"


class ConnectionLayout:
    """The synapses of every connection, grouped by multiplicity.

    Parameters
    ----------
    connection : numpy.ndarray
        Connection label of every synapse.
    include_singles : bool
        Model synapses alone in their connection.

    Attributes
    ----------
    members : dict
        ``{m: (n_m, m) synapse indices}`` of the connections of m synapses.
    units : dict
        ``{m: (n_m,) unit index}``: the connection's position among the units (for LOO).
    unit_labels : list of str
        Connection label of every unit.
    multiplicity_counts : dict
        ``{multiplicity: connections}`` over the connections used.
    singles : numpy.ndarray
        Synapse indices of single-synapse connections (empty if not included).
    pair_i, pair_j : numpy.ndarray
        Both members of every unordered pair of synapses within a connection (for plots).
    used : numpy.ndarray
        Sorted indices of every synapse that enters the likelihood.
    """

    def __init__(self, connection: np.ndarray, include_singles: bool) -> None:
        codes, labels = pd.factorize(pd.Series(connection))
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        by_m: dict[int, list[np.ndarray]] = {}
        unit_by_m: dict[int, list[int]] = {}
        self.unit_labels: list[str] = []
        for group in np.split(order, starts[1:]):
            m = len(group)
            if m == 1 and not include_singles:
                continue
            unit_by_m.setdefault(m, []).append(len(self.unit_labels))
            by_m.setdefault(m, []).append(group)
            self.unit_labels.append(str(labels[codes[group[0]]]))
        self.members = {m: np.stack(by_m[m]).astype(np.int64) for m in sorted(by_m)}
        self.units = {m: np.asarray(unit_by_m[m], dtype=np.int64) for m in sorted(by_m)}
        self.multiplicity_counts = {m: len(v) for m, v in self.members.items()}
        self.singles = self.members[1][:, 0] if 1 in self.members else np.zeros(0, np.int64)
        i, j = [], []
        for m, rows in self.members.items():
            if m > 1:
                a, b = np.triu_indices(m, 1)
                i.append(rows[:, a].ravel())
                j.append(rows[:, b].ravel())
        self.pair_i = np.concatenate(i) if i else np.zeros(0, np.int64)
        self.pair_j = np.concatenate(j) if j else np.zeros(0, np.int64)
        self.used = np.sort(np.concatenate([r.ravel() for r in self.members.values()]))

    @property
    def n_units(self) -> int:
        """Number of connections that enter the likelihood."""
        return len(self.unit_labels)

    def multiples(self) -> list[int]:
        """Return the multiplicities ≥ 2 present, ascending."""
        return [m for m in self.members if m > 1]


class PairedMixture(SpineModel):
    r"""Exchangeable binary states of the synapses of one connection, with analog variation.

    For a connection of :math:`m` synapses with log10 sizes :math:`y_i` and states
    :math:`s_i \in \{S, L\}`,

    .. math::

        P(s) = \frac{e^{\alpha_g k + \beta_g k(k-1)/2}}{Z_{m}},\quad
        k = \#\{i: s_i = L\},\qquad
        y_i = \mu_{s_i} + u_c + e_i,\ u_c \sim \mathcal N(0, \tau^2),\
        e_i \sim \mathcal N(0, \sigma_{s_i}^2),

    with :math:`g` the connection's multiplicity group (``m2``, ``m3plus``), states and
    the shared effect :math:`u_c` marginalised exactly (Cox 1972, Appl. Stat. 21:113 for
    the state model). A synapse alone in its connection is large with probability
    :math:`w_1`. The association of two synapses of one connection is
    :math:`\phi_m = (p_{LL,m} - p_{L,m}^2)/(p_{L,m}(1 - p_{L,m}))`, computed within each
    multiplicity m from :math:`P(k \text{ of } m)` and averaged over connections
    (``phi``); for m = 2 the joint table :math:`(p_{SS}, p_{SL}, p_{LL})` is Table 3 of
    Dorkenwald et al. 2022. Priors on the state parameters themselves:
    :math:`\beta_g \sim \mathcal N(0, 2^2)`, symmetric about independence (a flat
    Dirichlet on the 2×2 table would imply a prior mean of β of +1.39, i.e. favour shared
    states), :math:`\alpha_g \sim \mathcal N(0, 1.5^2)`; :math:`w_1 \sim \mathrm{Beta}(1, 1)`;
    :math:`\tau / s_y \sim \mathrm{HalfNormal}(0.5)`; components as in
    :class:`~spinefit.models.mixture.Mixture`.

    Follows Dorkenwald et al. 2022, "Binary and analog variation of synapses between
    cortical pyramidal neurons", eLife 11:e76120.

    Parameters
    ----------
    config : dict, optional
        ``size_variable``; ``include_singles`` (True); ``independent_states`` (False: the
        null model β = 0); ``connection_effect`` (True: shared analog offset per
        connection); ``split_multiplicity_at`` (3: groups m2 and m3plus; 4: m2, m3,
        m4plus, ...); ``state_comparison`` (True: LOO against β = 0);
        ``effect_comparison`` (True: also fit with the effect switched the other way).
    """

    name: ClassVar[str] = "paired-mixture"
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_SNAPSHOT,)
    default_config: ClassVar[dict[str, Any]] = {
        "size_variable": None,
        "include_singles": True,
        "independent_states": False,
        "connection_effect": True,
        "split_multiplicity_at": 3,
        "state_comparison": True,
        "effect_comparison": True,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        split = self.config["split_multiplicity_at"]
        if not isinstance(split, int) or split < 3:
            raise ConfigError(f"split_multiplicity_at must be an integer ≥ 3, got {split!r}")

    def layout(self, data: xr.Dataset) -> ConnectionLayout:
        """Return the connections of ``data`` by multiplicity (fails without multiples)."""
        layout = ConnectionLayout(data[dims.CONNECTION].values, self.config["include_singles"])
        if not layout.multiples():
            raise DataError(
                "no connection has 2 or more synapses; the paired mixture needs pairs",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        largest = max(layout.multiples())
        if self.config["connection_effect"] and largest > MAX_ENUMERATED_MULTIPLICITY:
            raise ConfigError(
                f"a connection has {largest} synapses; with connection_effect the likelihood "
                f"enumerates 2^m states, up to m = {MAX_ENUMERATED_MULTIPLICITY}; set "
                "connection_effect=false"
            )
        return layout

    def state_groups(self, layout: ConnectionLayout) -> list[str]:
        """Return the labels of the multiplicity groups present (``m2``, ``m3plus``, ...)."""
        split = self.config["split_multiplicity_at"]
        return list(dict.fromkeys(group_label(m, split) for m in layout.multiples()))

    # -- specification -----------------------------------------------------------------------
    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model with states and connection effects marginalised out."""
        import pymc as pm
        import pytensor.tensor as pt

        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        layout = self.layout(data)
        groups = self.state_groups(layout)
        split = self.config["split_multiplicity_at"]
        used = y[layout.used]
        scale = float(np.std(used)) or 1.0
        coords = {
            dims.COMPONENT: component_labels(2),
            JOINT_STATE: list(JOINT_STATES),
            MULTIPLICITY_GROUP: groups,
        }
        with pm.Model(coords=coords) as model:
            mu, sigma = add_components(2, float(np.mean(used)), scale)
            tau = None
            if self.config["connection_effect"]:
                tau = pm.HalfNormal("sigma_connection", 0.5 * scale)[None]
            alpha = pm.Normal("alpha", 0.0, PRIOR_ALPHA_SD, dims=MULTIPLICITY_GROUP)
            if self.config["independent_states"]:
                beta = pm.Deterministic("beta", pt.zeros(len(groups)), dims=MULTIPLICITY_GROUP)
            else:
                beta = pm.Normal("beta", 0.0, PRIOR_BETA_SD, dims=MULTIPLICITY_GROUP)
            # The table of two synapses given the others small (the joint table for m = 2).
            logits = pt.stack([pt.zeros(len(groups)), np.log(2.0) + alpha, 2 * alpha + beta], -1)
            table = pm.Deterministic(
                "state_table",
                pt.exp(logits - logsumexp(logits, pt)[:, None]),
                dims=(MULTIPLICITY_GROUP, JOINT_STATE),
            )
            if "m2" in groups:
                g = groups.index("m2")
                for k, state in enumerate(JOINT_STATES):
                    pm.Deterministic(f"p_{state}", table[g, k])
            total = 0.0
            phi_sum = [0.0] * len(groups)
            large_sum = [0.0] * len(groups)
            weights = np.zeros(len(groups))
            synapses = np.zeros(len(groups))
            for m, rows in layout.members.items():
                if m == 1:
                    w1 = pm.Beta("weight_large_single", 1.0, 1.0)
                    log_pk = pt.stack([pt.log1p(-w1), pt.log(w1)])[None]
                else:
                    g = groups.index(group_label(m, split))
                    log_pk = log_count_probabilities(alpha[g][None], beta[g][None], m, pt)
                    n_m = len(rows)
                    phi_sum[g] = phi_sum[g] + n_m * phi_within(log_pk, m, pt)[0]
                    large_sum[g] = large_sum[g] + n_m * m * pair_moments(log_pk, m, pt)[0][0]
                    weights[g] += n_m
                    synapses[g] += n_m * m
                loglik = connection_loglik(y[rows], mu[None], sigma[None], tau, log_pk, m, pt)
                total = total + pt.sum(loglik)
            pm.Potential("connections_loglik", total)
            pm.Deterministic(
                "p_large_by_group",
                pt.stack([large_sum[g] / synapses[g] for g in range(len(groups))]),
                dims=MULTIPLICITY_GROUP,
            )
            if not self.config["independent_states"]:
                phi_group = pm.Deterministic(
                    "phi_by_group",
                    pt.stack([phi_sum[g] / weights[g] for g in range(len(groups))]),
                    dims=MULTIPLICITY_GROUP,
                )
                pm.Deterministic("phi", pt.sum(phi_group * weights) / weights.sum())
        return model

    # -- numpy likelihood on posterior draws -------------------------------------------------
    def posterior_draws(self, posterior: xr.Dataset) -> dict[str, np.ndarray]:
        """Return the flattened draws ``(chain * draw, ...)`` the numpy likelihood needs."""
        draws = {name: flat_draws(posterior, name) for name in ("mu", "sigma", "alpha", "beta")}
        draws["groups"] = [str(v) for v in posterior[MULTIPLICITY_GROUP].values]
        for name in ("weight_large_single", "sigma_connection"):
            if name in posterior:
                draws[name] = flat_draws(posterior, name)
        return draws

    def _log_pk(self, draws: dict[str, Any], m: int, chunk: slice) -> np.ndarray:
        if m == 1:
            w1 = draws["weight_large_single"][chunk]
            return np.log(np.stack([1 - w1, w1], axis=-1))
        g = draws["groups"].index(group_label(m, self.config["split_multiplicity_at"]))
        return log_count_probabilities(draws["alpha"][chunk, g], draws["beta"][chunk, g], m, np)

    def _chunks(self, draws: dict[str, Any]) -> list[slice]:
        n = draws["mu"].shape[0]
        return [slice(i, min(i + DRAW_CHUNK, n)) for i in range(0, n, DRAW_CHUNK)]

    def pointwise(self, posterior: xr.Dataset, data: xr.Dataset) -> np.ndarray:
        """Return the exact log-likelihood of every connection ``(draws, connections)``."""
        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        layout = self.layout(data)
        draws = self.posterior_draws(posterior)
        out = np.zeros((draws["mu"].shape[0], layout.n_units))
        for chunk in self._chunks(draws):
            tau = draws["sigma_connection"][chunk] if "sigma_connection" in draws else None
            for m, rows in layout.members.items():
                out[chunk, layout.units[m]] = connection_loglik(
                    y[rows],
                    draws["mu"][chunk],
                    draws["sigma"][chunk],
                    tau,
                    self._log_pk(draws, m, chunk),
                    m,
                    np,
                )
        return out

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]]:
        """Return the exact log-likelihood of every connection ``(chain * draw, connections)``."""
        data = tree[DATA_GROUP].to_dataset()
        log_lik = self.pointwise(tree["posterior"].to_dataset(), data)
        return log_lik, list(self.layout(data).unit_labels)

    def large_probability(self, posterior: xr.Dataset, data: xr.Dataset) -> np.ndarray:
        """Return every synapse's posterior mean P(large | sizes of its whole connection)."""
        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        layout = self.layout(data)
        draws = self.posterior_draws(posterior)
        total = np.zeros(len(y))
        for chunk in self._chunks(draws):
            tau = draws["sigma_connection"][chunk] if "sigma_connection" in draws else None
            for m, rows in layout.members.items():
                p = large_state_probability(
                    y[rows],
                    draws["mu"][chunk],
                    draws["sigma"][chunk],
                    tau,
                    self._log_pk(draws, m, chunk),
                    m,
                )
                total[rows.ravel()] += p.sum(axis=0).ravel()
        out = np.full(len(y), np.nan)
        out[layout.used] = total[layout.used] / draws["mu"].shape[0]
        return out

    # -- fitting -----------------------------------------------------------------------------
    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Add per-synapse P(large), the layout and the state and effect comparisons."""
        size_variable = resolve_size_variable(data, self.config["size_variable"])
        layout = self.layout(data)
        posterior = tree["posterior"].to_dataset()
        units = data[size_variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        for name in ("mu", "sigma", "sigma_connection"):
            if name in posterior:
                posterior[name].attrs["units"] = f"log10({units})"
        for name in posterior.data_vars:
            if name not in ("mu", "sigma", "sigma_connection", "mu_std", "sigma_std"):
                posterior[name].attrs["units"] = "1"
        tree["posterior"] = xr.DataTree(dataset=posterior)
        derived = xr.Dataset(
            {
                P_LARGE: (
                    dims.SYNAPSE,
                    self.large_probability(posterior, data),
                    {
                        "units": "1",
                        "long_name": "posterior P(large) given the sizes of every synapse of "
                        "the connection; NaN if not modelled",
                    },
                )
            },
            coords={dims.SYNAPSE: data[dims.SYNAPSE].values},
            attrs={
                ATTR_SIZE_VARIABLE: size_variable,
                "log10_units": f"log10({units})",
                "n_connections": layout.n_units,
                "n_singles": len(layout.singles),
                "n_pairs": len(layout.pair_i),
                "connections_by_multiplicity": json.dumps(layout.multiplicity_counts),
                "likelihood": "exact exchangeable states"
                + (", shared connection effect" if self.config["connection_effect"] else ""),
            },
        )
        tree[PRIOR_GROUP] = xr.DataTree(dataset=self.prior_draws(model))
        comparisons = not self.config["independent_states"]
        if comparisons and self.config["state_comparison"]:
            derived.attrs["state_comparison"] = json.dumps(self.compare_states(tree, data))
        if comparisons and self.config["effect_comparison"]:
            derived.attrs["effect_comparison"] = json.dumps(self.compare_effect(tree, data))
        tree[DERIVED_GROUP] = xr.DataTree(dataset=derived)
        return tree

    def prior_draws(self, model: pm.Model) -> xr.Dataset:
        """Return prior draws of every reported quantity (the implied priors of β, φ, ...).

        The likelihood potentials play no part in prior draws, as intended.
        """
        import warnings

        import pymc as pm

        names = [n for n in PRIOR_VARIABLES if n in model.named_vars]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Potential.*", category=UserWarning)
            prior = pm.sample_prior_predictive(
                draws=PRIOR_DRAWS,
                model=model,
                var_names=names,
                random_seed=self.settings.random_seed,
            )
        return prior["prior"].to_dataset()

    def _variant(self, **changes: Any) -> PairedMixture:
        plain = {"state_comparison": False, "effect_comparison": False}
        return type(self)(self.config | plain | changes)

    def _loo_against(self, tree, data, other, other_tree, labels, note, simpler):
        fits = {labels[0]: (self, tree), labels[1]: (other, other_tree)}
        loos = {
            label: loo_from_pointwise(
                model.pointwise(t["posterior"].to_dataset(), data), t, point_dim=dims.CONNECTION
            )
            for label, (model, t) in fits.items()
        }
        n = self.layout(data).n_units
        result = loo_comparison(
            loos, labels[0], labels[1], n, n, unit=dims.CONNECTION, simpler=simpler
        )
        result["method"] += f"; units: connections (exact likelihood); {note}"
        return result

    def compare_states(self, tree: xr.DataTree, data: xr.Dataset) -> dict[str, Any]:
        """Fit the independent-state model (β = 0) and compare it with this one by PSIS-LOO.

        Returns
        -------
        dict
            As :func:`spinefit.models.mixture_loo.loo_comparison`, with models
            ``"associated"`` and ``"independent"``.
        """
        null = self._variant(independent_states=True)
        null_tree = sample_model(null.build(data), self.settings)
        return self._loo_against(
            tree,
            data,
            null,
            null_tree,
            ("associated", "independent"),
            "independent: β = 0",
            simpler="independent",
        )

    def compare_effect(self, tree: xr.DataTree, data: xr.Dataset) -> dict[str, Any]:
        """Fit the model with the shared analog effect switched the other way.

        Returns
        -------
        dict
            ``loo`` (with vs without the effect) and ``other_fit``: posterior summaries of
            the state quantities (β, φ, the m = 2 table) of the other fit.
        """
        effect = self.config["connection_effect"]
        other = self._variant(connection_effect=not effect)
        other_tree = sample_model(other.build(data), self.settings)
        labels = ("with_effect", "without_effect") if effect else ("without_effect", "with_effect")
        loo = self._loo_against(
            tree, data, other, other_tree, labels, "shared analog effect", "without_effect"
        )
        draws = other.summary_draws(other_tree)
        names = [n for n in draws.data_vars if str(n).startswith(EFFECT_QUANTITIES)]
        return {"loo": loo, "other_fit": parameter_stats(draws, names), "other": labels[1]}

    # -- reading results ---------------------------------------------------------------------
    def summary_draws(self, tree: xr.DataTree) -> xr.Dataset:
        """Return the scalar posterior quantities of the summary under their public names."""
        return self.public_draws(tree["posterior"].to_dataset())

    @staticmethod
    def public_draws(posterior: xr.Dataset) -> xr.Dataset:
        """Return the reported scalars of a posterior (or prior) group under public names."""
        out = {}
        for label in component_labels(2):
            out[f"mu_{label}"] = posterior["mu"].sel({dims.COMPONENT: label}, drop=True)
            out[f"sigma_{label}"] = posterior["sigma"].sel({dims.COMPONENT: label}, drop=True)
        if "sigma_connection" in posterior:
            out["sigma_connection"] = posterior["sigma_connection"]
        out |= {n: posterior[n] for n in ("p_SS", "p_SL", "p_LL", "phi") if n in posterior}
        for group in posterior[MULTIPLICITY_GROUP].values:
            where = {MULTIPLICITY_GROUP: group}
            if "phi_by_group" in posterior:
                out[f"phi_{group}"] = posterior["phi_by_group"].sel(where, drop=True)
            if "beta" in posterior and float(np.abs(posterior["beta"]).max()) > 0:
                out[f"beta_{group}"] = posterior["beta"].sel(where, drop=True)
            out[f"alpha_{group}"] = posterior["alpha"].sel(where, drop=True)
            out[f"p_large_{group}"] = posterior["p_large_by_group"].sel(where, drop=True)
        if "weight_large_single" in posterior:
            out["weight_large_single"] = posterior["weight_large_single"]
        return xr.Dataset(out)

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters, the evidence on state association and the layout.

        ``grid`` is accepted for interface compatibility and not used.
        """
        derived = tree[DERIVED_GROUP].to_dataset()
        draws = self.summary_draws(tree)
        out: dict[str, Any] = {
            "parameters": parameter_stats(draws, list(draws.data_vars)),
            "size_variable": derived.attrs[ATTR_SIZE_VARIABLE],
            "parameter_units": derived.attrs.get("log10_units"),
            "connections": {
                "n_connections": int(derived.attrs["n_connections"]),
                "n_singles": int(derived.attrs["n_singles"]),
                "connections_by_multiplicity": json.loads(
                    derived.attrs["connections_by_multiplicity"]
                ),
                "likelihood": derived.attrs["likelihood"],
            },
        }
        if "phi" in draws:
            betas = [n for n in draws.data_vars if str(n).startswith("beta_")]
            out["state_dependence"] = {
                "P(phi>0)": float((draws["phi"] > 0).mean()),
                "phi": stats_of(draws["phi"], diagnostics=False),
            } | {f"P({n}>0)": float((draws[n] > 0).mean()) for n in betas}
        if PRIOR_GROUP in tree.children:
            prior = self.public_draws(tree[PRIOR_GROUP].to_dataset())
            out["prior"] = {str(n): stats_of(prior[n], diagnostics=False) for n in prior.data_vars}
        comparison = derived.attrs.get("state_comparison")
        out["state_comparison"] = json.loads(comparison) if comparison else None
        effect = derived.attrs.get("effect_comparison")
        out["effect_comparison"] = json.loads(effect) if effect else None
        if effect and "phi" in draws:
            this = "with_effect" if self.config["connection_effect"] else "without_effect"
            other = out["effect_comparison"]
            names = [n for n in other["other_fit"] if n in out["parameters"]]
            out["with_and_without_connection_effect"] = {
                this: {n: out["parameters"][n] for n in names},
                other["other"]: {n: other["other_fit"][n] for n in names},
            }
        return out

    def describe(self) -> dict[str, str]:
        """Return the model equation (LaTeX), priors and title for the report."""
        equation = (
            r"P(s_1..s_m)=e^{\alpha_g k+\beta_g k(k-1)/2}/Z_m,\ k=\sum_i s_i;\ "
            r"y_i=\mu_{s_i}+u_c+e_i,\ u_c\sim\mathcal{N}(0,\tau^2),\ "
            r"e_i\sim\mathcal{N}(0,\sigma_{s_i}^2);\ "
            r"\phi_m=\frac{p_{LL,m}-p_{L,m}^2}{p_{L,m}(1-p_{L,m})}"
        )
        if not self.config["connection_effect"]:
            equation = equation.replace(r"u_c+e_i,\ u_c\sim\mathcal{N}(0,\tau^2),\ ", r"e_i,\ ")
        priors = (
            r"\beta_g\sim\mathcal{N}(0,2^2);\ \alpha_g\sim\mathcal{N}(0,1.5^2);\ "
            r"w_1\sim\mathrm{Beta}(1,1);\ "
            r"\tau/s_y\sim\mathrm{HalfNormal}(0.5);\ "
            r"(\mu_{S,L}-\bar y)/s_y\sim\mathcal{N}(\mp 0.5,1.5^2)\ \text{(ordered)};\ "
            r"\sigma_k/s_y\sim\mathrm{LogNormal}(\log 0.5,1)"
        )
        return {
            "title": "Paired mixture: exchangeable binary states of the synapses of one "
            "connection (Dorkenwald et al. 2022, eLife 11:e76120)",
            "equation": equation,
            "priors": priors,
        }
