r"""A toy model in one file, written by following ARCHITECTURE.md's "Adding a model".

Log sizes are normal: :math:`\log_{10} w_i \sim \mathcal N(\mu, s)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pymc as pm
import xarray as xr

from spinefit import dims
from spinefit.models.base import SpineModel
from spinefit.results.names import DATA_GROUP, POSTERIOR_GROUP
from spinefit.stats import parameter_stats


def log_sizes(data: xr.Dataset) -> np.ndarray:
    """Return the log10 of every present size of a time series."""
    values = data[dims.VOLUME].values.ravel()
    return np.log10(values[np.isfinite(values) & (values > 0)])


class ToyNormal(SpineModel):
    """Normal log sizes (a toy model)."""

    name: ClassVar[str] = "toy-normal"
    data_kinds: ClassVar[tuple[str, ...]] = (dims.KIND_TIME_SERIES,)
    default_config: ClassVar[dict[str, Any]] = {"prior_sd": 1.0}

    def build(self, data: xr.Dataset) -> pm.Model:
        """Return the PyMC model of the log sizes."""
        y = log_sizes(data)
        with pm.Model() as model:
            mu = pm.Normal("mu", 0.0, self.config["prior_sd"])
            s = pm.HalfNormal("s", self.config["prior_sd"])
            pm.Normal("y", mu, s, observed=y)
        return model

    def parameter_names(self, tree: xr.DataTree) -> list[str]:
        """Return the reported parameters (what conditions are contrasted on)."""
        return ["mu", "s"]

    def summarize(self, tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
        """Return the parameters."""
        return {"parameters": parameter_stats(tree[POSTERIOR_GROUP].to_dataset(), ["mu", "s"])}

    def contrast_curves(self, tree: xr.DataTree, grid: np.ndarray) -> dict[str, xr.DataArray]:
        """Return the density of log10 size at ``log10(grid)`` per draw."""
        posterior = tree[POSTERIOR_GROUP].to_dataset()
        x = xr.DataArray(np.log10(grid), dims=dims.SIZE_GRID, coords={dims.SIZE_GRID: grid})
        z = (x - posterior["mu"]) / posterior["s"]
        return {"log_size_density": np.exp(-0.5 * z**2) / (posterior["s"] * np.sqrt(2 * np.pi))}

    def pointwise_log_likelihood(self, tree: xr.DataTree) -> tuple[np.ndarray, list[str]]:
        """Return the log-likelihood of every present size of each spine, summed per spine."""
        data = tree[DATA_GROUP].to_dataset()
        posterior = tree[POSTERIOR_GROUP].to_dataset().stack(sample=dims.SAMPLE_DIMS)
        mu = posterior["mu"].values[:, None]
        s = posterior["s"].values[:, None]
        volume = data[dims.VOLUME].values
        present = np.isfinite(volume) & (volume > 0)
        columns = []
        for row, mask in zip(volume, present, strict=True):
            y = np.log10(row[mask])[None, :]
            columns.append((-0.5 * ((y - mu) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))).sum(1))
        return np.column_stack(columns), [str(v) for v in data[dims.SPINE].values]
