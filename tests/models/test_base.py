"""The model contract's shared machinery: sampler settings and BLAS threads while sampling."""

from __future__ import annotations

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from spinefit.errors import ConfigError
from spinefit.sampling.sample import BLAS_THREAD_VARIABLES, one_blas_thread
from spinefit.sampling.settings import SamplerSettings

pytestmark = pytest.mark.fast


def test_one_blas_thread_limits_and_restores(monkeypatch):
    np.linalg.eigvals(np.eye(3))  # make sure a BLAS library is loaded
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    with one_blas_thread():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["OMP_NUM_THREADS"] == "3"
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert set(BLAS_THREAD_VARIABLES) >= {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}


@pytest.mark.parametrize(
    "kwargs", [{"draws": 0}, {"chains": 0}, {"tune": -1}, {"sampler": "metropolis"}]
)
def test_sampler_settings_reject_nonsense(kwargs):
    with pytest.raises(ConfigError):
        SamplerSettings(**kwargs)


@pytest.mark.parametrize(("likelihood", "expected"), [("moments", "low_rank"), ("latent", "diag")])
def test_fit_resolves_and_records_the_auto_adaptation(monkeypatch, likelihood, expected):
    import json

    import xarray as xr

    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.simulate.synthetic import simulate_time_series

    data, _ = simulate_time_series(n_spines=20, times_days=np.arange(3) * 4.0, random_seed=0)
    model = DriftDiffusion({"likelihood": likelihood})
    seen = []
    monkeypatch.setattr(model, "sample", lambda d, s: seen.append(s) or xr.DataTree())
    tree = model.fit(data, SamplerSettings())
    assert seen[0].adaptation == expected
    assert json.loads(tree.attrs["sampler_settings"])["adaptation"] == expected


def test_by_condition_takes_the_per_condition_models_adaptation():
    from spinefit.models.by_condition import ByCondition

    inner = {"model": "drift-diffusion", "model_config": {"likelihood": "moments"}}
    assert ByCondition(inner).preferred_adaptation == "low_rank"
    assert ByCondition({"model": "mixture"}).preferred_adaptation == "diag"
