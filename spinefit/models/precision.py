r"""Synaptic precision: how many distinguishable sizes, and how many bits, a synapse can store.

Bartol et al. (2015, eLife 4:e10778) compared pairs of synapses made by one axon on one
dendrite. Having the same pre- and postsynaptic history, such a pair should have the same
size; the size difference within pairs measures how precisely size follows history. From
the coefficient of variation (CV) of the pairs and the range of sizes they counted the
distinguishable sizes

.. math::

    N = \frac{\ln(\text{range})}{\ln(1 + 2\,\mathrm{CV}\,z)},\qquad \text{bits} = \log_2 N,

(sizes spaced by :math:`2\,\mathrm{CV}\,z` in relative terms, z = 1 in their paper: CV
0.083 and a 60-fold range give ≈ 26 sizes, 4.7 bits).

Here the CV comes from a model instead of pair-by-pair estimates. Log sizes of the
synapses of a connection share a connection effect,

.. math::

    \ln w_{ci} = \mu + u_c + e_{ci},\quad u_c \sim \mathcal N(0, \sigma_{\mathrm{conn}}^2),\
    e_{ci} \sim \mathcal N(0, \sigma_{\mathrm{within}}^2),

with :math:`u_c` integrated out (the grouped normal marginal of
:func:`spinefit.models.variance_split.grouped_normal_logp`), and the within-connection CV
of a synapse's size is that of a log-normal, :math:`\mathrm{CV} =
\sqrt{e^{\sigma_{\mathrm{within}}^2} - 1}`. N and bits carry its posterior uncertainty;
the range is the observed ratio of the largest to the smallest size in the table (or a
given ``size_range``) and is treated as known. The empirical pair CV of Bartol et al.
(SD over mean of each pair, averaged) is reported beside it as a check; for two
log-normal sizes its expectation is about 0.8 CV.

What limits the interpretation: segmentation and measurement error add to
:math:`\sigma_{\mathrm{within}}`, so the CV is an upper bound on the biological
imprecision and N, bits are lower bounds on the capacity; a pair that differs in its
binary (small/large) state (:class:`~spinefit.models.paired_mixture.PairedMixture`)
also widens the CV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.models.base import SamplerSettings, SpineModel, one_blas_thread
from spinefit.models.variance_split import grouped_normal_loglik, grouped_normal_logp, log_sizes
from spinefit.results.names import DATA_GROUP
from spinefit.stats import parameter_stats, stats_of

if TYPE_CHECKING:
    import pymc as pm

PRIOR_GROUP = "prior"
"""DataTree group with prior draws of every reported quantity."""
PRIOR_DRAWS = 2000
REPORTED = ["cv", "distinguishable_sizes", "bits", "sigma_within", "sigma_connection", "mu"]
"""Reported posterior quantities, headline first."""
MULTIPLICITIES = ("2", "all")
BARTOL_CV = 0.083
BARTOL_RANGE = 60.0
"""Bartol et al. 2015: pair CV of spine-head volumes and the size range of their sample."""


def distinguishable_sizes(cv: Any, size_range: float, z: float = 1.0, xp: Any = np) -> Any:
    r"""Return :math:`N = \ln(\text{range}) / \ln(1 + 2\,\mathrm{CV}\,z)`.

    ``xp`` is :mod:`numpy` (default) or :mod:`pytensor.tensor`.
    """
    return float(np.log(size_range)) / xp.log1p(2.0 * cv * z)


def bits_of(n_sizes: Any, xp: Any = np) -> Any:
    """Return log2 of the number of distinguishable sizes (numpy or PyTensor ``xp``)."""
    return xp.log(n_sizes) / np.log(2.0)


def lognormal_cv(sigma_log: Any, xp: Any = np) -> Any:
    """Return the CV of a log-normal size with log-scale SD ``sigma_log`` (numpy or PyTensor)."""
    return xp.sqrt(xp.expm1(sigma_log**2))


def empirical_pair_cv(sizes: np.ndarray, connection: np.ndarray) -> dict[str, float]:
    """Return the mean and median pair CV (SD with n - 1 over mean) of Bartol et al. 2015.

    Every unordered pair of synapses within a connection counts once.
    """
    cvs = []
    for members in pd.Series(np.arange(len(sizes))).groupby(connection).indices.values():
        i, j = np.triu_indices(len(members), 1)
        a, b = sizes[members[i]], sizes[members[j]]
        cvs.append(np.sqrt(2.0) * np.abs(a - b) / (a + b))
    values = np.concatenate(cvs) if cvs else np.zeros(0)
    return {
        "mean": float(values.mean()) if values.size else float("nan"),
        "median": float(np.median(values)) if values.size else float("nan"),
        "pairs": int(values.size),
    }


class SynapticPrecision(SpineModel):
    r"""Within-connection CV of synapse size, distinguishable sizes and bits.

    .. math::

        \ln w_{ci} = \mu + u_c + e_{ci},\
        u_c \sim \mathcal N(0, \sigma_{\mathrm{conn}}^2),\
        e_{ci} \sim \mathcal N(0, \sigma_{\mathrm{within}}^2);\quad
        \mathrm{CV} = \sqrt{e^{\sigma_{\mathrm{within}}^2} - 1},\
        N = \frac{\ln(\text{range})}{\ln(1 + 2\,\mathrm{CV}\,z)},\
        \text{bits} = \log_2 N,

    on the synapses of connections with two (or more) synapses, :math:`u_c` integrated
    out. Priors: :math:`\mu \sim \mathcal N(\bar y, (2 s_y)^2)`,
    :math:`\sigma_{\mathrm{within}}, \sigma_{\mathrm{conn}} \sim
    \mathrm{HalfNormal}(s_y)` (:math:`s_y` the SD of the log sizes); the implied priors of
    CV, N and bits are stored in the ``prior`` group and reported beside the posteriors.
    Follows Bartol et al. 2015, "Nanoconnectomic upper bound on the variability of
    synaptic plasticity", eLife 4:e10778.

    Parameters
    ----------
    config : dict, optional
        ``multiplicity`` ("2": dual connections, as Bartol et al.; "all": every connection
        with two or more synapses), ``size_range`` (None: largest over smallest size in
        the table), ``z`` (1.0).
    """

    name: ClassVar[str] = "precision"
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_SNAPSHOT,)
    default_config: ClassVar[dict[str, Any]] = {
        "multiplicity": "2",
        "size_range": None,
        "z": 1.0,
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if str(self.config["multiplicity"]) not in MULTIPLICITIES:
            raise ConfigError(
                f"multiplicity must be one of {MULTIPLICITIES}, got {self.config['multiplicity']!r}"
            )
        size_range = self.config["size_range"]
        if size_range is not None and not float(size_range) > 1.0:
            raise ConfigError(f"size_range must be a ratio above 1, got {size_range!r}")
        if not float(self.config["z"]) > 0:
            raise ConfigError(f"z must be positive, got {self.config['z']!r}")

    # -- data ------------------------------------------------------------------------------
    def selection(self, data: xr.Dataset) -> np.ndarray:
        """Return the indices of the synapses used (in connections of the chosen multiplicity)."""
        counts = pd.Series(data[dims.CONNECTION].values).map(
            pd.Series(data[dims.CONNECTION].values).value_counts()
        )
        keep = counts.to_numpy() == 2 if str(self.config["multiplicity"]) == "2" else counts >= 2
        index = np.flatnonzero(np.asarray(keep))
        if index.size == 0:
            raise DataError(
                "no connection has the two synapses the precision model compares",
                source=data.attrs.get(dims.ATTR_SOURCE),
            )
        return index

    def size_range(self, data: xr.Dataset) -> float:
        """Return the size range: the configured ratio, or largest over smallest size."""
        if self.config["size_range"] is not None:
            return float(self.config["size_range"])
        y, _, _ = log_sizes(data)
        return float(np.exp(y.max() - y.min()))

    # -- specification ---------------------------------------------------------------------
    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model (connection effects integrated out)."""
        import pymc as pm
        import pytensor.tensor as pt

        y_all, _, _ = log_sizes(data)
        index = self.selection(data)
        y = y_all[index]
        codes, _ = pd.factorize(data[dims.CONNECTION].values[index].astype(str))
        counts = np.bincount(codes).astype(float)
        sd_y = float(np.std(y)) or 1.0
        coords = {dims.SYNAPSE: data[dims.SYNAPSE].values[index]}
        with pm.Model(coords=coords) as model:
            mu = pm.Normal("mu", float(np.mean(y)), 2.0 * sd_y)
            sigma_within = pm.HalfNormal("sigma_within", sd_y)
            sigma_connection = pm.HalfNormal("sigma_connection", sd_y)
            pm.CustomDist(
                "log_size",
                mu,
                sigma_connection**2,
                sigma_within**2,
                logp=lambda value, m, vg, ve: grouped_normal_logp(value, m, vg, ve, codes, counts),
                observed=y,
                dims=dims.SYNAPSE,
            )
            cv = pm.Deterministic("cv", lognormal_cv(sigma_within, pt))
            n_sizes = pm.Deterministic(
                "distinguishable_sizes",
                distinguishable_sizes(cv, self.size_range(data), float(self.config["z"]), pt),
            )
            pm.Deterministic("bits", bits_of(n_sizes, pt))
        return model

    def sample(self, data: xr.Dataset, settings: SamplerSettings) -> xr.DataTree:
        """Sample the posterior and store prior draws of every reported quantity."""
        import pymc as pm

        tree = super().sample(data, settings)
        model = self.build(data)
        with one_blas_thread():
            prior = pm.sample_prior_predictive(
                draws=PRIOR_DRAWS, model=model, var_names=REPORTED, random_seed=settings.random_seed
            )
        tree[PRIOR_GROUP] = xr.DataTree(dataset=prior["prior"].to_dataset())
        return tree

    def postprocess(self, tree: xr.DataTree, data: xr.Dataset, model: pm.Model) -> xr.DataTree:
        """Attach units and the settings of the N arithmetic to the posterior."""
        _, _, units = log_sizes(data)
        posterior = tree["posterior"].to_dataset()
        unit_of = {
            "mu": f"ln({units})",
            "sigma_within": f"ln({units})",
            "sigma_connection": f"ln({units})",
            "cv": "1",
            "distinguishable_sizes": "1",
            "bits": "bit",
        }
        for name, unit in unit_of.items():
            posterior[name].attrs["units"] = unit
        posterior.attrs |= {"size_range": self.size_range(data), "z": float(self.config["z"])}
        tree["posterior"] = xr.DataTree(dataset=posterior)
        return tree

    # -- results ---------------------------------------------------------------------------
    def parameter_names(self, tree: xr.DataTree) -> list[str]:
        """Return the reported quantities (what conditions are contrasted on)."""
        return list(REPORTED)

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]]:
        """Return the log-likelihood of every connection ``(chain * draw, connections)``."""
        data = tree[DATA_GROUP].to_dataset()
        posterior = tree["posterior"].to_dataset()
        y_all, _, _ = log_sizes(data)
        index = self.selection(data)
        codes, labels = pd.factorize(data[dims.CONNECTION].values[index].astype(str))

        def flat(name: str) -> np.ndarray:
            return posterior[name].transpose(*dims.SAMPLE_DIMS).values.reshape(-1)

        residual = y_all[index][None, :] - flat("mu")[:, None]
        log_lik = grouped_normal_loglik(
            residual, flat("sigma_connection") ** 2, flat("sigma_within") ** 2, codes
        )
        return log_lik, [str(v) for v in labels]

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return CV, distinguishable sizes, bits (posterior and implied prior) and data counts.

        ``grid`` is accepted for interface compatibility and not used.
        """
        posterior = tree["posterior"].to_dataset()
        data = tree[DATA_GROUP].to_dataset()
        index = self.selection(data)
        sizes = data[data.attrs.get("size_variable") or next(iter(data.data_vars))].values
        connection = data[dims.CONNECTION].values[index]
        out: dict[str, Any] = {"parameters": parameter_stats(posterior, REPORTED)}
        if PRIOR_GROUP in tree.children:
            prior = tree[PRIOR_GROUP].to_dataset()
            out["prior"] = {n: stats_of(prior[n], diagnostics=False) for n in REPORTED}
        out["data"] = {
            "synapses": int(index.size),
            "connections": int(len(set(connection))),
            "multiplicity": str(self.config["multiplicity"]),
            "size_range": float(posterior.attrs["size_range"]),
            "z": float(posterior.attrs["z"]),
        }
        out["empirical_pair_cv"] = empirical_pair_cv(sizes[index], connection)
        return out

    def describe(self) -> dict[str, str]:
        """Return the equation, priors and title for the report."""
        return {
            "title": "Synaptic precision: distinguishable sizes and bits (Bartol et al. 2015, "
            "eLife 4:e10778)",
            "equation": r"\ln w_{ci}=\mu+u_c+e_{ci},\ u_c\sim\mathcal{N}(0,\sigma_{conn}^2),\ "
            r"e_{ci}\sim\mathcal{N}(0,\sigma_{within}^2);\ "
            r"\mathrm{CV}=\sqrt{e^{\sigma_{within}^2}-1},\ "
            r"N=\ln(\mathrm{range})/\ln(1+2\,\mathrm{CV}\,z),\ \mathrm{bits}=\log_2 N",
            "priors": r"\mu\sim\mathcal{N}(\bar y,(2s_y)^2);\ "
            r"\sigma_{within},\sigma_{conn}\sim\mathrm{HalfNormal}(s_y)",
        }
