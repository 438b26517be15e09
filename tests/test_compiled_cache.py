"""A compiled nutpie model serves new data of the same structure, with identical draws."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.sampling import compiled_cache
from spinefit.simulate.synthetic import simulate_time_series


def toy_model(y, scale=1.0, prior_sd=None):
    with pm.Model(coords={"obs": np.arange(len(y))}) as model:
        sd = pm.Data("prior_sd", 2.0 * np.std(y) if prior_sd is None else prior_sd)
        mu = pm.Normal("mu", 0.0, sd)
        sigma = pm.HalfNormal("sigma", scale)
        pm.Normal("y", mu, sigma, observed=pm.Data("y_data", y, dims="obs"), dims="obs")
    return model


@pytest.fixture
def counted_compiles(monkeypatch):
    import nutpie

    calls = []
    original = nutpie.compile_pymc_model

    def counting(model, **options):
        calls.append(model)
        return original(model, **options)

    monkeypatch.setattr(nutpie, "compile_pymc_model", counting)
    compiled_cache.clear()
    with compiled_cache.reuse():  # the cache is consulted only inside reuse()
        yield calls
    compiled_cache.clear()


def _draws(compiled, seed=4):
    import nutpie

    tree = nutpie.sample(compiled, draws=60, tune=60, chains=1, seed=seed, progress_bar=False)
    return {k: tree["posterior"][k].values for k in ("mu", "sigma")}


@pytest.mark.fast
def test_same_structure_same_key_other_constants_other_key():
    rng = np.random.default_rng(0)
    first, second = rng.normal(1, 1, 20), rng.normal(3, 2, 35)
    key = compiled_cache.structure_key
    assert key(toy_model(first)) == key(toy_model(second))
    assert key(toy_model(first)) != key(toy_model(first, scale=2.0))  # a constant
    # drift-diffusion data sets with other sizes, spine counts and intervals
    d1, _ = simulate_time_series(n_spines=60, random_seed=1)
    d2, _ = simulate_time_series(n_spines=90, random_seed=2)
    moments = {"likelihood": "moments"}
    with compiled_cache.reuse():  # as in batch and calibrate: data in pm.Data
        model_1 = DriftDiffusion(moments).build(d1)
        assert key(model_1) == key(DriftDiffusion(moments).build(d2))
        conditioned = DriftDiffusion(moments | {"detection_threshold": 0.05}).build(d1)
        assert key(model_1) != key(conditioned)
    # A single fit keeps the data as constants (they compile faster in a new process).
    plain = DriftDiffusion(moments).build(d1)
    assert not plain.data_vars and key(plain) != key(DriftDiffusion(moments).build(d2))


def test_a_cache_hit_skips_the_compile_and_gives_the_fresh_compile_draws(counted_compiles):
    rng = np.random.default_rng(1)
    first, second = rng.normal(1, 1, 20), rng.normal(3, 2, 35)
    compiled_cache.compile_nutpie(toy_model(first), backend="numba", jitter_rvs=set())
    reused = compiled_cache.compile_nutpie(toy_model(second), backend="numba", jitter_rvs=set())
    assert len(counted_compiles) == 1
    # the Python-level functions see the new data too (start search, support point)
    start = np.zeros(reused.n_dim)
    compiled_cache.clear()
    fresh = compiled_cache.compile_nutpie(toy_model(second), backend="numba", jitter_rvs=set())
    assert len(counted_compiles) == 2
    assert reused.logp_func(start)[0] == fresh.logp_func(start)[0]
    hit, new = _draws(reused), _draws(fresh)
    for name in hit:
        assert np.array_equal(hit[name], new[name]), name
    assert abs(hit["mu"].mean() - second.mean()) < 1.0  # and they describe the new data


def test_sampled_shapes_that_follow_the_data_are_compiled_again(counted_compiles):
    """A free variable sized by a data container (no dim): same key, other size."""

    def sized(n):
        with pm.Model() as model:
            size = pm.Data("n_groups", np.int64(n))
            pm.Normal("x", 0.0, 1.0, shape=(size,))
        return model

    compiled_cache.compile_nutpie(sized(2), backend="numba", jitter_rvs=set())
    bigger = compiled_cache.compile_nutpie(sized(3), backend="numba", jitter_rvs=set())
    assert bigger.n_dim == 3


def test_outside_reuse_nothing_is_kept(monkeypatch):
    """A single fit compiles directly: no key is built and nothing stays in the cache."""
    import nutpie

    calls = []
    original = nutpie.compile_pymc_model
    monkeypatch.setattr(
        nutpie, "compile_pymc_model", lambda m, **o: calls.append(m) or original(m, **o)
    )
    monkeypatch.setattr(compiled_cache, "structure_key", None)  # never called here
    compiled_cache.clear()
    y = np.random.default_rng(2).normal(0, 1, 10)
    compiled_cache.compile_nutpie(toy_model(y), backend="numba", jitter_rvs=set())
    compiled_cache.compile_nutpie(toy_model(y), backend="numba", jitter_rvs=set())
    assert len(calls) == 2 and not compiled_cache._CACHE


@pytest.mark.fast
def test_the_latent_model_is_a_function_of_its_data_containers():
    """Default (latent) likelihood: other spines and sizes, same sessions → same structure.

    The model of one data set, given another data set's container values, has that data
    set's log density, equal to a model built on it with constants.
    """
    times = np.array([0, 2, 4, 8, 9, 13.0])
    d1, _ = simulate_time_series(n_spines=60, times_days=times, random_seed=1, measurement_cv=0.1)
    d2, _ = simulate_time_series(n_spines=90, times_days=times, random_seed=2, measurement_cv=0.1)
    d2["volume"] = d2["volume"] * 40.0  # other units
    key = compiled_cache.structure_key
    with compiled_cache.reuse():
        first, second = DriftDiffusion({}).build(d1), DriftDiffusion({}).build(d2)
    assert key(first) == key(second)
    logp = first.compile_logp()
    point = {name: value + 0.1 for name, value in second.initial_point().items()}
    before = logp(point)
    for var in second.data_vars:
        first[var.name].set_value(var.get_value())
    plain = DriftDiffusion({}).build(d2)
    assert not plain.data_vars
    assert logp(point) == pytest.approx(plain.compile_logp()(point), rel=1e-10)
    assert logp(point) != pytest.approx(before)
