"""Start hints: a model's own estimates as one more optimisation of the robust start."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from spinefit.sampling.backends import NutpieBackend
from spinefit.sampling.hints import StartHints, attach, hinted_point, hints_of, layout
from spinefit.sampling.run import choose_start
from spinefit.sampling.settings import SamplerSettings
from spinefit.sampling.starts import optimise, scaled_optimise


def normal_model() -> pm.Model:
    with pm.Model() as model:
        mean = pm.Normal("mean", 0.0, 10.0)
        sd = pm.HalfNormal("sd", 5.0)
        pm.Normal("y", mean, sd, observed=3.0 + 0.5 * np.linspace(-1.7, 1.7, 50))
    return model


def backend_of(model: pm.Model) -> NutpieBackend:
    return NutpieBackend(model, SamplerSettings(progressbar=False))


def test_hints_are_placed_on_the_samplers_scale_and_candidates_chosen_by_density():
    model = normal_model()
    backend = backend_of(model)
    hints = StartHints(values={"mean": 3.0, "absent": 1.0}, candidates={"sd": (0.01, 0.5, 10.0)})
    x = hinted_point(model, backend.support_point(), backend.logp_grad, hints)
    _, places = layout(model)
    assert x[places["mean"][0]] == [3.0]
    assert x[places["sd"][0]] == pytest.approx([np.log(0.5)])  # log-transformed, best of three


def test_vector_hints_are_placed_element_by_element_and_candidates_fill_the_vector():
    with pm.Model(coords={"group": ["a", "b", "c"]}) as model:
        mean = pm.Normal("mean", 0.0, 10.0, dims="group")
        sd = pm.HalfNormal("sd", 5.0, dims="group")
        pm.ZeroSumNormal("offset", 1.0, dims="group")
        pm.Normal("y", mean, sd, observed=np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]]))
    backend = backend_of(model)
    hints = StartHints(
        values={"mean": np.array([1.2, 2.2, 3.2]), "offset": np.ones(3)},
        candidates={"sd": (0.01, 0.3, 10.0)},
    )
    x = hinted_point(model, backend.support_point(), backend.logp_grad, hints)
    flat, places = layout(model)
    np.testing.assert_array_equal(x[places["mean"][0]], [1.2, 2.2, 3.2])
    np.testing.assert_allclose(x[places["sd"][0]], np.log(0.3))
    np.testing.assert_array_equal(x[places["offset"][0]], flat[places["offset"][0]])  # not handled
    wrong = StartHints(values={"mean": np.ones(2)})  # a shape that does not fit: not placed
    assert hinted_point(model, backend.support_point(), backend.logp_grad, wrong) is None


def test_hints_are_ignored_when_the_sampler_orders_variables_otherwise():
    model = normal_model()
    backend = backend_of(model)
    support = backend.support_point()[::-1] + 1.0
    assert hinted_point(model, support, backend.logp_grad, StartHints({"mean": 3.0})) is None


def test_attached_hints_belong_to_their_model():
    first, second = normal_model(), normal_model()
    attach(first, StartHints({"mean": 3.0}))
    assert hints_of(first).values == {"mean": 3.0} and hints_of(second) is None


def walled_gaussian(scales: np.ndarray, wall: float):
    """A Gaussian log density at 0 with SDs ``scales``, not finite beyond ``wall`` SDs."""

    def logp_grad(x):
        z = x / scales
        if np.max(np.abs(z)) > wall:
            return -np.inf, np.full_like(x, np.nan)
        return -0.5 * float(z @ z), -z / scales

    return logp_grad


def test_scaled_optimisation_reaches_a_badly_scaled_mode_that_plain_l_bfgs_misses():
    scales = np.array([1e-4, 1.0, 1e3])
    logp_grad = walled_gaussian(scales, wall=30.0)
    start = 20.0 * scales
    x, logp = scaled_optimise(logp_grad, start)
    assert np.all(np.abs(x / scales) < 1e-3) and logp > -1e-6
    plain, plain_logp = optimise(logp_grad, start)
    assert plain_logp < -1.0  # unscaled, L-BFGS stalls far from the mode


def test_scaled_optimisation_of_a_non_finite_start_gives_nothing():
    assert scaled_optimise(walled_gaussian(np.ones(2), 1.0), np.full(2, 5.0)) == (None, -np.inf)


def test_long_interval_latent_start_is_at_the_datas_dynamics_not_fast_relaxation():
    """Issue 12: the default start sat at b = −0.15/day (truth −0.02) on this data."""
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.simulate.synthetic import simulate_time_series

    truth = {"a": 0.02, "b": -0.02, "c": 4e-4, "d": 4e-3}
    data, _ = simulate_time_series(
        truth, n_spines=200, times_days=[16.0 * k for k in range(8)], random_seed=1
    )
    spec = DriftDiffusion({"grid_points": 48})
    data = spec.prepare(data)
    model = spec.build(data)
    assert hints_of(model) is not None
    settings = SamplerSettings(random_seed=1, progressbar=False)
    backend = backend_of(model)
    names = [v.name for v in model.value_vars]
    hinted = dict(zip(names, choose_start(backend, settings, model).center, strict=True))
    assert hinted["b"] == pytest.approx(truth["b"], rel=0.2)
    assert np.exp(hinted["measurement_cv_log__"]) < 0.05  # noise-free data
    unhinted = dict(zip(names, choose_start(backend, settings).center, strict=True))
    assert unhinted["b"] < 3 * truth["b"]  # without the hints: fast relaxation


@pytest.mark.parametrize("pool_conditions", [False, True])
def test_condition_model_hints_start_each_condition_at_its_own_estimates(pool_conditions):
    """Placement only: a flat log density keeps the placed values (no compile of the model)."""
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, _ = simulate_wt_ko(
        n_animals_per_genotype=2, n_sites_per_animal=30, ko_d_factor=4.0, random_seed=3
    )
    spec = ConditionalDriftDiffusion(
        {"grid_points": 32, "pool_conditions": pool_conditions, "loo": False}
    )
    model = spec.build(spec.prepare(data))
    hints = hints_of(model)
    flat, places = layout(model)
    x = hinted_point(model, flat, lambda point: (0.0, np.zeros_like(point)), hints)
    assert x is not None
    if pool_conditions:
        assert x[places["b_pop"][0]] == pytest.approx([hints.values["b_pop"]])
        np.testing.assert_array_equal(x[places["condition_z"][0]], flat[places["condition_z"][0]])
        return
    np.testing.assert_allclose(x[places["b"][0]], hints.values["b"])
    log_d = dict(zip(model.coords["condition"], x[places["log_d"][0]], strict=True))
    assert log_d["KO"] > log_d["WT"]  # KO's d is 4× WT's
