"""The compiled forward algorithm: same value as the reference, exact gradient."""

import numpy as np
import pytest

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.killed_grid import NOISE_FLOOR, grid_operator, lognormal_nodes
from spinefit.models.latent_kernel import backward_kernel, forward_kernel
from spinefit.models.latent_likelihood import dynamics, forward, prepare_latent
from spinefit.simulate.synthetic import simulate_time_series

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def data():
    # Irregular sessions, turnover (absences, births, re-appearances) and 10% noise.
    data, _ = simulate_time_series(
        n_spines=120, times_days=np.array([0, 2, 4, 8, 9, 13.0]), random_seed=1, measurement_cv=0.1
    )
    return data


LOG_THRESHOLD = float(np.log(0.1))


def kernel_inputs(data, noise, log_threshold=LOG_THRESHOLD, noise_sd=0.1, extra_var=None):
    ld = prepare_latent(data, noise)
    block = ld.blocks[0]
    op = grid_operator(
        lambda x: 0.05 - 0.05 * x,
        lambda x: 0.01 + 0.02 * x**2,
        log_threshold,
        ld.log_top,
        32,
        0.01,
    )
    dyn = dynamics(op, lognormal_nodes(op, -0.5, 0.6), noise_sd)
    per_interval = [dyn.interval(t) for t in block.intervals]
    args = [
        block.present.astype(np.int8),
        block.log_y,
        np.zeros(block.present.shape) if extra_var is None else extra_var(block),
        block.interval_index.astype(np.int64),
        float(op.z[0]),
        float(op.h),
        float(np.sqrt(noise_sd**2 + NOISE_FLOOR**2)),
        noise == "additive",
        dyn.initial,
        op.delta,
        np.stack([p[0] for p in per_interval]),
        np.stack([p[1] for p in per_interval]),
        np.stack([p[2] for p in per_interval]),
    ]
    return args, dyn, block


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
def test_kernel_matches_reference_forward(data, noise):
    args, dyn, block = kernel_inputs(data, noise)
    assert (~block.present[:, 1:] & block.present[:, :-1]).any()  # eliminations
    assert (block.present[:, 1:] & ~block.present[:, :-1]).any()  # births
    log_lik = forward_kernel(*args)[0]
    reference, _ = forward(dyn, block, noise)
    np.testing.assert_allclose(log_lik, reference, rtol=1e-10, atol=1e-9)


def random_known_variance(block):
    """Known error variances between 0 and 0.2² on every other observation."""
    rng = np.random.default_rng(5)
    values = rng.uniform(0.0, 0.04, size=block.present.shape)
    return np.where(rng.random(block.present.shape) < 0.5, values, 0.0)


@pytest.mark.parametrize(
    ("noise", "extra_var"),
    [("multiplicative", None), ("additive", None), ("multiplicative", random_known_variance)],
)
def test_kernel_gradient_matches_finite_differences(data, noise, extra_var):
    args, _, block = kernel_inputs(data, noise, extra_var=extra_var)
    rng = np.random.default_rng(3)
    upstream = rng.normal(size=block.present.shape[0])
    outputs = forward_kernel(*args)
    grads = backward_kernel(*args[:8], *args[9:12], *outputs[1:], upstream)

    def value(position, direction, step):
        moved = list(args)
        moved[position] = moved[position] + step * direction
        return upstream @ forward_kernel(*moved)[0]

    checks = [(4, 0, None), (5, 1, None), (6, 2, None)]  # z0, h, sd
    checks += [(8, 1), (9, 2), (10, 3), (11, 4), (12, 5)]  # initial, delta, props, killed, born
    for check in checks:
        position, which = check[0], check[1]
        if len(check) == 3:
            direction, analytic = 1.0, grads[0][which]
        else:
            direction = rng.normal(size=np.shape(args[position]))
            analytic = float(np.sum(grads[which] * direction))
        step = 1e-6
        numeric = (value(position, direction, step) - value(position, direction, -step)) / (
            2 * step
        )
        assert numeric == pytest.approx(analytic, rel=1e-4, abs=1e-5), position


def test_known_errors_equal_a_shared_noise_of_the_same_size(data):
    """τ = 0 with known errors of SD 0.15 everywhere is the model with τ = 0.15."""
    shared, _, _ = kernel_inputs(data, "multiplicative", noise_sd=0.15)
    known, _, _ = kernel_inputs(
        data, "multiplicative", noise_sd=0.0, extra_var=lambda b: np.full(b.present.shape, 0.0225)
    )
    np.testing.assert_allclose(forward_kernel(*known)[0], forward_kernel(*shared)[0], rtol=1e-12)


def test_observation_far_below_grid_is_finite(data):
    args, _, _ = kernel_inputs(data, "multiplicative", log_threshold=np.log(0.6), noise_sd=0.0)
    log_lik, *_ = forward_kernel(*args)
    assert np.all(np.isfinite(log_lik))
    assert log_lik.min() < -300  # observations far below θ are all but impossible


def test_model_gradient_matches_finite_differences(data):
    """The whole latent model: PyTensor's gradient through the Op vs the log density."""
    model = DriftDiffusion({}).build(data)
    logp = model.compile_logp()
    dlogp = model.compile_dlogp()
    point = model.initial_point()
    gradient = dlogp(point)
    flat = np.concatenate([np.atleast_1d(point[v.name]) for v in model.value_vars])
    assert flat.size == gradient.size
    rng = np.random.default_rng(0)
    direction = rng.normal(size=flat.size)
    step = 1e-6

    def at(vector):
        moved, start = {}, 0
        for v in model.value_vars:
            size = np.size(point[v.name])
            moved[v.name] = vector[start : start + size].reshape(np.shape(point[v.name]))
            start += size
        return logp(moved)

    numeric = (at(flat + step * direction) - at(flat - step * direction)) / (2 * step)
    assert numeric == pytest.approx(float(gradient @ direction), rel=1e-5)
