"""The same input, options and seed give bit-identical posterior draws, with either sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinefit.sampling.settings import SamplerSettings
from spinefit.workflow import load_input

REPO = Path(__file__).resolve().parents[1]


def draws_of(tree) -> dict[str, np.ndarray]:
    posterior = tree["posterior"]
    return {name: posterior[name].values for name in posterior.data_vars}


def assert_identical(first, second) -> None:
    a, b = draws_of(first), draws_of(second)
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_same_seed_same_draws_and_another_seed_other_draws(sampler, monkeypatch):
    """Through the default sampling path (robust starts, ESS rounds) of a real model fit."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    from toy_model import ToyNormal

    data = load_input(REPO / "data" / "demo_timeseries.csv")
    settings = SamplerSettings(
        draws=150, tune=150, random_seed=11, sampler=sampler, progressbar=False
    )
    first = ToyNormal().fit(data, settings)
    second = ToyNormal().fit(data, settings)
    assert_identical(first, second)
    other = ToyNormal().fit(data, SamplerSettings(**{**settings.__dict__, "random_seed": 12}))
    assert not np.array_equal(first["posterior"]["mu"].values, other["posterior"]["mu"].values)


def test_drift_diffusion_fit_is_reproducible(small_timeseries):
    from spinefit.models.drift_diffusion import DriftDiffusion

    data, _ = small_timeseries
    settings = SamplerSettings(draws=100, tune=150, random_seed=5, progressbar=False)
    model = {"likelihood": "moments"}
    assert_identical(
        DriftDiffusion(model).fit(data, settings), DriftDiffusion(model).fit(data, settings)
    )
