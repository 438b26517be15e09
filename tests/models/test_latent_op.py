"""The compiled forward algorithm: same value as the reference, exact gradient."""

import numpy as np
import pytest

from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.killed_grid import (
    emission_sd,
    grid_operator,
    lognormal_nodes,
    noise_for_emission,
)
from spinefit.models.latent_kernel import backward_kernel, forward_kernel
from spinefit.models.latent_likelihood import dynamics, forward, gap_cells, prepare_latent
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
        float(emission_sd(noise_sd, op.h, noise == "additive")),
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

    checks = [(4, 0, None), (5, 1, None), (6, 2, None)]  # z0, h, sd
    checks += [(8, 1), (9, 2), (10, 3), (11, 4), (12, 5)]  # initial, delta, props, killed, born
    assert_gradient(forward_kernel, args, upstream, grads, checks, rng, relative=False)


def assert_gradient(kernel, args, upstream, grads, checks, rng, relative):
    """Central differences of upstream · kernel(args) against the reverse pass's gradients.

    ``checks`` holds (argument position, gradient index[, None for a scalar]); array
    arguments move along a random direction, scaled by their values if ``relative``.
    """

    def value(position, direction, step):
        moved = list(args)
        moved[position] = moved[position] + step * direction
        return upstream @ kernel(*moved)[0]

    for check in checks:
        position, which = check[0], check[1]
        if len(check) == 3:
            direction, analytic = 1.0, grads[0][which]
        else:
            direction = rng.normal(size=np.shape(args[position]))
            if relative:
                direction = direction * np.abs(args[position])
            analytic = float(np.sum(grads[which] * direction))
        step = 1e-6
        numeric = (value(position, direction, step) - value(position, direction, -step)) / (
            2 * step
        )
        assert numeric == pytest.approx(analytic, rel=1e-4, abs=1e-5), position


def test_known_errors_equal_a_shared_noise_of_the_same_size(data):
    """Known errors add to the emission's variance: τ = 0 with known errors of SD 0.15
    everywhere is the model whose emission variance is the floor's plus 0.15²."""
    known, dyn, _ = kernel_inputs(
        data, "multiplicative", noise_sd=0.0, extra_var=lambda b: np.full(b.present.shape, 0.0225)
    )
    tau = noise_for_emission(np.hypot(emission_sd(0.0, dyn.op.h), 0.15), dyn.op.h)
    shared, _, _ = kernel_inputs(data, "multiplicative", noise_sd=tau)
    np.testing.assert_allclose(forward_kernel(*known)[0], forward_kernel(*shared)[0], rtol=1e-12)


def test_observation_far_below_grid_is_finite(data):
    args, _, _ = kernel_inputs(data, "multiplicative", log_threshold=np.log(0.6), noise_sd=0.0)
    log_lik, *_ = forward_kernel(*args)
    assert np.all(np.isfinite(log_lik))
    assert log_lik.min() < -300  # observations far below θ are all but impossible


@pytest.mark.parametrize("config", [{}, {"detection_limit": 0.3}])
def test_model_gradient_matches_finite_differences(data, config):
    """The whole latent model: PyTensor's gradient through the Op vs the log density."""
    model = DriftDiffusion(config).build(data)
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


# -- detection limit ---------------------------------------------------------------------------


def detection_args(args, log_limit):
    """Kernel arguments of :func:`forward_detection_kernel` from those of ``forward_kernel``."""
    return [*args[:8], log_limit, *args[8:]]


def with_gaps(args):
    """Blank session 3 of the first 10 spines seen at sessions 2 to 4 (in place); return present."""
    present = args[0]
    rows = np.flatnonzero(present[:, 2:5].all(axis=1))[:10]
    present[rows, 3] = 0
    return present.astype(bool)


def test_detection_kernel_without_unseen_spines_is_the_killed_model(data):
    """u = 0 (limit far below the grid): spines without gaps score as in forward_kernel."""
    from spinefit.models.latent_detection_kernel import forward_detection_kernel

    args, _, _ = kernel_inputs(data, "multiplicative")
    present = with_gaps(args)
    no_gap = ~gap_cells(present).any(axis=1)
    assert no_gap.sum() > 50 and (~no_gap).any()
    killed_model = forward_kernel(*args)[0]
    detection = forward_detection_kernel(*detection_args(args, -50.0))[0]
    np.testing.assert_allclose(detection[no_gap], killed_model[no_gap], rtol=1e-10, atol=1e-9)
    assert np.all(detection[~no_gap] < -300)  # a gap is a resurrection without unseen states


def test_detection_kernel_gives_gaps_a_likelihood(data):
    """With the limit at the grid's first node, gaps are unseen living spines: finite."""
    from spinefit.models.latent_detection_kernel import forward_detection_kernel

    args, _, _ = kernel_inputs(data, "multiplicative")
    with_gaps(args)
    log_lik = forward_detection_kernel(*detection_args(args, args[4] + 0.5))[0]
    assert np.all(np.isfinite(log_lik)) and log_lik.min() > -100


@pytest.mark.parametrize(
    ("noise", "extra_var"),
    [("multiplicative", None), ("additive", None), ("multiplicative", random_known_variance)],
)
def test_detection_kernel_gradient_matches_finite_differences(data, noise, extra_var):
    from spinefit.models.latent_detection_kernel import (
        backward_detection_kernel,
        forward_detection_kernel,
    )

    base, _, block = kernel_inputs(data, noise, extra_var=extra_var)
    with_gaps(base)
    # Limit at half the median size: gaps then have likelihoods far from the floor.
    args = detection_args(base, float(np.log(0.5)))
    rng = np.random.default_rng(3)
    upstream = rng.normal(size=block.present.shape[0])
    outputs = forward_detection_kernel(*args)
    grads = backward_detection_kernel(*args, *outputs[1:], upstream)

    checks = [(4, 0, None), (5, 1, None), (6, 2, None), (8, 3, None)]  # z0, h, sd, limit
    checks += [(9, 1), (10, 2), (11, 3), (12, 4), (13, 5)]  # initial, delta, props, killed, born
    # Relative steps: a gap's likelihood rests on propagator entries near 0.
    assert_gradient(forward_detection_kernel, args, upstream, grads, checks, rng, relative=True)


def test_first_sightings_are_the_formations_under_a_detection_limit(data):
    from spinefit.models.latent_likelihood import formation_terms

    args, _, _ = kernel_inputs(data, "multiplicative")
    ld = prepare_latent(data, "multiplicative")
    block = ld.blocks[0]
    block.present[:] = with_gaps(args)
    block.__post_init__()
    # with_gaps blanks session 3 of 10 spines: they return at session 4 (interval 3).
    assert block.formed[3] - block.first_seen[3] == 10
    assert formation_terms(block)["counts"][3] == block.formed[3]
    assert formation_terms(block, detection=True)["counts"][3] == block.formed[3] - 10


def test_detection_limit_needs_a_positive_size_and_the_latent_likelihood():
    from spinefit.errors import ConfigError

    with pytest.raises(ConfigError, match="detection_limit must be a positive number"):
        DriftDiffusion({"detection_limit": 0})
    with pytest.raises(ConfigError, match="detection_limit needs the latent likelihood"):
        DriftDiffusion({"detection_limit": 0.3, "likelihood": "moments"})
    text = DriftDiffusion({"detection_limit": 0.3}).describe()
    assert "θ_d = 0.3" in text["priors"] and r"\theta_d" in text["likelihood"]


def test_detection_limit_auto_takes_the_data_limit(data):
    """The default "auto" uses the data's detection_limit attr (a measure table's column)."""
    limited = data.assign_attrs(detection_limit=0.3)
    model = DriftDiffusion()
    assert model.config["detection_limit"] == "auto"
    assert "data's detection limit" in model.describe()["priors"]
    model.prepare(limited)
    assert model.config["detection_limit"] == 0.3
    explicit = DriftDiffusion({"detection_limit": 0.3}).build(limited)
    auto = DriftDiffusion().build(limited)
    point = explicit.initial_point()
    assert auto.compile_logp()(point) == pytest.approx(explicit.compile_logp()(point), rel=1e-12)
    # "none" reads every absence as a loss; the moments likelihood has no limit.
    off = DriftDiffusion({"detection_limit": "none"})
    off.prepare(limited)
    assert off.config["detection_limit"] is None
    assert "threshold_log_offset" in off.build(limited).named_vars
    moments = DriftDiffusion({"likelihood": "moments"})
    moments.prepare(limited)
    assert moments.config["detection_limit"] is None
    # Without the attr, "auto" is no limit.
    plain = DriftDiffusion()
    plain.prepare(data)
    assert plain.config["detection_limit"] is None


def test_detection_limit_model_does_not_depend_on_the_volume_unit(data):
    """µm³ or nm³: the same data and limit in another unit give the same posterior.

    The log density may differ by a constant (the unit's Jacobian), never by a point's
    parameters; the sampled parameters are in units of the data's size scale.
    """
    limited = data.assign_attrs(detection_limit=0.3)
    scaled = limited.copy()
    scaled["volume"] = limited["volume"] * 1e9
    scaled.attrs["detection_limit"] = 0.3e9
    first, second = DriftDiffusion().build(limited), DriftDiffusion().build(scaled)
    point = first.initial_point()
    moved = {k: v + 0.1 for k, v in point.items()}
    logp_first, logp_second = first.compile_logp(), second.compile_logp()
    assert logp_first(point) - logp_second(point) == pytest.approx(
        logp_first(moved) - logp_second(moved), abs=1e-4
    )
    assert logp_first(point) != pytest.approx(logp_first(moved), abs=1e-3)
