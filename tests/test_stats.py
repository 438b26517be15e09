"""Small summaries of posterior draws (spinefit.stats)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from spinefit.stats import draw_correlation

pytestmark = pytest.mark.fast


def draws(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values.reshape(2, -1), dims=("chain", "draw"))


def test_draw_correlation_is_pearsons_over_all_chains(rng):
    x = rng.normal(size=400)
    y = -0.7 * x + rng.normal(scale=0.3, size=400)
    assert draw_correlation(draws(x), draws(y)) == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_draw_correlation_of_a_fixed_or_broken_quantity_is_none(rng):
    x = rng.normal(size=10)
    assert draw_correlation(draws(x), draws(np.full(10, 0.1))) is None
    assert draw_correlation(draws(x), draws(np.r_[x[:-1], np.nan])) is None
