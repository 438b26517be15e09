"""The posterior predictive check of a drift–diffusion fit, computed once and stored.

:func:`stationary_check` picks the check that matches the fit's likelihood (moments:
:mod:`spinefit.check.stationary`; latent: :mod:`spinefit.check.latent`).
:func:`store_check` stores it in the result file as the ``ppc`` group, where the report
and ``summary`` read it instead of recomputing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from spinefit.errors import ConfigError
from spinefit.results import add_group
from spinefit.results.names import MODEL_ATTR, PPC_GROUP


def stationary_check(
    tree: xr.DataTree, *, draws: int = 200, random_seed: int = 0, **options: Any
) -> xr.Dataset:
    """Compare a drift–diffusion result's predicted sizes and turnover with its data.

    Parameters
    ----------
    tree : xarray.DataTree
        A single-population drift–diffusion result.
    draws, random_seed : int
        Posterior draws used, and the seed of their choice and of the replicates.
    **options
        Further options of :func:`spinefit.check.stationary.moments_stationary_check`
        (``n_grid``, ``grid_max_factor``, ``replicate_size``, ``n_particles``, ...); a
        latent fit (:func:`spinefit.check.latent.latent_stationary_check`) takes
        ``n_grid`` and ``replicate_size`` and refuses the particle cross-check, which
        simulates the moments fits of the linear family only.

    Returns
    -------
    xarray.Dataset
        The check (see the two functions for its variables).

    Raises
    ------
    ConfigError
        If the result is not a single-population drift–diffusion fit or an option does
        not apply or is out of range.
    """
    from spinefit.models import get_model_class
    from spinefit.models.drift_diffusion import DriftDiffusion

    if draws < 1:
        raise ConfigError(f"draws must be >= 1, got {draws}")
    if get_model_class(str(tree.attrs.get(MODEL_ATTR))) is not DriftDiffusion:
        raise ConfigError(
            "the stationary check needs a drift-diffusion result, got model "
            f"{tree.attrs.get(MODEL_ATTR)!r}"
        )
    model = DriftDiffusion.from_result(tree)
    if not model.latent:
        from spinefit.check.stationary import moments_stationary_check

        return moments_stationary_check(
            tree, model, draws=draws, random_seed=random_seed, **options
        )
    from spinefit.check.latent import latent_stationary_check

    latent_options = {"n_grid": 500} | options  # the grid of the moments check by default
    if latent_options.pop("n_particles", None) is not None:
        raise ConfigError("the particle cross-check applies to moments fits (--likelihood moments)")
    unknown = sorted(set(latent_options) - {"n_grid", "replicate_size"})
    if unknown:
        raise ConfigError(f"option(s) {', '.join(unknown)} do not apply to a latent fit")
    return latent_stationary_check(
        tree, model, draws=draws, random_seed=random_seed, **latent_options
    )


def stored_check(tree: xr.DataTree) -> xr.Dataset | None:
    """Return the check stored in a result by :func:`store_check`, or None."""
    if PPC_GROUP not in tree.children:
        return None
    return tree[PPC_GROUP].to_dataset()


def store_check(path: str | Path, check: xr.Dataset) -> xr.DataTree:
    """Store ``check`` as the ``ppc`` group of the result file at ``path``, atomically.

    Returns
    -------
    xarray.DataTree
        The updated result, as written.
    """
    return add_group(path, PPC_GROUP, check)
