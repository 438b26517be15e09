r"""Joint binary states of synapses in the same connection, with analog size variation.

Synapses of one connection (same presynaptic axon, same postsynaptic cell) are modelled
in pairs: the two binary states (S = small, L = large) of a pair are drawn from a
symmetric 2×2 table, and each log10 size is Gaussian around the mean of its state
(Dorkenwald et al. 2022, eLife 11:e76120). Latent states are marginalised (summed over)
in the likelihood; nothing discrete is sampled.

Connections with more than two synapses
---------------------------------------
A connection of m > 2 synapses enters through a *weighted pairwise composite likelihood*:
every unordered pair of its synapses contributes its 2×2-mixture log-likelihood with
weight 1/(m - 1), so that each synapse counts once in total and the connection carries
the weight of m/2 independent pairs (Varin, Reid & Firth 2011, Statistica Sinica
21:5-42). Reasons for this choice over the alternatives:

- It keeps the 2×2 table, and so phi, as the parameter, with either sign allowed. An
  exchangeable "connection type" model (a latent P(large) per connection) can only
  produce phi >= 0, which would make P(phi > 0) true by construction.
- It uses every synapse, unlike keeping the first two synapses of each connection, whose
  order in the table carries no meaning.
- The 1/(m - 1) weights stop the few high-multiplicity connections from being counted
  m/2 times over and so keep the posterior from being overconfident. For composite
  likelihoods the posterior spread is only approximately calibrated; in the MICrONS
  table this concerns 29 of 189 multi-synapse connections (the other 160 are exact).
  ``pair_mode="first"`` (first two synapses only, exact likelihood) is available as a
  sensitivity check.

Synapses alone in their connection are modelled as a two-component mixture with their own
weight ``weight_large_single`` (the large-state weight rises with multiplicity, so the
marginal of the pair table would misfit them); they share the component means and SDs.

Evidence against independent states is reported as the posterior of phi with P(phi > 0)
and, with ``state_comparison`` (on by default, as the CLI runs it), a PSIS-LOO comparison
with the same model constrained to independent states (``p_SS = (1 - p)^2``,
``p_SL = 2p(1 - p)``, ``p_LL = p^2``), using connections as the units left out.
"""

from __future__ import annotations

import json
from itertools import combinations
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import ATTR_SIZE_VARIABLE
from spinefit.models.base import DATA_GROUP, SpineModel, sample_model
from spinefit.models.mixture_components import add_components
from spinefit.models.mixture_likelihood import (
    DERIVED_GROUP,
    P_LARGE,
    component_labels,
    component_logpdf,
    flat_draws,
    log10_sizes,
    resolve_size_variable,
)
from spinefit.models.mixture_loo import loo_comparison, loo_from_pointwise
from spinefit.stats import parameter_stats, stats_of

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.report.sections import ReportSection

JOINT_STATE = "joint_state"
"""Dim of the joint state probabilities (labels ``SS``, ``SL``, ``LL``); for spinefit.dims."""
JOINT_STATES = ("SS", "SL", "LL")
PAIR_MODES = ("all", "first")


def phi_coefficient(p_SS, p_SL, p_LL):
    """Return phi of the symmetric table ``(p_SS, p_SL/2, p_SL/2, p_LL)`` (numpy or PyTensor)."""
    p_large = p_LL + p_SL / 2
    return (p_SS * p_LL - (p_SL / 2) ** 2) / (p_large * (1 - p_large))


def _ints(values: list) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


class ConnectionLayout:
    """Which synapses enter as singles and which pairs enter the composite likelihood.

    Parameters
    ----------
    connection : numpy.ndarray
        Connection label of every synapse.
    pair_mode : {"all", "first"}
        All unordered pairs weighted by 1/(m - 1), or the first two synapses only.
    include_singles : bool
        Model synapses alone in their connection.

    Attributes
    ----------
    singles : numpy.ndarray
        Synapse indices of single-synapse connections (empty if not included).
    pair_i, pair_j : numpy.ndarray
        Synapse indices of the two members of every pair.
    pair_weight : numpy.ndarray
        Composite-likelihood weight of every pair.
    used : numpy.ndarray
        Sorted indices of every synapse that enters the likelihood.
    unit_of_single, unit_of_pair : numpy.ndarray
        Index of the connection ("unit" for LOO) of each single and each pair.
    unit_labels : list of str
        Connection label of every unit.
    multiplicity_counts : dict
        ``{multiplicity: connections}`` over the connections used.
    """

    def __init__(self, connection: np.ndarray, pair_mode: str, include_singles: bool) -> None:
        codes, labels = pd.factorize(pd.Series(connection))
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        members = np.split(order, starts[1:])
        singles, pair_i, pair_j, weights, unit_single, unit_pair, unit_labels = (
            [] for _ in range(7)
        )
        counts: dict[int, int] = {}
        for group in members:
            m = len(group)
            if m == 1 and not include_singles:
                continue
            unit = len(unit_labels)
            unit_labels.append(str(labels[codes[group[0]]]))
            counts[m] = counts.get(m, 0) + 1
            if m == 1:
                singles.append(group[0])
                unit_single.append(unit)
                continue
            pairs = [tuple(group[:2])] if pair_mode == "first" else list(combinations(group, 2))
            for i, j in pairs:
                pair_i.append(i)
                pair_j.append(j)
                weights.append(1.0 if pair_mode == "first" else 1.0 / (m - 1))
                unit_pair.append(unit)
        self.singles, self.pair_i, self.pair_j = _ints(singles), _ints(pair_i), _ints(pair_j)
        self.pair_weight = np.asarray(weights, dtype=float)
        self.unit_of_single, self.unit_of_pair = _ints(unit_single), _ints(unit_pair)
        self.unit_labels = unit_labels
        self.multiplicity_counts = dict(sorted(counts.items()))
        self.used = np.unique(np.concatenate([self.singles, self.pair_i, self.pair_j]))

    @property
    def n_units(self) -> int:
        """Number of connections that enter the likelihood."""
        return len(self.unit_labels)


# -- numpy likelihood pieces ----------------------------------------------------------------
def log_joint_table(p_SS: np.ndarray, p_SL: np.ndarray, p_LL: np.ndarray) -> np.ndarray:
    """Return log of the 2×2 state table, ``(draws, 2, 2)``, rows/cols = (small, large)."""
    with np.errstate(divide="ignore"):
        return np.log(
            np.stack(
                [np.stack([p_SS, p_SL / 2], axis=-1), np.stack([p_SL / 2, p_LL], axis=-1)], axis=-2
            )
        )


def pair_state_logits(
    y_i: np.ndarray, y_j: np.ndarray, mu: np.ndarray, sigma: np.ndarray, log_table: np.ndarray
) -> np.ndarray:
    """Return the unnormalised log posterior of the 4 joint states, ``(draws, pairs, 2, 2)``."""
    log_i = component_logpdf(y_i, mu, sigma)  # (draws, pairs, 2)
    log_j = component_logpdf(y_j, mu, sigma)
    return log_table[:, None, :, :] + log_i[..., :, None] + log_j[..., None, :]


def pair_loglik(y_i, y_j, mu, sigma, log_table) -> np.ndarray:
    """Return the log-likelihood of every pair under every draw, ``(draws, pairs)``."""
    return logsumexp(pair_state_logits(y_i, y_j, mu, sigma, log_table), axis=(-2, -1))


def single_loglik(y, mu, sigma, weight_large) -> np.ndarray:
    """Return the two-component mixture log-likelihood ``(draws, n)`` of single synapses."""
    weights = np.stack([1 - weight_large, weight_large], axis=-1)
    with np.errstate(divide="ignore"):
        terms = component_logpdf(y, mu, sigma) + np.log(weights)[:, None, :]
    return logsumexp(terms, axis=-1)


class PairedMixture(SpineModel):
    r"""Correlated binary states of synapses in one connection, with analog variation.

    For two synapses i, j of the same connection, with :math:`y = \log_{10} v`,

    .. math::

        p(y_i, y_j) = \sum_{a, b \in \{S, L\}} \pi_{ab}\,
            \mathcal N(y_i \mid \mu_a, \sigma_a^2)\, \mathcal N(y_j \mid \mu_b, \sigma_b^2),
        \quad
        \pi = \begin{pmatrix} p_{SS} & p_{SL}/2 \\ p_{SL}/2 & p_{LL} \end{pmatrix},

    a connection of :math:`m > 2` synapses contributes
    :math:`\frac{1}{m-1}\sum_{i<j} \log p(y_i, y_j)` (composite likelihood), and a synapse
    alone in its connection :math:`(1 - w_1)\mathcal N(\mu_S, \sigma_S^2) +
    w_1 \mathcal N(\mu_L, \sigma_L^2)`. The dependence between the two states is the phi
    coefficient :math:`\phi = (p_{SS} p_{LL} - p_{SL}^2/4) / (p_L (1 - p_L))` with
    :math:`p_L = p_{LL} + p_{SL}/2`. Priors: :math:`(p_{SS}, p_{SL}, p_{LL}) \sim
    \mathrm{Dirichlet}(1, 1, 1)`, :math:`w_1 \sim \mathrm{Beta}(1, 1)`, components as in
    :class:`~spinefit.models.mixture.Mixture` (ordered means,
    :math:`(\mu_{S,L} - \bar y)/s_y \sim \mathcal N(\mp 0.5, 1.5^2)`).

    Follows Dorkenwald et al. 2022, "Binary and analog variation of synapses between
    cortical pyramidal neurons", eLife 11:e76120.

    Parameters
    ----------
    config : dict, optional
        ``size_variable`` (the Dataset's ``size_variable`` attr), ``pair_mode`` ("all" or
        "first"), ``include_singles`` (True), ``independent_states`` (False: the null
        model with :math:`\phi = 0`) and ``state_comparison`` (True: compare with the
        independent-state model by LOO).
    """

    name: ClassVar[str] = "paired-mixture"
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_SNAPSHOT,)
    default_config: ClassVar[dict[str, Any]] = {
        "size_variable": None,
        "pair_mode": "all",
        "include_singles": True,
        "independent_states": False,
        "state_comparison": True,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.config["pair_mode"] not in PAIR_MODES:
            raise ConfigError(
                f"pair_mode must be one of {PAIR_MODES}, got {self.config['pair_mode']!r}"
            )

    def layout(self, data: xr.Dataset) -> ConnectionLayout:
        """Return the singles and pairs of ``data`` (fails if there are no pairs)."""
        layout = ConnectionLayout(
            data[dims.CONNECTION].values, self.config["pair_mode"], self.config["include_singles"]
        )
        if len(layout.pair_i) == 0:
            raise DataError(
                "no connection has 2 or more synapses; the paired mixture needs pairs",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        return layout

    # -- specification -----------------------------------------------------------------------
    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model with the joint states marginalised out."""
        import pymc as pm
        import pytensor.tensor as pt

        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        layout = self.layout(data)
        used = y[layout.used]
        coords = {dims.COMPONENT: component_labels(2), JOINT_STATE: list(JOINT_STATES)}
        with pm.Model(coords=coords) as model:
            mu, sigma = add_components(2, float(np.mean(used)), float(np.std(used)) or 1.0)
            if self.config["independent_states"]:
                p = pm.Beta("p_large_pairs", 1.0, 1.0)
                joint = pm.Deterministic(
                    "joint_probability",
                    pt.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2]),
                    dims=JOINT_STATE,
                )
            else:
                joint = pm.Dirichlet("joint_probability", a=np.ones(3), dims=JOINT_STATE)
                pm.Deterministic("p_large_pairs", joint[2] + joint[1] / 2)
            p_SS = pm.Deterministic("p_SS", joint[0])
            p_SL = pm.Deterministic("p_SL", joint[1])
            p_LL = pm.Deterministic("p_LL", joint[2])
            if not self.config["independent_states"]:
                pm.Deterministic("phi", phi_coefficient(p_SS, p_SL, p_LL))
            log_n = pm.logp(pm.Normal.dist(mu, sigma), y[:, None])  # (synapses, 2)
            if len(layout.singles):
                w1 = pm.Beta("weight_large_single", 1.0, 1.0)
                log_w = pt.stack([pt.log1p(-w1), pt.log(w1)])
                pm.Potential(
                    "singles_loglik",
                    pt.sum(pm.math.logsumexp(log_n[layout.singles] + log_w, axis=-1)),
                )
            log_table = pt.log(pt.stack([pt.stack([p_SS, p_SL / 2]), pt.stack([p_SL / 2, p_LL])]))
            terms = (
                log_table[None, :, :]
                + log_n[layout.pair_i][:, :, None]
                + log_n[layout.pair_j][:, None, :]
            ).reshape((-1, 4))
            pair_ll = pm.math.logsumexp(terms, axis=-1, keepdims=False)
            pm.Potential("pairs_loglik", pt.sum(layout.pair_weight * pair_ll))
        return model

    # -- fitting -----------------------------------------------------------------------------

    def posterior_draws(self, posterior: xr.Dataset) -> dict[str, np.ndarray]:
        """Return the flattened draws ``(chain * draw, ...)`` the numpy likelihood needs."""
        names = ["mu", "sigma", "p_SS", "p_SL", "p_LL"]
        draws = {name: flat_draws(posterior, name) for name in names}
        if "weight_large_single" in posterior:
            draws["weight_large_single"] = flat_draws(posterior, "weight_large_single")
        return draws

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Add per-synapse P(large), the pair layout and the independent-state comparison."""
        size_variable = resolve_size_variable(data, self.config["size_variable"])
        y = log10_sizes(data, size_variable)
        layout = self.layout(data)
        draws = self.posterior_draws(tree["posterior"].to_dataset())
        p_large = np.full(len(y), np.nan)
        if len(layout.singles):
            mu, sigma, w1 = draws["mu"], draws["sigma"], draws["weight_large_single"]
            weights = np.stack([1 - w1, w1], axis=-1)
            terms = component_logpdf(y[layout.singles], mu, sigma) + np.log(weights)[:, None, :]
            p_large[layout.singles] = np.exp(terms[..., 1] - logsumexp(terms, axis=-1)).mean(0)
        total, count = np.zeros(len(y)), np.zeros(len(y))
        for member, probability in zip(
            (layout.pair_i, layout.pair_j),
            self._pair_state_probability(y, layout, draws),
            strict=True,
        ):
            np.add.at(total, member, probability)
            np.add.at(count, member, 1.0)
        in_pairs = count > 0
        p_large[in_pairs] = total[in_pairs] / count[in_pairs]
        units = data[size_variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        derived = xr.Dataset(
            {
                P_LARGE: (
                    dims.SYNAPSE,
                    p_large,
                    {
                        "units": "1",
                        "long_name": "posterior P(large); for synapses in pairs, averaged "
                        "over the synapse's pairs; NaN if not modelled",
                    },
                )
            },
            coords={dims.SYNAPSE: data[dims.SYNAPSE].values},
            attrs={
                ATTR_SIZE_VARIABLE: size_variable,
                "log10_units": f"log10({units})",
                "pair_mode": self.config["pair_mode"],
                "n_pairs": len(layout.pair_i),
                "n_singles": len(layout.singles),
                "connections_by_multiplicity": json.dumps(layout.multiplicity_counts),
            },
        )
        if self.config["state_comparison"] and not self.config["independent_states"]:
            derived.attrs["state_comparison"] = json.dumps(self.compare_states(tree, data))
        tree[DERIVED_GROUP] = xr.DataTree(dataset=derived)
        return tree

    def _pair_state_probability(self, y, layout, draws) -> tuple[np.ndarray, np.ndarray]:
        """Return posterior mean P(large | both sizes) of the first and second pair members."""
        log_table = log_joint_table(draws["p_SS"], draws["p_SL"], draws["p_LL"])
        logits = pair_state_logits(
            y[layout.pair_i], y[layout.pair_j], draws["mu"], draws["sigma"], log_table
        )
        joint = np.exp(logits - logsumexp(logits, axis=(-2, -1), keepdims=True))
        # joint[..., a, b]: state a of the first member, b of the second.
        return joint[..., 1, :].sum(axis=-1).mean(axis=0), joint[..., :, 1].sum(axis=-1).mean(
            axis=0
        )

    def pointwise(self, posterior: xr.Dataset, data: xr.Dataset) -> np.ndarray:
        """Return the log-likelihood of every connection ``(draws, connections)``.

        Connections of more than two synapses contribute their weighted composite
        log-likelihood, which is not a normalised density; their LOO terms are approximate.
        """
        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        layout = self.layout(data)
        draws = self.posterior_draws(posterior)
        out = np.zeros((draws["mu"].shape[0], layout.n_units))
        if len(layout.singles):
            out[:, layout.unit_of_single] = single_loglik(
                y[layout.singles], draws["mu"], draws["sigma"], draws["weight_large_single"]
            )
        log_table = log_joint_table(draws["p_SS"], draws["p_SL"], draws["p_LL"])
        pairs = pair_loglik(
            y[layout.pair_i], y[layout.pair_j], draws["mu"], draws["sigma"], log_table
        )
        np.add.at(out.T, layout.unit_of_pair, (layout.pair_weight * pairs).T)
        return out

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]]:
        """Return the log-likelihood of every connection ``(chain * draw, connections)``."""
        data = tree[DATA_GROUP].to_dataset()
        log_lik = self.pointwise(tree["posterior"].to_dataset(), data)
        return log_lik, list(self.layout(data).unit_labels)

    def compare_states(self, tree: xr.DataTree, data: xr.Dataset) -> dict[str, Any]:
        """Fit the independent-state model and compare it with this one by PSIS-LOO.

        Returns
        -------
        dict
            As :func:`spinefit.models.mixture_loo.loo_comparison`, with models ``"correlated"``
            and ``"independent"``; connections are the units left out.
        """
        settings = self.settings
        null = type(self)(self.config | {"independent_states": True, "state_comparison": False})
        null_tree = sample_model(null.build(data), settings)
        fits = {"correlated": (self, tree), "independent": (null, null_tree)}
        loos = {
            label: loo_from_pointwise(
                model.pointwise(t["posterior"].to_dataset(), data), t, point_dim=dims.CONNECTION
            )
            for label, (model, t) in fits.items()
        }
        n = self.layout(data).n_units
        result = loo_comparison(loos, "correlated", "independent", n, n, unit=dims.CONNECTION)
        result["method"] += "; units: connections (composite terms for m > 2 are approximate)"
        return result

    # -- reading results ---------------------------------------------------------------------
    def summary_draws(self, tree: xr.DataTree) -> xr.Dataset:
        """Return the scalar posterior quantities of the summary under their public names."""
        posterior = tree["posterior"].to_dataset()
        out = {}
        for label in component_labels(2):
            out[f"mu_{label}"] = posterior["mu"].sel({dims.COMPONENT: label}, drop=True)
            out[f"sigma_{label}"] = posterior["sigma"].sel({dims.COMPONENT: label}, drop=True)
        names = ["p_SS", "p_SL", "p_LL", "phi", "p_large_pairs", "weight_large_single"]
        out |= {name: posterior[name] for name in names if name in posterior}
        return xr.Dataset(out)

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters, the evidence on state dependence and the pair layout.

        ``grid`` is accepted for interface compatibility and not used.
        """
        derived = tree[DERIVED_GROUP].to_dataset()
        draws = self.summary_draws(tree)
        out: dict[str, Any] = {
            "parameters": parameter_stats(draws, list(draws.data_vars)),
            "size_variable": derived.attrs[ATTR_SIZE_VARIABLE],
            "parameter_units": derived.attrs.get("log10_units"),
            "pairs": {
                "pair_mode": derived.attrs["pair_mode"],
                "n_pairs": int(derived.attrs["n_pairs"]),
                "n_singles": int(derived.attrs["n_singles"]),
                "connections_by_multiplicity": json.loads(
                    derived.attrs["connections_by_multiplicity"]
                ),
            },
        }
        if "phi" in draws:
            out["state_dependence"] = {
                "P(phi>0)": float((draws["phi"] > 0).mean()),
                "phi": stats_of(draws["phi"], diagnostics=False),
            }
        comparison = derived.attrs.get("state_comparison")
        out["state_comparison"] = json.loads(comparison) if comparison else None
        return out

    def describe(self) -> dict[str, str]:
        """Return the model equation (LaTeX), priors and title for the report."""
        equation = (
            r"p(y_i,y_j)=\sum_{a,b\in\{S,L\}}\pi_{ab}\,\mathcal{N}(y_i\mid\mu_a,\sigma_a^2)\,"
            r"\mathcal{N}(y_j\mid\mu_b,\sigma_b^2),\ "
            r"\pi=\begin{pmatrix}p_{SS}&p_{SL}/2\\p_{SL}/2&p_{LL}\end{pmatrix};\ "
            r"\ell_c=\frac{1}{m_c-1}\sum_{i<j\in c}\log p(y_i,y_j);\ "
            r"p(y_i)=(1-w_1)\mathcal{N}(\mu_S,\sigma_S^2)+w_1\mathcal{N}(\mu_L,\sigma_L^2)"
            r"\ \text{(single synapses)};\ "
            r"\phi=\frac{p_{SS}p_{LL}-p_{SL}^2/4}{p_L(1-p_L)},\ p_L=p_{LL}+p_{SL}/2"
        )
        priors = (
            r"(p_{SS},p_{SL},p_{LL})\sim\mathrm{Dirichlet}(1,1,1);\ w_1\sim\mathrm{Beta}(1,1);\ "
            r"(\mu_{S,L}-\bar y)/s_y\sim\mathcal{N}(\mp 0.5,1.5^2)\ \text{(ordered)};\ "
            r"\sigma_k/s_y\sim\mathrm{LogNormal}(\log 0.5,1)"
        )
        return {
            "title": "Paired mixture: joint binary states of synapses in one connection "
            "(Dorkenwald et al. 2022, eLife 11:e76120)",
            "equation": equation,
            "priors": priors,
        }

    def report_sections(self, tree: xr.DataTree) -> list[ReportSection]:
        """Return component figures, the joint state table, phi and state probabilities."""
        from spinefit.report.paired_mixture import paired_mixture_sections

        return paired_mixture_sections(self, tree)
