r"""Gaussian mixture on log10 synapse size: a binary state plus analog variation.

The model follows Dorkenwald et al. 2022 (eLife 11:e76120): the log10 size of a synapse
is drawn from one of K Gaussian components ("small", "large" for K = 2) whose means are
ordered, so component labels cannot switch between chains. This module holds the model;
its numpy likelihoods are in :mod:`spinefit.models.mixture_likelihood`, its PyMC pieces
in :mod:`spinefit.models.mixture_components`, the LOO helpers in
:mod:`spinefit.models.mixture_loo` and its report sections in :mod:`spinefit.report.mixture`.

Exact and binned likelihood
---------------------------
With ``binned="auto"`` (the default) the exact likelihood is used up to
``exact_max_synapses`` (20 000) synapses; above that it is the multinomial likelihood of
counts in ``n_bins`` (2 000) equal-width bins of log10 size, whose cost per gradient does
not depend on the number of synapses. Its derivation and the bound on the posterior
shift it causes (``binning_shift_bound``, stored with every binned fit) are given in
:mod:`spinefit.models.mixture_likelihood`.

Per-synapse state probabilities
-------------------------------
P(large | y_i) is computed after sampling, in numpy, as the posterior mean over draws of
the responsibility of the largest component; above 50 000 synapses on a grid, with the
interpolation error stored (see
:func:`~spinefit.models.mixture_likelihood.state_probability_fast`).

Number of components
--------------------
With ``component_comparison`` (on by default, as the CLI runs it; tests switch it off) a
model with one component fewer (or 2 when K = 1) is fitted with the same sampler
settings and both are compared with PSIS-LOO (:func:`arviz.loo`, :func:`arviz.compare`).
When the comparison is between one and two components, a one-component skew-normal
model (``skew_normal``) is fitted too: at connectome scale any skew of the log sizes
makes two normals beat one normal, and the per-synapse P(large) of such a fit means
nothing. Two components are called preferred only when their elpd exceeds that of
every one-component model by more than 4 SE of the difference
(:data:`~spinefit.models.mixture_loo.DECISIVE_SE`); otherwise the better
one-component model is preferred. The binned likelihood of the skew-normal model
uses the density at bin centres times the bin width (midpoint rule, relative error
O(h²/σ²), about 1e-5 at 2000 bins), as its CDF has no PyTensor form.
The pointwise log-likelihood is always the exact one, evaluated in numpy on the posterior
draws: bin counts are not exchangeable observations, so leaving out a "bin" is not
leaving out a synapse. Above ``loo_max_synapses`` (10 000) synapses, LOO is evaluated on
a simple random sample of m synapses; the elpd difference and its SE are scaled by n/m,
the simple-random-sampling estimator of Magnusson et al. 2019 (ICML), whose SE then
includes the subsampling error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError
from spinefit.io.ssem import ATTR_SIZE_VARIABLE, MULTIPLICITY
from spinefit.models.base import SpineModel, sample_model
from spinefit.models.mixture_components import add_components, pt_component_bin_logprob
from spinefit.models.mixture_likelihood import (
    DERIVED_GROUP,
    LOG10_SIZE,
    MULTIPLICITY_GROUP,
    MULTIPLICITY_GROUPS,
    P_LARGE,
    bin_counts,
    bin_edges,
    binning_shift_bound,
    component_labels,
    component_logpdf,
    fitted_sizes,
    flat_draws,
    log10_sizes,
    logsumexp_last,
    multiplicity_group_index,
    pointwise_loglik,
    resolve_size_variable,
    skew_normal_loglik,
    state_probability_fast,
)
from spinefit.models.mixture_loo import DECISIVE_SE, loo_comparison, loo_from_pointwise
from spinefit.models.prior_scales import (
    LOCATION_SCALE_KEYS,
    check_prior_scales,
    location_and_scale,
)
from spinefit.results.names import DATA_GROUP
from spinefit.sampling.compiled_cache import data as data_or_value
from spinefit.stats import curve_stats, parameter_stats

SKEW_SHAPE = "skew_shape"
"""Shape parameter (Azzalini's alpha) of the one-component skew-normal model."""
PRIOR_SKEW_SHAPE_SD = 3.0
SKEW_LABEL = "1_skew_normal"
"""Label of the skew-normal model in component comparisons."""

if TYPE_CHECKING:
    import pymc as pm


class Mixture(SpineModel):
    r"""Gaussian mixture of log10 synapse sizes (binary state plus analog variation).

    .. math::

        y_i = \log_{10} v_i, \qquad
        p(y_i \mid \theta) = \sum_{k=1}^{K} w_{g(i),k}\,
            \mathcal{N}\!\left(y_i \mid \mu_k, \sigma_k^2\right),
        \qquad \mu_1 < \dots < \mu_K,

    with :math:`g(i)` the multiplicity group (1, 2, 3+ synapses in the connection) when
    ``by_multiplicity`` is set and a single group otherwise. Priors, on log sizes
    standardised by their mean :math:`\bar y` and SD :math:`s_y`:
    :math:`(\mu_k - \bar y)/s_y \sim \mathcal N(m_k, 1.5^2)` with :math:`m_k` evenly spaced
    from -0.5 to 0.5 (constrained increasing),
    :math:`\sigma_k / s_y \sim \mathrm{LogNormal}(\log 0.5, 1)`,
    :math:`w_{g} \sim \mathrm{Dirichlet}(1, \dots, 1)`. With ``skew_normal`` (K = 1 only)
    the single component is skew-normal,
    :math:`2\,\omega^{-1}\phi(z)\Phi(a z)`, :math:`z = (y - \xi)/\omega`, with
    :math:`\xi, \omega` given the priors of :math:`\mu_1, \sigma_1` and shape
    :math:`a \sim \mathcal N(0, 3^2)` (Azzalini 1985, Scand. J. Stat. 12:171).
    Large data sets use the binned likelihood of
    :mod:`spinefit.models.mixture_likelihood`.

    Follows Dorkenwald et al. 2022, "Binary and analog variation of synapses between
    cortical pyramidal neurons", eLife 11:e76120 (Table 2).

    Parameters
    ----------
    config : dict, optional
        ``n_components`` (2), ``by_multiplicity`` (False), ``size_variable`` (the Dataset's
        ``size_variable`` attr), ``binned`` ("auto", True or False),
        ``exact_max_synapses`` (20000), ``n_bins`` (2000), ``component_comparison`` (True),
        ``loo_max_synapses`` (10000), ``skew_normal`` (False; K = 1 only) and
        ``prior_scales`` (None: standardise by the data's mean and SD of log10 sizes; or
        ``{"mean": m, "sd": s}`` to use those, e.g. another data set's, see
        :mod:`spinefit.models.prior_scales`).
    """

    name: ClassVar[str] = "mixture"
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_SNAPSHOT,)
    default_config: ClassVar[dict[str, Any]] = {
        "n_components": 2,
        "by_multiplicity": False,
        "size_variable": None,
        "binned": "auto",
        "exact_max_synapses": 20_000,
        "n_bins": 2000,
        "component_comparison": True,
        "loo_max_synapses": 10_000,
        "skew_normal": False,
        "prior_scales": None,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        k = self.config["n_components"]
        if not isinstance(k, int) or not 1 <= k <= 6:
            raise ConfigError(f"n_components must be an integer from 1 to 6, got {k!r}")
        if self.config["binned"] not in ("auto", True, False):
            raise ConfigError(
                f"binned must be 'auto', true or false, got {self.config['binned']!r}"
            )
        if self.config["by_multiplicity"] and k < 2:
            raise ConfigError("by_multiplicity needs at least 2 components")
        if int(self.config["n_bins"]) < 10:
            raise ConfigError("n_bins must be at least 10")
        if self.config["skew_normal"] and k != 1:
            raise ConfigError("skew_normal needs n_components=1")
        self.config["prior_scales"] = check_prior_scales(
            self.config["prior_scales"], LOCATION_SCALE_KEYS, signed=("mean",)
        )

    # -- data layout -------------------------------------------------------------------------
    def is_binned(self, n_synapses: int) -> bool:
        """Return whether the binned likelihood is used for ``n_synapses`` synapses."""
        binned = self.config["binned"]
        return n_synapses > self.config["exact_max_synapses"] if binned == "auto" else binned

    def groups(self, data: xr.Dataset) -> tuple[np.ndarray | None, list[str]]:
        """Return each synapse's index among the non-empty multiplicity groups and labels."""
        if not self.config["by_multiplicity"]:
            return None, []
        raw = multiplicity_group_index(data[MULTIPLICITY].values)
        present = np.unique(raw)
        remap = np.full(3, -1)
        remap[present] = np.arange(len(present))
        return remap[raw], [MULTIPLICITY_GROUPS[g] for g in present]

    # -- specification -----------------------------------------------------------------------
    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model (exact or binned likelihood, see the module docstring)."""
        import pymc as pm
        import pytensor.tensor as pt

        size_variable = resolve_size_variable(data, self.config["size_variable"])
        y = log10_sizes(data, size_variable)
        k = self.config["n_components"]
        group_index, group_labels = self.groups(data)
        coords: dict[str, Any] = {dims.COMPONENT: component_labels(k)}
        if group_labels:
            coords[MULTIPLICITY_GROUP] = group_labels
        binned = self.is_binned(len(y))
        if not binned:
            coords[dims.SYNAPSE] = data[dims.SYNAPSE].values
        centre, scale = location_and_scale(y, self.config["prior_scales"])
        with pm.Model(coords=coords) as model:
            mu, sigma = add_components(k, centre, scale)
            if k == 1:
                weight = pm.Deterministic("weight", pt.ones(1), dims=dims.COMPONENT)
            elif group_labels:
                weight = pm.Dirichlet(
                    "weight",
                    a=np.ones((len(group_labels), k)),
                    dims=(MULTIPLICITY_GROUP, dims.COMPONENT),
                )
            else:
                weight = pm.Dirichlet("weight", a=np.ones(k), dims=dims.COMPONENT)
            if self.config["skew_normal"]:
                shape = pm.Normal(SKEW_SHAPE, 0.0, PRIOR_SKEW_SHAPE_SD)
                self._skew_normal_likelihood(y, mu[0], sigma[0], shape, binned)
            elif binned:
                edges = bin_edges(y, int(self.config["n_bins"]))
                counts = bin_counts(y, edges, group_index, max(1, len(group_labels)))
                occupied = np.flatnonzero(counts.sum(axis=0) > 0)
                logp = pt_component_bin_logprob(edges, occupied, mu, sigma)
                log_weight = pt.log(pt.atleast_2d(weight))
                mixture = pm.math.logsumexp(
                    logp[None, :, :] + log_weight[:, None, :], axis=-1, keepdims=False
                )
                pm.Potential("binned_loglik", pt.sum(counts[:, occupied] * mixture))
            else:
                # A container inside compiled_cache.reuse() (calibration, batch): one compile
                # serves every data set of this size.
                observed = data_or_value("log10_size_observed", y, dims=dims.SYNAPSE)
                if k == 1:
                    pm.Normal(LOG10_SIZE, mu[0], sigma[0], observed=observed, dims=dims.SYNAPSE)
                else:
                    w = weight[group_index] if group_labels else weight
                    pm.NormalMixture(
                        LOG10_SIZE, w=w, mu=mu, sigma=sigma, observed=observed, dims=dims.SYNAPSE
                    )
        return model

    def _skew_normal_likelihood(self, y: np.ndarray, loc, scale, shape, binned: bool) -> None:
        """Add the exact or (midpoint-rule) binned skew-normal likelihood to the model."""
        import pymc as pm
        import pytensor.tensor as pt

        if not binned:
            pm.SkewNormal(
                LOG10_SIZE, mu=loc, sigma=scale, alpha=shape, observed=y, dims=dims.SYNAPSE
            )
            return
        edges = bin_edges(y, int(self.config["n_bins"]))
        counts = bin_counts(y, edges)[0]
        occupied = np.flatnonzero(counts > 0)
        centres = 0.5 * (edges[occupied] + edges[occupied + 1])
        density = pm.logp(pm.SkewNormal.dist(mu=loc, sigma=scale, alpha=shape), centres)
        width = float(edges[1] - edges[0])
        pm.Potential("binned_loglik", pt.sum(counts[occupied] * (density + np.log(width))))

    # -- fitting -----------------------------------------------------------------------------

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Add per-synapse P(large), likelihood details and the component comparison."""
        size_variable = resolve_size_variable(data, self.config["size_variable"])
        y = log10_sizes(data, size_variable)
        posterior = tree["posterior"].to_dataset()
        group_index, group_labels = self.groups(data)
        mu, sigma, weight = (flat_draws(posterior, v) for v in ("mu", "sigma", "weight"))
        units = data[size_variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
        attrs: dict[str, Any] = {
            ATTR_SIZE_VARIABLE: size_variable,
            "log10_units": f"log10({units})",
            "likelihood": "binned" if self.is_binned(len(y)) else "exact",
            "multiplicity_groups": json.dumps(group_labels),
        }
        if attrs["likelihood"] == "binned":
            edges = bin_edges(y, int(self.config["n_bins"]))
            width = float(edges[1] - edges[0])
            attrs |= {
                "n_bins": int(self.config["n_bins"]),
                "bin_width": width,
                "binning_shift_bound": binning_shift_bound(width, float(sigma.mean(0).min())),
            }
        derived = xr.Dataset(coords={dims.SYNAPSE: data[dims.SYNAPSE].values}, attrs=attrs)
        if self.config["n_components"] > 1:
            p_large, interpolation_error = state_probability_fast(y, mu, sigma, weight, group_index)
            derived.attrs["p_large_interpolation_error"] = interpolation_error
            derived[P_LARGE] = (
                dims.SYNAPSE,
                p_large,
                {"units": "1", "long_name": "posterior P(largest component | size)"},
            )
        if self.config["component_comparison"]:
            derived.attrs["component_comparison"] = json.dumps(self.compare_components(tree, data))
        tree[DERIVED_GROUP] = xr.DataTree(dataset=derived)
        return tree

    def pointwise(self, posterior: xr.Dataset, data: xr.Dataset, index: np.ndarray) -> np.ndarray:
        """Return the exact pointwise log-likelihood ``(draws, len(index))`` of synapses."""
        y = log10_sizes(data, resolve_size_variable(data, self.config["size_variable"]))
        if self.config["skew_normal"]:
            mu, sigma = (flat_draws(posterior, v)[:, 0] for v in ("mu", "sigma"))
            return skew_normal_loglik(y[index], mu, sigma, flat_draws(posterior, SKEW_SHAPE))
        group_index, _ = self.groups(data)
        draws = [flat_draws(posterior, v) for v in ("mu", "sigma", "weight")]
        groups = None if group_index is None else group_index[index]
        return pointwise_loglik(y[index], *draws, groups)

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]]:
        """Return the exact log-likelihood of every synapse ``(chain * draw, synapses)``."""
        data = tree[DATA_GROUP].to_dataset()
        index = np.arange(data.sizes[dims.SYNAPSE])
        log_lik = self.pointwise(tree["posterior"].to_dataset(), data, index)
        return log_lik, [str(v) for v in data[dims.SYNAPSE].values]

    def compare_components(self, tree: xr.DataTree, data: xr.Dataset) -> dict[str, Any]:
        """Fit the model with one component fewer (2 if K = 1) and compare them by PSIS-LOO.

        Between one and two components a skew-normal one-component model is fitted as
        well, and two components are preferred only when they beat every one-component
        model by more than 4 SE (see the module docstring).

        Returns
        -------
        dict
            ``fitted``, ``alternative`` (numbers of components), ``elpd`` and ``se`` per
            model (with ``"1_skew_normal"`` when fitted), ``elpd_diff`` (fitted minus
            alternative) and its ``se_diff``, ``preferred``, ``decisive``,
            ``more_components_vs`` (the elpd difference of the model with more components
            against each simpler one), ``n_synapses``, ``n_loo_synapses`` and Pareto-k
            diagnostics.
        """
        settings = self.settings
        k = self.config["n_components"]
        fitted = SKEW_LABEL if self.config["skew_normal"] else str(k)
        alt_k = k - 1 if k > 1 else 2
        base = self.config | {"component_comparison": False, "skew_normal": False}
        models: dict[str, Mixture] = {
            str(alt_k): type(self)(
                base
                | {
                    "n_components": alt_k,
                    "by_multiplicity": self.config["by_multiplicity"] and alt_k > 1,
                }
            )
        }
        if k in (1, 2) and not self.config["skew_normal"]:
            models[SKEW_LABEL] = type(self)(
                base | {"n_components": 1, "by_multiplicity": False, "skew_normal": True}
            )
        fits = {fitted: (self, tree)} | {
            label: (model, sample_model(model.build(data), settings))
            for label, model in models.items()
        }
        n = data.sizes[dims.SYNAPSE]
        m = min(n, int(self.config["loo_max_synapses"]))
        rng = np.random.default_rng(settings.random_seed)
        index = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
        loos = {
            label: loo_from_pointwise(model.pointwise(t["posterior"].to_dataset(), data, index), t)
            for label, (model, t) in fits.items()
        }
        alternative = str(alt_k)
        simpler = alternative if alt_k < k else fitted
        result = loo_comparison(
            {fitted: loos[fitted], alternative: loos[alternative]},
            fitted,
            alternative,
            n,
            m,
            simpler=simpler,
        )
        richer = fitted if alt_k < k else alternative
        simpler_models = [label for label in loos if label != richer]
        pairwise = {
            label: loo_comparison(
                {richer: loos[richer], label: loos[label]}, richer, label, n, m, simpler=label
            )
            for label in simpler_models
        }
        all_loos = loo_comparison(loos, fitted, alternative, n, m)  # elpd etc. of every model
        decisive = all(c["elpd_diff"] > DECISIVE_SE * c["se_diff"] for c in pairwise.values())
        best_simpler = max(simpler_models, key=lambda label: all_loos["elpd"][label])
        result |= {key: all_loos[key] for key in ("elpd", "se", "max_pareto_k", "n_high_pareto_k")}
        result |= {
            "preferred": richer if decisive else best_simpler,
            "decisive": decisive,
            "more_components_vs": {
                label: {"elpd_diff": c["elpd_diff"], "se_diff": c["se_diff"]}
                for label, c in pairwise.items()
            },
            "rule": f"{richer} components preferred only when their elpd exceeds every "
            f"simpler model's by more than {DECISIVE_SE:g} SE; otherwise the simpler model "
            "with the highest elpd",
        }
        return result

    # -- reading results ---------------------------------------------------------------------
    def summary_draws(self, tree: xr.DataTree) -> xr.Dataset:
        """Return the scalar posterior quantities of the summary, under their public names."""
        posterior = tree["posterior"].to_dataset()
        labels = list(posterior[dims.COMPONENT].values)
        k = len(labels)
        out = {}
        for label in labels:
            suffix = "" if k == 1 else f"_{label}"
            out[f"mu{suffix}"] = posterior["mu"].sel({dims.COMPONENT: label}, drop=True)
            out[f"sigma{suffix}"] = posterior["sigma"].sel({dims.COMPONENT: label}, drop=True)
        if SKEW_SHAPE in posterior:
            out[SKEW_SHAPE] = posterior[SKEW_SHAPE]
        if k > 1:
            weight = posterior["weight"]
            if MULTIPLICITY_GROUP in weight.dims:
                data = tree["data"].to_dataset()
                group_index, group_labels = self.groups(data)
                counts = np.bincount(group_index, minlength=len(group_labels))
                share = xr.DataArray(counts / counts.sum(), dims=MULTIPLICITY_GROUP)
                for label in labels[1:]:
                    per_group = weight.sel({dims.COMPONENT: label}, drop=True)
                    out[f"weight_{label}"] = (per_group * share).sum(MULTIPLICITY_GROUP)
                for group in group_labels:
                    for label in labels[1:]:
                        out[f"weight_{label}_{group}"] = weight.sel(
                            {dims.COMPONENT: label, MULTIPLICITY_GROUP: group}, drop=True
                        )
            else:
                for label in labels[1:]:
                    out[f"weight_{label}"] = weight.sel({dims.COMPONENT: label}, drop=True)
        return xr.Dataset(out)

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return parameters (log10 units), P(large) summaries and the component comparison.

        Parameters
        ----------
        tree : xarray.DataTree
            A result of :meth:`fit`.
        grid : list of float, optional
            Sizes (in the size variable's units) at which to report the curve
            P(large | size); default 50 log-spaced sizes over the data range.
        """
        _, derived, size_variable, y = fitted_sizes(tree)
        draws = self.summary_draws(tree)
        out: dict[str, Any] = {
            "parameters": parameter_stats(draws, list(draws.data_vars)),
            "size_variable": size_variable,
            "parameter_units": derived.attrs.get("log10_units"),
            "n_synapses": int(len(y)),
            "likelihood": {
                key: derived.attrs[key]
                for key in ("likelihood", "n_bins", "bin_width", "binning_shift_bound")
                if key in derived.attrs
            },
        }
        if P_LARGE in derived:
            p_large = derived[P_LARGE].values
            out["p_large"] = {
                "expected_large_synapses": float(p_large.sum()),
                "synapses_above_0.5": int((p_large > 0.5).sum()),
            }
            out["curves"] = self.p_large_curves(tree, grid, y)
        comparison = derived.attrs.get("component_comparison")
        out["component_comparison"] = json.loads(comparison) if comparison else None
        return out

    def p_large_curves(self, tree: xr.DataTree, grid: list[float] | None, y: np.ndarray):
        """Return P(large | size) curves (mean and 94% HDI), one per multiplicity group."""
        sizes = np.asarray(grid if grid is not None else np.logspace(y.min(), y.max(), 50), float)
        posterior = tree["posterior"].to_dataset()
        mu, sigma, weight = (flat_draws(posterior, v) for v in ("mu", "sigma", "weight"))
        shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
        groups = list(posterior[MULTIPLICITY_GROUP].values) if weight.ndim == 3 else [None]
        curves = {}
        for g, group in enumerate(groups):
            w = weight[:, g, :] if group is not None else weight
            terms = component_logpdf(np.log10(sizes), mu, sigma) + np.log(w)[:, None, :]
            p = np.exp(terms[..., -1] - logsumexp_last(terms))
            da = xr.DataArray(
                p.reshape(*shape, len(sizes)),
                dims=(*dims.SAMPLE_DIMS, dims.SIZE_GRID),
                coords={dims.SIZE_GRID: sizes},
            )
            curves[P_LARGE if group is None else f"{P_LARGE}_{group}"] = curve_stats(
                da, dims.SIZE_GRID
            )
        return curves

    def describe(self) -> dict[str, str]:
        """Return the model equation (LaTeX), priors and title for the report."""
        k = self.config["n_components"]
        equation = (
            r"y_i = \log_{10} v_i,\quad p(y_i\mid\theta)=\sum_{k=1}^{K} w_{g(i),k}\,"
            r"\mathcal{N}(y_i\mid\mu_k,\sigma_k^2),\quad \mu_1<\dots<\mu_K,\quad "
            f"K={k}"
        )
        priors = (
            r"(\mu_k-\bar y)/s_y \sim \mathcal{N}(m_k, 1.5^2),\ m_k\ \text{evenly spaced in}\ "
            r"[-0.5, 0.5]\ \text{(ordered)};\ "
            r"\sigma_k/s_y \sim \mathrm{LogNormal}(\log 0.5, 1);\ "
            r"w_g \sim \mathrm{Dirichlet}(1,\dots,1)"
        )
        groups = (
            " per multiplicity group (1, 2, 3+ synapses)" if self.config["by_multiplicity"] else ""
        )
        if self.config["skew_normal"]:
            return {
                "title": "Skew-normal model of log10 size (one population)",
                "equation": r"p(y)=\frac{2}{\omega}\phi\!\left(\frac{y-\xi}{\omega}\right)"
                r"\Phi\!\left(a\frac{y-\xi}{\omega}\right)",
                "priors": r"(\xi-\bar y)/s_y\sim\mathcal{N}(0,1.5^2);\ "
                r"\omega/s_y\sim\mathrm{LogNormal}(\log 0.5,1);\ a\sim\mathcal{N}(0,3^2)",
            }
        return {
            "title": f"{k}-component Gaussian mixture of log10 size{groups} "
            "(Dorkenwald et al. 2022, eLife 11:e76120)",
            "equation": equation,
            "priors": priors,
        }
