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
