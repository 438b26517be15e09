"""The posterior predictive check of a drift–diffusion fit, computed once and stored.

:func:`stationary_check` picks the check that matches the fit's likelihood (moments:
:mod:`spinefit.check.stationary`; latent: :mod:`spinefit.check.latent`).
:func:`store_check` stores it in the result file as the ``ppc`` group, where the report
and ``summary`` read it instead of recomputing it.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from spinefit.errors import ConfigError
from spinefit.results import add_group
from spinefit.results.names import MODEL_ATTR, PPC_GROUP


def stationary_check(
    tree: xr.DataTree,
    *,
    draws: int = 200,
    random_seed: int = 0,
    n_grid: int = 500,
    grid_max_factor: float = 3.0,
    replicate_size: int | None = None,
    n_particles: int | None = None,
    particle_draws: int = 4,
    particle_dt: float = 0.01,
) -> xr.Dataset:
    """Compare a drift–diffusion result's predicted sizes and turnover with its data.

    Parameters are those of
    :func:`spinefit.check.stationary.moments_stationary_check`; a latent fit uses
    ``draws``, ``random_seed``, ``n_grid`` and ``replicate_size`` (the particle
    cross-check applies to moments fits of the linear family only).

    Returns
    -------
    xarray.Dataset
        The check (see the two functions for its variables).

    Raises
    ------
    ConfigError
        If the result is not a single-population drift–diffusion fit or an option is out
        of range.
    """
    from spinefit.models import model_of
    from spinefit.models.drift_diffusion import DriftDiffusion

    if draws < 1:
        raise ConfigError(f"draws must be >= 1, got {draws}")
    model = model_of(tree)
    if type(model) is not DriftDiffusion:
        raise ConfigError(
            "the stationary check needs a drift-diffusion result, got model "
            f"{tree.attrs.get(MODEL_ATTR)!r}"
        )
    if model.latent:
        from spinefit.check.latent import latent_stationary_check

        return latent_stationary_check(
            tree,
            model,
            draws=draws,
            random_seed=random_seed,
            n_grid=n_grid,
            replicate_size=replicate_size,
        )
    from spinefit.check.stationary import moments_stationary_check

    return moments_stationary_check(
        tree,
        model,
        draws=draws,
        random_seed=random_seed,
        n_grid=n_grid,
        grid_max_factor=grid_max_factor,
        replicate_size=replicate_size,
        n_particles=n_particles,
        particle_draws=particle_draws,
        particle_dt=particle_dt,
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
