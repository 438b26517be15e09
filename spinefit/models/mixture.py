r"""Gaussian mixture on log10 synapse size: a binary state plus analog variation.

The model follows Dorkenwald et al. 2022 (eLife 11:e76120): the log10 size of a synapse
is drawn from one of K Gaussian components ("small", "large" for K = 2) whose means are
ordered, so component labels cannot switch between chains.

Exact and binned likelihood
---------------------------
With ``binned="auto"`` (the default) the exact likelihood
:math:`\sum_i \log \sum_k w_k \mathcal{N}(y_i \mid \mu_k, \sigma_k)` is used up to
``exact_max_synapses`` (20 000) synapses; above that the data are reduced to counts
:math:`c_b` in ``n_bins`` (2 000) equal-width bins of log10 size spanning the data, and
the likelihood is the multinomial

.. math::

    \log L = \sum_b c_b \log \sum_k w_k \left[\Phi\!\left(\frac{e_b - \mu_k}{\sigma_k}\right)
             - \Phi\!\left(\frac{e_{b-1} - \mu_k}{\sigma_k}\right)\right],

which is the exact likelihood of the binned data (the empty cells outside the data range
contribute nothing). Bin probabilities are differences of upper-tail probabilities above
a component's mean and of lower-tail ones below it, so tail bins keep full relative
precision (floored at 1e-300 beyond ~37 SDs so that gradients stay finite). The cost of
a gradient depends on the number of occupied bins, not on the number of synapses: 10⁶
synapses sample in about the time of 2 000. Below the threshold the exact likelihood is
used because it is cheap there and needs no approximation argument.

Error bound. Binning replaces each :math:`y_i` by its bin; the score of the binned
likelihood differs from the exact one by :math:`-\sum_i (y_i - \bar y_{b(i)})
\partial_y\partial_\theta \log f`, a sum of n nearly independent terms with mean ≈ 0 and
variance :math:`h^2/12 \cdot E[(\partial_y\partial_\theta \log f)^2]`, where h is the bin
width. Divided by the Fisher information this moves the posterior by a random amount
whose SD, in units of the posterior SD of the parameter, is at most

.. math::

    \frac{\sqrt{2}}{\sqrt{12}} \frac{h}{\sigma_{\min}} \approx 0.41\, h / \sigma_{\min}

(:math:`h/(\sigma\sqrt{12})` for a mean, :math:`\sqrt 2\, h/(\sigma\sqrt{12})` for an SD;
weights are less sensitive), plus an :math:`O(h^2)` bias. With 2 000 bins over a range of
about 10 component SDs this is ≈ 0.002 posterior SD, an order of magnitude below the
Monte Carlo error of 2 000 draws (≈ 0.03 posterior SD). The realised bound, with
:math:`\sigma_{\min}` the posterior mean of the smallest component SD, is stored with every
binned fit (``binning_shift_bound``). Tests check it: on 20 000 simulated synapses the
binned maximum-likelihood estimates move from the exact ones by at most 0.0017 standard
errors at 2 000 bins and 0.029 at 200 bins (shift SDs from the bound: 0.0022 and 0.022),
shrinking to 0 as h → 0; binned and exact posteriors agree within Monte Carlo error (slow
test and ``benchmarks/bench_mixture.py``).

Per-synapse state probabilities
-------------------------------
P(large | y_i) is computed after sampling, in numpy, as the posterior mean over draws of
the responsibility of the largest component. Above 50 000 synapses it is evaluated on a
grid with spacing 0.02 times the smallest component SD and interpolated linearly; the
largest interpolation error, measured at the grid midpoints, is stored with the result
(``p_large_interpolation_error``; about 3e-5 for MICrONS-like components).

Number of components
--------------------
With ``component_comparison`` (on by default, as the CLI runs it; tests switch it off) a
model with one component fewer (or 2 when K = 1) is fitted with the same sampler
settings and both are compared with PSIS-LOO (:func:`arviz.loo`, :func:`arviz.compare`).
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
from scipy.special import log_ndtr, logsumexp

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import ATTR_SIZE_VARIABLE, MULTIPLICITY
from spinefit.models.base import DATA_GROUP, SpineModel, sample_model
from spinefit.stats import curve_stats, parameter_stats

if TYPE_CHECKING:
    import pymc as pm

    from spinefit.report.sections import ReportSection

# Names used by the mixture models; candidates for spinefit.dims.
MULTIPLICITY_GROUP = "multiplicity_group"
"""Dim of per-multiplicity-group weights (labels ``m1``, ``m2``, ``m3plus``)."""
MULTIPLICITY_GROUPS = ("m1", "m2", "m3plus")
LOG10_SIZE = "log10_size"
"""Observed variable (exact likelihood) and curve abscissa: log10 of the size variable."""
DERIVED_GROUP = "derived"
"""DataTree group with per-synapse posterior quantities such as ``p_large``."""
P_LARGE = "p_large"
"""Posterior probability that a synapse is in the largest component."""

PRIOR_MU_SD = 1.5
"""Prior SD of standardised component means."""
PRIOR_SIGMA_LOG_MEDIAN = float(np.log(0.5))
PRIOR_SIGMA_LOG_SD = 1.0
GRID_STEP_PER_SIGMA = 0.02
"""Grid spacing for P(large | y) on large data, as a fraction of the smallest component SD."""
DIRECT_P_LARGE_MAX = 50_000
_LOG1MEXP_CLAMP = -1e-12
"""Keeps ``log1mexp`` finite for zero-width bins."""
PROBABILITY_FLOOR = 1e-300
"""Smallest bin probability in the PyTensor likelihood (keeps gradients finite)."""


# -- data ---------------------------------------------------------------------------------
def component_labels(n_components: int) -> list[str]:
    """Return component labels in increasing order of mean (``small``, ``large``, ...)."""
    return {
        1: ["all"],
        2: ["small", "large"],
        3: ["small", "medium", "large"],
    }.get(n_components, [f"c{k + 1}" for k in range(n_components)])


def resolve_size_variable(data: xr.Dataset, configured: str | None) -> str:
    """Return the size variable to model: the configured one or the Dataset's primary size."""
    name = configured or data.attrs.get(ATTR_SIZE_VARIABLE)
    if name is None:
        sizes = [v for v in data.data_vars if data[v].dims == (dims.SYNAPSE,)]
        if len(sizes) != 1:
            raise ConfigError(f"choose the size variable with size_variable; one of {sizes}")
        name = sizes[0]
    if name not in data.data_vars:
        raise ConfigError(
            f"size variable '{name}' is not in the data; choose one of {list(data.data_vars)}"
        )
    return str(name)


def log10_sizes(data: xr.Dataset, size_variable: str) -> np.ndarray:
    """Return log10 of the size variable, failing on non-positive or missing sizes."""
    values = np.asarray(data[size_variable].values, dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{bad.sum()} size(s) are missing or not positive (first: synapse "
            f"{data[dims.SYNAPSE].values[i]} = {values[i]}); read the table with read_ssem",
            source=data.attrs.get(dims.ATTR_SOURCE),
            column=size_variable,
        )
    return np.log10(values)


def multiplicity_group_index(multiplicity: np.ndarray) -> np.ndarray:
    """Return 0, 1, 2 for synapses in connections of 1, 2, and 3 or more synapses."""
    return np.clip(np.asarray(multiplicity, dtype=np.int64), 1, 3) - 1


def size_axis_label(data: xr.Dataset, size_variable: str, log10: bool = True) -> str:
    """Return an axis label with units, e.g. ``log10 spine-head volume (log10 µm³)``."""
    attrs = data[size_variable].attrs
    name = attrs.get("long_name", size_variable)
    units = pretty_units(attrs.get("units", dims.DEFAULT_VOLUME_UNITS))
    return f"log10 {name} (log10 {units})" if log10 else f"{name} ({units})"


def pretty_units(units: str) -> str:
    """Return units for display: ``um^3`` → ``µm³``."""
    return units.replace("um", "µm").replace("^3", "³").replace("^2", "²")


# -- likelihood pieces (numpy) ------------------------------------------------------------
def bin_edges(log10_size: np.ndarray, n_bins: int) -> np.ndarray:
    """Return ``n_bins + 1`` equal-width edges spanning the data.

    The likelihood uses these finite bins only: the cells below the first and above the
    last edge hold no data, and an empty cell contributes nothing to a multinomial
    log-likelihood. (Open-ended outer bins would turn the smallest and largest synapse
    into censored observations and shift the posterior by O(1/sqrt(n)) SDs.)
    """
    low, high = float(np.min(log10_size)), float(np.max(log10_size))
    if high <= low:
        high = low + 1e-9
    return np.linspace(low, high, n_bins + 1)


def bin_counts(
    log10_size: np.ndarray,
    edges: np.ndarray,
    group_index: np.ndarray | None = None,
    n_groups: int = 1,
) -> np.ndarray:
    """Return counts of shape ``(n_groups, n_bins)`` (every datum in exactly one bin)."""
    n_bins = len(edges) - 1
    index = np.clip(np.searchsorted(edges, log10_size, side="right") - 1, 0, n_bins - 1)
    groups = np.zeros(len(log10_size), dtype=np.int64) if group_index is None else group_index
    return np.bincount(groups * n_bins + index, minlength=n_groups * n_bins).reshape(
        n_groups, n_bins
    )


def _log1mexp(t: np.ndarray) -> np.ndarray:
    """Return log(1 - exp(t)) for t < 0, accurately on both sides of -log 2."""
    t = np.minimum(t, _LOG1MEXP_CLAMP)
    return np.where(t > -np.log(2.0), np.log(-np.expm1(t)), np.log1p(-np.exp(t)))


def component_bin_logprob(edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Return log P(bin | component), shape ``(n_bins, K)``.

    Parameters
    ----------
    edges : numpy.ndarray
        Bin edges from :func:`bin_edges`.
    mu, sigma : numpy.ndarray
        Component means and SDs, shape ``(K,)``.
    """
    z = (edges[:, None] - mu) / sigma
    low, high = z[:-1], z[1:]
    upper = (low + high) > 0  # compute on the side of the bin centre: no cancellation
    lo = np.where(upper, low, -high)
    hi = np.where(upper, high, -low)
    log_sf_lo, log_sf_hi = log_ndtr(-lo), log_ndtr(-hi)
    return log_sf_lo + _log1mexp(log_sf_hi - log_sf_lo)


def binned_loglik(
    counts: np.ndarray, edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray, weights: np.ndarray
) -> float:
    """Return the multinomial log-likelihood (without the constant) of bin counts.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(n_groups, n_bins)`` from :func:`bin_counts`.
    edges : numpy.ndarray
        Bin edges.
    mu, sigma : numpy.ndarray
        ``(K,)`` component means and SDs (log10 units).
    weights : numpy.ndarray
        ``(K,)`` or ``(n_groups, K)`` component weights.
    """
    logp = component_bin_logprob(edges, mu, sigma)
    weights = np.atleast_2d(weights)
    with np.errstate(divide="ignore"):
        mixture = logsumexp(logp[None, :, :] + np.log(weights)[:, None, :], axis=-1)
    return float(np.sum(np.where(counts > 0, counts * mixture, 0.0)))


def binning_shift_bound(bin_width: float, sigma_min: float) -> float:
    """Return the bound on binned-vs-exact posterior shifts, in posterior SDs.

    It is the SD of the shift of an SD parameter, ``sqrt(2/12) * h / sigma_min``; see the
    module docstring for its derivation.
    """
    return float(np.sqrt(2.0 / 12.0) * bin_width / sigma_min)


def logsumexp_last(values: np.ndarray) -> np.ndarray:
    """Return log-sum-exp over the last axis (faster than scipy's for small last axes)."""
    peak = values.max(axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.log(np.exp(values - peak).sum(axis=-1)) + peak[..., 0]


def _log_weights_per_point(
    weights: np.ndarray, group_index: np.ndarray | None, chunk: slice
) -> np.ndarray:
    """Return log weights broadcastable to ``(draws, points, K)``."""
    with np.errstate(divide="ignore"):
        if weights.ndim == 3:  # (draws, groups, K)
            return np.log(weights[:, group_index[chunk], :])
        return np.log(weights)[:, None, :]


def _chunks(n_points: int, n_draws: int, n_components: int) -> list[slice]:
    step = max(1, int(2e7 // max(1, n_draws * n_components)))
    return [slice(i, min(i + step, n_points)) for i in range(0, n_points, step)]


def component_logpdf(log10_size: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Return log N(y | mu_k, sigma_k) with shape ``(draws, points, K)``."""
    z = (log10_size[None, :, None] - mu[:, None, :]) / sigma[:, None, :]
    return -0.5 * z**2 - np.log(sigma[:, None, :]) - 0.5 * np.log(2 * np.pi)


def pointwise_loglik(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
) -> np.ndarray:
    """Return the exact log-likelihood of every point under every draw.

    Parameters
    ----------
    log10_size : numpy.ndarray
        ``(n,)`` observations.
    mu, sigma : numpy.ndarray
        ``(draws, K)``.
    weights : numpy.ndarray
        ``(draws, K)``, or ``(draws, groups, K)`` with ``group_index``.
    group_index : numpy.ndarray, optional
        Group of every point, for per-group weights.

    Returns
    -------
    numpy.ndarray
        ``(draws, n)``.
    """
    out = np.empty((mu.shape[0], len(log10_size)))
    for chunk in _chunks(len(log10_size), mu.shape[0], mu.shape[1]):
        terms = component_logpdf(log10_size[chunk], mu, sigma)
        terms = terms + _log_weights_per_point(weights, group_index, chunk)
        out[:, chunk] = logsumexp_last(terms)
    return out


def state_probability(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
    component: int = -1,
) -> np.ndarray:
    """Return the posterior mean over draws of P(component | y) for every point.

    Shapes are those of :func:`pointwise_loglik`; the result has shape ``(n,)``.
    """
    out = np.empty(len(log10_size))
    for chunk in _chunks(len(log10_size), mu.shape[0], mu.shape[1]):
        terms = component_logpdf(log10_size[chunk], mu, sigma)
        terms = terms + _log_weights_per_point(weights, group_index, chunk)
        out[chunk] = np.exp(terms[..., component] - logsumexp_last(terms)).mean(axis=0)
    return out


def state_probability_fast(
    log10_size: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    group_index: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Return :func:`state_probability` of the largest component, on a grid when n is large.

    Above :data:`DIRECT_P_LARGE_MAX` points the posterior mean of P(large | y), a smooth
    function of y, is evaluated on a grid with spacing :data:`GRID_STEP_PER_SIGMA` times
    the smallest component SD (posterior mean) and interpolated linearly. The
    interpolation error is measured at the grid midpoints.

    Returns
    -------
    p_large : numpy.ndarray
        ``(n,)`` posterior mean P(large | y).
    max_error : float
        Largest interpolation error at the grid midpoints (0 when evaluated directly).
    """
    if len(log10_size) <= DIRECT_P_LARGE_MAX:
        return state_probability(log10_size, mu, sigma, weights, group_index), 0.0
    step = GRID_STEP_PER_SIGMA * float(sigma.mean(axis=0).min())
    low, high = float(log10_size.min()), float(log10_size.max())
    grid = np.linspace(low, high, max(3, int(np.ceil((high - low) / step)) + 1))
    midpoints = 0.5 * (grid[1:] + grid[:-1])
    out = np.empty(len(log10_size))
    max_error = 0.0
    groups = np.zeros(len(log10_size), dtype=np.int64) if group_index is None else group_index
    for g in np.unique(groups):
        group_weights = weights[:, g, :] if weights.ndim == 3 else weights
        curve = state_probability(grid, mu, sigma, group_weights)
        check = state_probability(midpoints, mu, sigma, group_weights)
        max_error = max(max_error, float(np.abs(check - 0.5 * (curve[1:] + curve[:-1])).max()))
        members = groups == g
        out[members] = np.interp(log10_size[members], grid, curve)
    return out, max_error


# -- PyMC pieces ----------------------------------------------------------------------------
def prior_mu_locations(n_components: int) -> np.ndarray:
    """Return the prior locations of the standardised ordered means (-0.5 ... 0.5)."""
    return np.linspace(-0.5, 0.5, n_components) if n_components > 1 else np.zeros(1)


def add_components(n_components: int, center: float, scale: float) -> tuple[Any, Any]:
    """Add ordered component means and SDs (log10 units) to the model in context.

    Priors are set on the standardised scale, ``(mu_k - center) / scale`` and
    ``sigma_k / scale``, where center and scale are the mean and SD of the log10 sizes:
    ``N(m_k, 1.5^2)`` with ``m_k`` evenly spaced from -0.5 to 0.5, constrained to be
    increasing, and ``LogNormal(log 0.5, 1)``.
    """
    import pymc as pm
    from pymc.distributions.transforms import ordered

    # Distinct prior locations make the default initial point ordered, so no initval is
    # needed (pm.compute_log_likelihood refuses models with non-default initial values).
    extra = {"transform": ordered} if n_components > 1 else {}
    mu_std = pm.Normal(
        "mu_std", prior_mu_locations(n_components), PRIOR_MU_SD, dims=dims.COMPONENT, **extra
    )
    sigma_std = pm.LogNormal(
        "sigma_std", PRIOR_SIGMA_LOG_MEDIAN, PRIOR_SIGMA_LOG_SD, dims=dims.COMPONENT
    )
    mu = pm.Deterministic("mu", center + scale * mu_std, dims=dims.COMPONENT)
    sigma = pm.Deterministic("sigma", scale * sigma_std, dims=dims.COMPONENT)
    return mu, sigma


def pt_component_bin_logprob(edges: np.ndarray, occupied: np.ndarray, mu: Any, sigma: Any):
    """Return the PyTensor log P(bin | component) for occupied bins, ``(bins, K)``.

    The probability is a difference of upper-tail probabilities for bins above the
    component mean and of lower-tail ones below it, so it keeps full relative precision
    out to about 37 SDs, where ``erfc`` underflows; beyond that the probability is floored
    at 1e-300 (a penalty of -690 per synapse, with zero gradient), which keeps every
    gradient finite. This is half the cost of a log-space evaluation and agrees with
    :func:`component_bin_logprob` to ~1e-12 wherever it matters.
    """
    import pytensor.tensor as pt

    z = (edges[:, None] - mu[None, :]) / sigma[None, :]
    upper_tail = 0.5 * pt.erfc(z / np.sqrt(2.0))
    lower_tail = 0.5 * pt.erfc(-z / np.sqrt(2.0))
    above = z[occupied] > 0
    probability = pt.switch(
        above,
        upper_tail[occupied] - upper_tail[occupied + 1],
        lower_tail[occupied + 1] - lower_tail[occupied],
    )
    return pt.log(pt.maximum(probability, PROBABILITY_FLOOR))


def flat_draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    """Return a posterior variable as ``(chain * draw, ...)``."""
    values = posterior[name].transpose(*dims.SAMPLE_DIMS, ...).values
    return values.reshape(-1, *values.shape[2:])


# -- the model ----------------------------------------------------------------------------
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
    :math:`w_{g} \sim \mathrm{Dirichlet}(1, \dots, 1)`.
    Large data sets use the binned likelihood described in the module docstring.

    Follows Dorkenwald et al. 2022, "Binary and analog variation of synapses between
    cortical pyramidal neurons", eLife 11:e76120 (Table 2).

    Parameters
    ----------
    config : dict, optional
        ``n_components`` (2), ``by_multiplicity`` (False), ``size_variable`` (the Dataset's
        ``size_variable`` attr), ``binned`` ("auto", True or False),
        ``exact_max_synapses`` (20000), ``n_bins`` (2000), ``component_comparison`` (True)
        and ``loo_max_synapses`` (10000).
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
        scale = float(np.std(y)) or 1.0
        with pm.Model(coords=coords) as model:
            mu, sigma = add_components(k, float(np.mean(y)), scale)
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
            if binned:
                edges = bin_edges(y, int(self.config["n_bins"]))
                counts = bin_counts(y, edges, group_index, max(1, len(group_labels)))
                occupied = np.flatnonzero(counts.sum(axis=0) > 0)
                logp = pt_component_bin_logprob(edges, occupied, mu, sigma)
                log_weight = pt.log(pt.atleast_2d(weight))
                mixture = pm.math.logsumexp(
                    logp[None, :, :] + log_weight[:, None, :], axis=-1, keepdims=False
                )
                pm.Potential("binned_loglik", pt.sum(counts[:, occupied] * mixture))
            elif k == 1:
                pm.Normal(LOG10_SIZE, mu[0], sigma[0], observed=y, dims=dims.SYNAPSE)
            else:
                w = weight[group_index] if group_labels else weight
                pm.NormalMixture(LOG10_SIZE, w=w, mu=mu, sigma=sigma, observed=y, dims=dims.SYNAPSE)
        return model

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

        Returns
        -------
        dict
            ``fitted``, ``alternative`` (numbers of components), ``elpd`` and ``se`` per
            model, ``elpd_diff`` (fitted minus alternative) and its ``se_diff``,
            ``preferred``, ``n_synapses``, ``n_loo_synapses`` and Pareto-k diagnostics.
        """
        settings = self.settings
        k = self.config["n_components"]
        alt_k = k - 1 if k > 1 else 2
        alternative = type(self)(
            self.config
            | {
                "n_components": alt_k,
                "component_comparison": False,
                "by_multiplicity": self.config["by_multiplicity"] and alt_k > 1,
            }
        )
        alt_tree = sample_model(alternative.build(data), settings)
        n = data.sizes[dims.SYNAPSE]
        m = min(n, int(self.config["loo_max_synapses"]))
        rng = np.random.default_rng(settings.random_seed)
        index = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
        fits = {str(k): (self, tree), str(alt_k): (alternative, alt_tree)}
        loos = {
            label: loo_from_pointwise(model.pointwise(t["posterior"].to_dataset(), data, index), t)
            for label, (model, t) in fits.items()
        }
        return loo_comparison(loos, str(k), str(alt_k), n, m)

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
        data = tree["data"].to_dataset()
        derived = tree[DERIVED_GROUP].to_dataset()
        size_variable = derived.attrs[ATTR_SIZE_VARIABLE]
        y = log10_sizes(data, size_variable)
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
        return {
            "title": f"{k}-component Gaussian mixture of log10 size{groups} "
            "(Dorkenwald et al. 2022, eLife 11:e76120)",
            "equation": equation,
            "priors": priors,
        }

    def report_sections(self, tree: xr.DataTree) -> list[ReportSection]:
        """Return the fitted-component figures, state probabilities and component comparison."""
        from spinefit.report.sections import ReportSection, paragraph

        data = tree["data"].to_dataset()
        derived = tree[DERIVED_GROUP].to_dataset()
        size_variable = derived.attrs[ATTR_SIZE_VARIABLE]
        y = log10_sizes(data, size_variable)
        posterior = tree["posterior"].to_dataset()
        mu, sigma, weight = (flat_draws(posterior, v) for v in ("mu", "sigma", "weight"))
        if weight.ndim == 3:  # overall weights: groups weighted by their share of synapses
            group_index, group_labels = self.groups(data)
            share = np.bincount(group_index, minlength=len(group_labels)) / len(group_index)
            weight = np.einsum("sgk,g->sk", weight, share)
        labels = list(posterior[dims.COMPONENT].values)
        summary = self.summarize(tree)
        likelihood = summary["likelihood"]
        method = (
            f"Binned likelihood ({likelihood['n_bins']} bins of width "
            f"{likelihood['bin_width']:.2g} log10 units; shift bound "
            f"{likelihood['binning_shift_bound']:.2g} posterior SD)."
            if likelihood.get("likelihood") == "binned"
            else "Exact likelihood."
        )
        fit_body = paragraph(
            f"{len(y)} synapses, {size_variable}. {method} Bands: 94% HDI of each weighted "
            "component density and of the mixture (black)."
        )
        fit_body += "".join(histogram_figures(y, mu, sigma, weight, labels, data, size_variable))
        fit_body += parameter_table(summary["parameters"], summary["parameter_units"])
        sections = [ReportSection("Fitted mixture components", fit_body)]
        if P_LARGE in derived:
            sections.append(
                ReportSection(
                    "Posterior state probabilities",
                    paragraph(
                        f"Expected number of large synapses: "
                        f"{summary['p_large']['expected_large_synapses']:.1f} of {len(y)}; "
                        f"{summary['p_large']['synapses_above_0.5']} synapses have P(large) > 0.5."
                    )
                    + state_probability_figure(
                        summary["curves"], derived[P_LARGE].values, data, size_variable
                    ),
                )
            )
        if summary["component_comparison"]:
            sections.append(
                ReportSection(
                    "Number of components", comparison_html(summary["component_comparison"])
                )
            )
        return sections


# -- report helpers (shared with the paired mixture) ---------------------------------------
def _thinned(*arrays: np.ndarray, max_draws: int = 500) -> list[np.ndarray]:
    n = arrays[0].shape[0]
    index = np.unique(np.linspace(0, n - 1, min(n, max_draws)).astype(int))
    return [a[index] for a in arrays]


def _band(values: np.ndarray, grid: np.ndarray) -> dict[str, list[float]]:
    """Return mean and 94% HDI of ``(draws, grid)`` values (via :func:`curve_stats`)."""
    da = xr.DataArray(
        values[None], dims=(*dims.SAMPLE_DIMS, dims.SIZE_GRID), coords={dims.SIZE_GRID: grid}
    )
    return curve_stats(da, dims.SIZE_GRID)


def histogram_figures(
    y: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    weight: np.ndarray,
    labels: list[str],
    data: xr.Dataset,
    size_variable: str,
) -> list[str]:
    """Return two figures: log10 and linear histograms with weighted component densities.

    Parameters
    ----------
    y : numpy.ndarray
        Log10 sizes.
    mu, sigma, weight : numpy.ndarray
        ``(draws, K)`` posterior draws (overall weights).
    labels : list of str
        Component labels.
    data : xarray.Dataset
        For the axis labels (long name and units of ``size_variable``).
    size_variable : str
        The modelled size variable.
    """
    from spinefit.report.sections import figure_html, new_figure

    mu, sigma, weight = _thinned(mu, sigma, weight)
    span = y.max() - y.min()
    grid = np.linspace(y.min() - 0.05 * span, y.max() + 0.05 * span, 300)
    weighted = np.exp(component_logpdf(grid, mu, sigma) + np.log(weight)[:, None, :])
    curves = [(label, weighted[..., k]) for k, label in enumerate(labels)]
    curves.append(("mixture", weighted.sum(axis=-1)))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    n_bins = int(np.clip(np.sqrt(len(y)), 20, 80))

    figures = []
    for log_axis in (True, False):
        fig, (ax,) = new_figure()
        if log_axis:
            x, scale_factor = grid, 1.0
            ax.hist(y, bins=n_bins, density=True, color="0.8", label=f"synapses (n={len(y)})")
        else:
            x = 10.0**grid
            scale_factor = 1.0 / (x * np.log(10.0))  # density per linear unit
            upper = np.quantile(10.0**y, 0.995)
            ax.hist(10.0**y, bins=np.linspace(0, upper, n_bins), density=True, color="0.8")
            ax.set_xlim(0, upper)
        for i, (label, values) in enumerate(curves):
            band = _band(values * scale_factor, x)
            color = "black" if label == "mixture" else colors[i % len(colors)]
            ax.plot(x, band["mean"], color=color, label=label)
            ax.fill_between(x, band["hdi_low"], band["hdi_high"], color=color, alpha=0.25, lw=0)
        ax.set_xlabel(size_axis_label(data, size_variable, log10=log_axis))
        units = pretty_units(data[size_variable].attrs.get("units", dims.DEFAULT_VOLUME_UNITS))
        ax.set_ylabel(f"density (per log10 {units})" if log_axis else f"density (per {units})")
        ax.legend(frameon=False, fontsize="small")
        caption = (
            "Log10 size with fitted components (lines: posterior mean; bands: 94% HDI)."
            if log_axis
            else "The same fit on a linear size axis (up to the 99.5th percentile)."
        )
        figures.append(figure_html(fig, caption))
    return figures


def state_probability_figure(
    curves: dict[str, dict[str, list[float]]],
    p_large: np.ndarray,
    data: xr.Dataset,
    size_variable: str,
    caption: str = "",
) -> str:
    """Return a figure of P(large | size) curves and the histogram of per-synapse P(large)."""
    from spinefit.report.sections import figure_html, new_figure

    fig, (left, right) = new_figure(ncols=2)
    for name, curve in curves.items():
        x = np.log10(curve[dims.SIZE_GRID])
        label = name.replace(f"{P_LARGE}_", "") if name != P_LARGE else "all synapses"
        left.plot(x, curve["mean"], label=label)
        left.fill_between(x, curve["hdi_low"], curve["hdi_high"], alpha=0.25, lw=0)
    left.set_xlabel(size_axis_label(data, size_variable))
    left.set_ylabel("P(large | size)")
    left.set_ylim(-0.02, 1.02)
    left.legend(frameon=False, fontsize="small")
    right.hist(p_large, bins=np.linspace(0, 1, 21), color="0.5")
    right.set_xlabel("posterior P(large) of a synapse")
    right.set_ylabel("synapses")
    fig.tight_layout()
    return figure_html(
        fig,
        caption
        or "Left: probability that a synapse of a given size is in the large state "
        "(mean and 94% HDI). Right: posterior P(large) of every synapse.",
    )


def parameter_table(parameters: dict[str, dict[str, float]], units: str | None) -> str:
    """Return the HTML table of posterior parameter summaries."""
    from spinefit.report.sections import table_html

    rows = [
        [
            name,
            stats["mean"],
            stats["sd"],
            stats["hdi_low"],
            stats["hdi_high"],
            stats.get("r_hat", float("nan")),
            stats.get("ess_bulk", float("nan")),
        ]
        for name, stats in parameters.items()
    ]
    return table_html(
        ["parameter", "mean", "sd", "94% HDI low", "94% HDI high", "R-hat", "bulk ESS"],
        rows,
        caption=f"Means and SDs in {pretty_units(units)}; weights and probabilities unitless."
        if units
        else "",
    )


def comparison_html(comparison: dict[str, Any]) -> str:
    """Return a paragraph and table for a LOO comparison from :func:`loo_comparison`."""
    from spinefit.report.sections import paragraph, table_html

    fitted, alternative = comparison["fitted"], comparison["alternative"]
    rows = [
        [
            label,
            comparison["elpd"][label],
            comparison["se"][label],
            comparison["max_pareto_k"][label],
        ]
        for label in (fitted, alternative)
    ]
    text = (
        f"elpd({fitted}) - elpd({alternative}) = {comparison['elpd_diff']:.1f} "
        f"(SE {comparison['se_diff']:.1f}); preferred: {comparison['preferred']}. "
        f"{comparison['method']}."
    )
    return paragraph(text) + table_html(["model", "elpd (LOO)", "SE", "max Pareto k"], rows)


def loo_from_pointwise(log_lik: np.ndarray, tree: xr.DataTree, point_dim: str = dims.SYNAPSE):
    """Return :func:`arviz.loo` (pointwise) from a ``(draws, points)`` log-likelihood."""
    import arviz as az

    posterior = tree["posterior"].to_dataset()
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    log_likelihood = xr.Dataset(
        {LOG10_SIZE: ((*dims.SAMPLE_DIMS, point_dim), log_lik.reshape(*shape, -1))},
        coords={dims.CHAIN: posterior[dims.CHAIN].values, dims.DRAW: posterior[dims.DRAW].values},
    )
    loo_tree = xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_likelihood})
    return az.loo(loo_tree, pointwise=True)


def loo_comparison(
    loos: dict, fitted: str, alternative: str, n: int, m: int, unit: str = dims.SYNAPSE
) -> dict[str, Any]:
    """Return the elpd difference ``fitted - alternative`` scaled from m sampled units to n.

    Parameters
    ----------
    loos : dict
        ``{label: ELPDData}`` from :func:`loo_from_pointwise` on the same m units.
    fitted, alternative : str
        Labels of the two models in ``loos``.
    n, m : int
        Units in the data and units evaluated (m < n: simple random subsample).
    unit : str
        What a unit is (``"synapse"``, ``"connection"``), for the key names.
    """
    import arviz as az

    table = az.compare(loos, round_to="none")
    scale = n / m
    elpd = {label: float(loo.elpd) * scale for label, loo in loos.items()}
    se = {label: float(loo.se) * scale for label, loo in loos.items()}
    diff = elpd[fitted] - elpd[alternative]
    return {
        "fitted": fitted,
        "alternative": alternative,
        "elpd": elpd,
        "se": se,
        "elpd_diff": diff,
        "se_diff": float(table["dse"].max()) * scale,
        "preferred": fitted if diff > 0 else alternative,
        f"n_{unit}s": int(n),
        f"n_loo_{unit}s": int(m),
        "max_pareto_k": {label: float(loo.pareto_k.max()) for label, loo in loos.items()},
        "n_high_pareto_k": {
            label: int((loo.pareto_k > loo.good_k).sum()) for label, loo in loos.items()
        },
        "method": "PSIS-LOO (arviz.loo / arviz.compare) on the exact pointwise likelihood"
        + ("" if m == n else f", simple random subsample of {m} {unit}s scaled by n/m"),
    }
