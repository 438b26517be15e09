r"""Quantities scientists read, per posterior draw and condition, for condition contrasts.

The raw parameters a, b, c, d are hard to read across conditions, so the condition model
stores, next to them:

* ``mu_at_median``, ``sigma_at_median``: drift and diffusion at the median observed size
  (the same size for every condition);
* ``set_point`` −a/b and ``relaxation_days`` −1/b (linear family, when b < 0 in every
  draw of every condition; otherwise they are left out, and the reason is recorded);
* ``elimination_prob_4d``: the probability that a spine of that true size is eliminated
  within 4 days. With the latent likelihood it follows from the killed process (crossing
  the detection threshold or the loss hazard); with the moments likelihood it is
  :math:`1 - e^{-4\lambda_e}`, the same for every size.

Each is a function of one draw, so its posterior is exact up to Monte Carlo error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spinefit import dims

ELIMINATION_HORIZON_DAYS = 4.0
"""Horizon of ``elimination_prob_4d``."""
DEFAULT_PRIMARY = ("d", "sigma_at_median", "elimination_prob_4d")
"""Primary contrasts of the condition model: the findings come from these only."""
DERIVED = ("mu_at_median", "sigma_at_median", "set_point", "relaxation_days", "elimination_prob_4d")
"""Every derived quantity the condition model may add to its posterior."""
REFERENCE_SIZE_ATTR = "contrast_size"
"""Posterior attr: the size (volume units) the ``*_at_median`` quantities are taken at."""
OMITTED_ATTR = "omitted_contrasts"
"""Posterior attr (JSON): derived quantities left out, with the reason."""


def reference_size(data: xr.Dataset) -> float:
    """Return the median of all observed sizes (volume units)."""
    return float(np.nanmedian(data[dims.VOLUME].values))


def derived_draws(
    posterior: xr.Dataset, data: xr.Dataset, model: Any
) -> tuple[dict[str, xr.DataArray], dict[str, str]]:
    """Return the derived quantities per draw and condition, and the ones left out.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a condition fit with the ``size_scale`` attr.
    data : xarray.Dataset
        The fitted (prepared) data.
    model : ConditionalDriftDiffusion
        The fitted model (family, likelihood and options).

    Returns
    -------
    quantities : dict
        ``{name: DataArray(chain, draw, condition)}`` with ``units`` attrs.
    omitted : dict
        ``{name: reason}``.
    """
    units = data[dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    size = reference_size(data)
    scale = float(posterior.attrs.get("size_scale", 1.0))
    curves = model.family.curves(posterior, np.array([size]), scale)
    out = {
        "mu_at_median": curves["drift"].isel({dims.SIZE_GRID: 0}, drop=True),
        "sigma_at_median": np.sqrt(curves["variance"].isel({dims.SIZE_GRID: 0}, drop=True)),
    }
    out["mu_at_median"].attrs["units"] = f"{units}/day"
    out["sigma_at_median"].attrs["units"] = f"{units}/sqrt(day)"
    omitted: dict[str, str] = {}
    if model.family.name == "linear":
        b = posterior["b"]
        share = {
            str(k): float((b.sel({dims.CONDITION: k}) >= 0).mean())
            for k in b[dims.CONDITION].values
        }
        if max(share.values()) == 0.0:
            out["set_point"] = (-posterior["a"] / b).assign_attrs(units=units)
            out["relaxation_days"] = (-1.0 / b).assign_attrs(units="day")
        else:
            worst = max(share, key=share.get)
            reason = f"b ≥ 0 (no set point) in {share[worst]:.1%} of the draws of {worst}"
            omitted |= {"set_point": reason, "relaxation_days": reason}
    else:
        reason = f"the {model.family.name} family has no single set point −a/b"
        omitted |= {"set_point": reason, "relaxation_days": reason}
    out["elimination_prob_4d"] = _elimination_probability(posterior, data, model, size)
    out["elimination_prob_4d"].attrs["units"] = "1"
    for value in out.values():
        value.attrs["reference_size"] = size
    return out, omitted


def _elimination_probability(
    posterior: xr.Dataset, data: xr.Dataset, model: Any, size: float
) -> xr.DataArray:
    """P(eliminated within the horizon | true size ``size``) per draw and condition."""
    if not model.latent:
        return 1.0 - np.exp(-ELIMINATION_HORIZON_DAYS * posterior["elimination_per_day"])
    from spinefit.models.latent_likelihood import known_errors, prepare_latent
    from spinefit.models.latent_process import draw_dicts, draw_names, elimination_probabilities

    ld = prepare_latent(data, model.config["noise"], measurement_error=known_errors(model.config))
    names = draw_names(model.family.parameter_names)
    shape = (posterior.sizes[dims.CHAIN], posterior.sizes[dims.DRAW])
    labels = posterior[dims.CONDITION].values
    values = np.empty((*shape, len(labels)))
    for k, label in enumerate(labels):
        draws, _ = draw_dicts(posterior.sel({dims.CONDITION: label}), names, None)
        probs = elimination_probabilities(
            draws,
            ld,
            model.config,
            model.family.functions,
            np.array([size]),
            ELIMINATION_HORIZON_DAYS,
        )
        values[..., k] = probs[:, 0].reshape(shape)
    return xr.DataArray(
        values,
        dims=(dims.CHAIN, dims.DRAW, dims.CONDITION),
        coords={
            dims.CHAIN: posterior[dims.CHAIN].values,
            dims.DRAW: posterior[dims.DRAW].values,
            dims.CONDITION: labels,
        },
    )
