"""PSIS-LOO of the mixture models from pointwise log-likelihoods evaluated in numpy.

The mixture models compute the exact pointwise log-likelihood of posterior draws
themselves (bin counts of the binned likelihood are not exchangeable observations, and
nutpie stores no pointwise values), possibly on a simple random subsample of the units;
:func:`loo_comparison` scales the elpd difference and its SE from the m sampled units to
all n (Magnusson et al. 2019, ICML).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims
from spinefit.models.mixture_likelihood import LOG10_SIZE

DECISIVE_SE = 4.0
"""A model is preferred only when its elpd exceeds the other's by more than this many SEs."""
UNDECIDED = "undecided"


def loo_from_pointwise(log_lik: np.ndarray, tree: xr.DataTree, point_dim: str = dims.SYNAPSE):
    """Return :func:`arviz.loo` (pointwise) from a ``(draws, points)`` log-likelihood."""
    import arviz_stats

    posterior = tree["posterior"].to_dataset()
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    log_likelihood = xr.Dataset(
        {LOG10_SIZE: ((*dims.SAMPLE_DIMS, point_dim), log_lik.reshape(*shape, -1))},
        coords={dims.CHAIN: posterior[dims.CHAIN].values, dims.DRAW: posterior[dims.DRAW].values},
    )
    loo_tree = xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_likelihood})
    return arviz_stats.loo(loo_tree, pointwise=True)


def loo_comparison(
    loos: dict,
    fitted: str,
    alternative: str,
    n: int,
    m: int,
    unit: str = dims.SYNAPSE,
    simpler: str | None = None,
) -> dict[str, Any]:
    """Return the elpd difference ``fitted - alternative`` scaled from m sampled units to n.

    A model is ``preferred`` only when its elpd exceeds the other's by more than
    :data:`DECISIVE_SE` standard errors of the difference; otherwise the simpler model
    (``simpler``) is preferred, or ``"undecided"`` when neither is simpler. A difference of
    a few SE is what two models that fit equally well produce by chance, and at
    connectome scale any small misfit (e.g. skew) is "significant" by its sign alone.

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
    simpler : str, optional
        Label of the simpler model, preferred when the difference is not decisive.
    """
    import arviz_stats

    table = arviz_stats.compare(loos, round_to="none")
    scale = n / m
    elpd = {label: float(loo.elpd) * scale for label, loo in loos.items()}
    se = {label: float(loo.se) * scale for label, loo in loos.items()}
    diff = elpd[fitted] - elpd[alternative]
    se_diff = float(table["dse"].max()) * scale
    decisive = abs(diff) > DECISIVE_SE * se_diff
    if decisive:
        preferred = fitted if diff > 0 else alternative
    else:
        preferred = simpler if simpler is not None else UNDECIDED
    return {
        "fitted": fitted,
        "alternative": alternative,
        "elpd": elpd,
        "se": se,
        "elpd_diff": diff,
        "se_diff": se_diff,
        "preferred": preferred,
        "decisive": bool(decisive),
        "rule": f"preferred only when |elpd_diff| > {DECISIVE_SE:g} SE, else the simpler model",
        f"n_{unit}s": int(n),
        f"n_loo_{unit}s": int(m),
        "max_pareto_k": {label: float(loo.pareto_k.max()) for label, loo in loos.items()},
        "n_high_pareto_k": {
            label: int((loo.pareto_k > loo.good_k).sum()) for label, loo in loos.items()
        },
        "method": "PSIS-LOO (arviz.loo / arviz.compare) on the exact pointwise likelihood"
        + ("" if m == n else f", simple random subsample of {m} {unit}s scaled by n/m"),
    }
