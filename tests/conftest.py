"""Shared fixtures: the real-data folder and seeded generators."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPINEFIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Return a path under the real-data folder, skipping the test if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available at {path} (set SPINEFIT_SHARED_DATA)")
    return path


class SamplingInFastTest(AssertionError):
    """Raised when a test marked ``fast`` starts MCMC."""


@pytest.fixture(autouse=True)
def _no_mcmc_in_fast_tests(request, monkeypatch):
    """Make MCMC fail in tests marked ``fast``, so the marker cannot lie."""
    if request.node.get_closest_marker("fast") is None:
        yield
        return
    import nutpie
    import pymc

    def refuse(*args, **kwargs):
        raise SamplingInFastTest(f"{request.node.nodeid} is marked fast but runs MCMC")

    monkeypatch.setattr(pymc, "sample", refuse)
    monkeypatch.setattr(nutpie, "sample", refuse)
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    """Return a seeded generator so every test is reproducible."""
    return np.random.default_rng(20261130)


@pytest.fixture
def shared_data():
    """Return :func:`shared_path`: ``shared_data("microns_l23", "file.csv")``."""
    return shared_path


@pytest.fixture(scope="session")
def small_timeseries():
    """Return a small simulated time series and its truth (no MCMC)."""
    from spinefit.simulate.synthetic import simulate_time_series

    return simulate_time_series(n_spines=120, random_seed=11)


@pytest.fixture(scope="session")
def small_fit_path(tmp_path_factory, small_timeseries):
    """Return the path of a small, quickly fitted drift-diffusion result (shared by tests)."""
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.results import save_result

    data, _ = small_timeseries
    # ess_target=0: no extension rounds (they took 69 of 194 s); the ESS rounds have
    # tests of their own.
    settings = SamplerSettings(
        draws=200, tune=200, chains=2, random_seed=5, progressbar=False, ess_target=0
    )
    tree = DriftDiffusion().fit(data, settings)
    path = tmp_path_factory.mktemp("fits") / "small.nc"
    save_result(tree, path)
    return path
