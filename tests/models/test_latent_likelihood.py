"""The killed-process grid and the forward algorithm of the latent-process likelihood.

No MCMC: the grid is checked against fine-step simulation of the SDE, the symmetrised
eigen-propagators against a dense matrix exponential, and the forward algorithm against a
brute-force sum written with that matrix exponential.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.linalg import expm
from scipy.stats import norm

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.models.killed_grid import (
    CELL_VARIANCE,
    NOISE_FLOOR,
    emission_sd,
    grid_operator,
    log_emission,
    lognormal_nodes,
    noise_for_emission,
)
from spinefit.models.latent_likelihood import (
    LatentBlock,
    dynamics,
    forward,
    prepare_latent,
)
from spinefit.simulate.particles import simulate_paths
from spinefit.simulate.synthetic import simulate_time_series

pytestmark = pytest.mark.fast


def linear(a, b, c, d):
    return (lambda x: a + b * x), (lambda x: c + d * x**2)


def dense_generator(op):
    """Q = Δ⁻¹ S Δ rebuilt from the eigendecomposition (live nodes only)."""
    s = (op.eigenvectors * op.eigenvalues) @ op.eigenvectors.T
    return s * np.exp(op.log_delta[None, :] - op.log_delta[:, None])


@pytest.mark.parametrize(
    ("params", "threshold", "start_node", "t"),
    [
        ((0.1, -0.1, 0.04, 0.04), 0.1, 12, 4.0),  # additive noise drives turnover
        ((0.1, -0.1, 0.04, 0.04), 0.1, 40, 4.0),  # large spine, rare elimination
        ((0.0, -0.02, 0.0, 0.3), 0.1, 14, 4.0),  # strongly multiplicative
        ((0.02, -0.02, 4e-4, 4e-3), 0.2, 20, 16.0),  # weak noise, long interval
    ],
)
def test_grid_matches_fine_step_simulation(params, threshold, start_node, t):
    drift, variance = linear(*params)
    op = grid_operator(drift, variance, np.log(threshold), np.log(threshold) + 5.0, 96)
    w0 = float(np.exp(op.z[start_node]))
    n = 100_000
    sizes = simulate_paths(
        *params,
        n_spines=n,
        times_days=[0.0, t],
        dt=0.001,
        threshold=threshold,
        initial=np.full(n, w0),
        burn_in_days=0.0,
        random_seed=3,
    )
    end = sizes[:, 1]
    alive = np.isfinite(end)
    beta = np.zeros(op.z.size)
    beta[start_node] = 1.0 / op.delta[start_node]
    live = (beta @ op.propagator(t)) * op.delta
    survival = live.sum()
    se = np.sqrt(alive.mean() * (1 - alive.mean()) / n)
    assert abs(survival - alive.mean()) < max(4 * se, 0.006), (survival, alive.mean())
    assert abs((1 - survival) - (beta * op.delta) @ op.killed_within(t)) < 1e-9
    # CDF of log size at cell edges: grid vs simulated survivors.
    edges = op.z + 0.5 * op.h
    grid_cdf = np.cumsum(live) / survival
    sim_cdf = np.searchsorted(np.sort(np.log(end[alive])), edges) / alive.sum()
    assert np.max(np.abs(grid_cdf - sim_cdf)) < 0.015


def test_symmetrised_generator_is_a_killed_markov_chain():
    drift, variance = linear(0.1, -0.1, 0.04, 0.04)
    op = grid_operator(drift, variance, np.log(0.1), np.log(0.1) + 4.0, 40, loss_per_day=0.01)
    q = dense_generator(op)
    off = q - np.diag(np.diag(q))
    assert off.min() >= -1e-10
    np.testing.assert_allclose(q.sum(axis=1), -op.killing_rate, atol=1e-8)
    # Only neighbours exchange mass, and the eigen-propagator is the matrix exponential.
    assert np.abs(np.triu(q, 2)).max() < 1e-8
    for t in (0.5, 3.0, 11.0):
        dense = expm(q * t)
        from_eigen = op.propagator(t) * np.exp(op.log_delta[None, :] - op.log_delta[:, None])
        np.testing.assert_allclose(from_eigen, dense, atol=1e-10)
        np.testing.assert_allclose(op.killed_within(t), 1 - dense.sum(axis=1), atol=1e-10)


def test_birth_within_interval_and_steady_state():
    drift, variance = linear(0.05, -0.05, 0.02, 0.05)
    op = grid_operator(drift, variance, np.log(0.1), np.log(0.1) + 4.0, 40, loss_per_day=0.02)
    q = dense_generator(op)
    birth = lognormal_nodes(op, np.log(0.3), 0.4)
    assert 0.99 < birth.sum() < 1.0  # the share on the threshold node is killed at birth
    t = 4.0
    quadrature = integrate.quad_vec(lambda u: birth @ expm(q * u), 0.0, t)[0] / t
    born = op.born_within(birth / op.delta, t) * op.delta
    np.testing.assert_allclose(born, quadrature, atol=1e-9)
    occupation = np.linalg.solve(-q.T, birth)
    np.testing.assert_allclose(op.occupation(birth / op.delta) * op.delta, occupation, rtol=1e-8)


@pytest.mark.parametrize(
    ("median", "log_sd"),
    [(0.1, 0.1), (0.11, 0.02), (0.12, 0.05), (0.2, 0.3), (0.4, 0.6), (1.0, 0.5)],
)
def test_newborn_survival_converges_on_a_coarse_grid(median, log_sd):
    # A spine born within a 4-day interval: its survival to the end on the fits' 32 nodes
    # must match a 20× finer grid. Cell assignment (node j gets [z_j − h/2, z_j + h/2])
    # moved births near θ = 0.1 up: at 32 nodes 0.097 against 0.057 for (0.1, 0.1), 0.088
    # against 0.062 for (0.11, 0.02), and 1.2–18× too high for the calibration's draws.
    drift, variance = linear(0.1, -0.1, 0.04, 0.04)

    def survival(n_nodes):
        op = grid_operator(drift, variance, np.log(0.1), np.log(8.0), n_nodes, 0.01)
        birth = lognormal_nodes(op, np.log(median), log_sd)
        return float(op.born_within(birth / op.delta, 4.0) @ op.delta)

    fine = survival(640)
    assert survival(32) == pytest.approx(fine, rel=0.05)
    assert survival(160) == pytest.approx(fine, rel=0.01)


def test_tent_birth_law_keeps_the_mean_log_size():
    drift, variance = linear(0.1, -0.1, 0.04, 0.04)
    op = grid_operator(drift, variance, np.log(0.1), np.log(20.0), 40)
    log_mean, log_sd = np.log(0.3), 0.5
    birth = lognormal_nodes(op, log_mean, log_sd)
    threshold = op.z[0] - op.h
    sd = np.hypot(log_sd, 0.05)  # BIRTH_SPREAD_FLOOR
    restricted = integrate.quad(lambda z: z * norm.pdf(z, log_mean, sd), threshold, np.inf)[0]
    restricted /= norm.sf(threshold, log_mean, sd)
    # The threshold node holds 1 − Σ birth (killed at once).
    assert birth @ op.z + (1 - birth.sum()) * threshold == pytest.approx(restricted, abs=1e-7)
    assert np.all(birth > 0)
    # A law below the threshold keeps a proper (sub-)probability.
    below = lognormal_nodes(op, np.log(0.01), 0.3)
    assert np.all(np.isfinite(below)) and 0.0 < below.sum() <= 1.0


@given(tau=st.floats(0.0, 2.0), h=st.floats(0.01, 0.3))
def test_the_emission_models_tau_with_a_floor_less_the_cells_variance(tau, h):
    sd = emission_sd(tau, h)
    cell = CELL_VARIANCE * h**2
    assert sd >= NOISE_FLOOR * (1 - 1e-12)
    assert emission_sd(tau * 1.01, h) >= sd  # more noise, never a narrower emission
    if tau**2 >= 4 * (NOISE_FLOOR**2 + cell):  # far above the floor: exactly τ² in all
        assert sd**2 + cell == pytest.approx(tau**2, rel=1e-3)
    # Additive noise keeps the cell's variance (cells of unequal size): the floor only.
    assert emission_sd(tau, h, additive=True) == pytest.approx((tau**8 + NOISE_FLOOR**8) ** 0.125)
    for additive in (False, True):
        back = noise_for_emission(emission_sd(tau, h, additive), h, additive)
        assert back == pytest.approx(tau, rel=1e-6, abs=2e-3)  # flat in τ at the floor


def test_the_emission_sd_has_a_finite_gradient_at_zero_noise():
    import pytensor
    import pytensor.tensor as pt

    tau, h = pt.dscalar("tau"), pt.dscalar("h")
    sd = emission_sd(tau, h, xp=pt)
    f = pytensor.function([tau, h], [sd, pytensor.grad(sd, tau)])
    for value in (0.0, 0.02, 0.1):
        got, slope = f(value, 0.1)
        assert got == pytest.approx(emission_sd(value, 0.1))
        assert np.isfinite(slope) and slope >= 0


@pytest.mark.parametrize("noise", ["multiplicative", "additive"])
@pytest.mark.parametrize("sd", [0.01, 0.15])
def test_emission_is_the_noise_density_averaged_over_the_cell(noise, sd):
    drift, variance = linear(0.0, -0.05, 0.0, 0.1)
    op = grid_operator(drift, variance, np.log(0.2), np.log(0.2) + 3.0, 30)
    log_y = np.log(np.array([0.25, 0.6, 1.3, 3.0]))
    got = np.exp(log_emission(op, log_y, sd, noise))
    sd = emission_sd(sd, op.h, noise == "additive")  # the floor, less the cell's variance
    for j in (0, 10, 25):
        lo, hi = op.z[j] - op.h / 2, op.z[j] + op.h / 2
        for i, ly in enumerate(log_y):
            if noise == "multiplicative":
                want = integrate.quad(lambda z, ly=ly: norm.pdf(ly, z, sd), lo, hi, points=[ly])[0]
                want /= op.h
            else:
                want = integrate.quad(
                    lambda x, ly=ly: norm.pdf(np.exp(ly), x, sd), np.exp(lo), np.exp(hi)
                )[0] / (np.exp(hi) - np.exp(lo))
            # quad itself is only accurate to ~1e-3 relative far in the tails
            assert got[i, j] == pytest.approx(want, rel=1e-6 if want > 1e-12 else 1e-2, abs=1e-290)


def _tiny_series(volume, times):
    volume = np.asarray(volume, dtype=float)
    return xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume, {"units": "um3"})},
        coords={
            dims.SPINE: [f"s{i}" for i in range(volume.shape[0])],
            dims.TIME_DAYS: (dims.SESSION, np.asarray(times, dtype=float)),
        },
    )


def test_forward_equals_brute_force_sum_over_paths():
    """Forward algorithm vs the explicit likelihood with dense matrix exponentials."""
    data = _tiny_series(
        [
            [1.0, 1.3, 0.8, np.nan],  # eliminated between sessions 2 and 3
            [np.nan, 0.4, 0.5, 0.45],  # born between sessions 0 and 1
            [2.0, 2.2, 2.5, 2.1],  # survives, right-censored
        ],
        [0.0, 2.0, 5.0, 9.0],
    )
    ld = prepare_latent(data)
    drift, variance = linear(0.1, -0.1, 0.02, 0.04)
    op = grid_operator(drift, variance, np.log(0.15 / ld.scale), ld.log_top, 48, 0.01)
    birth = lognormal_nodes(op, np.log(0.35), 0.5)
    tau = 0.08
    dyn = dynamics(op, birth, tau)
    (block,) = ld.blocks
    log_lik, _ = forward(dyn, block)

    q = dense_generator(op)
    emission = np.exp(log_emission(op, block.log_y.reshape(-1), tau)).reshape(3, 4, -1)
    stationary = np.linalg.solve(-q.T, birth)
    stationary /= stationary.sum()
    times = data[dims.TIME_DAYS].values
    want = []
    for r in range(3):
        present = block.present[r]
        total, alpha = 0.0, None
        for k in range(4):
            if k == 0:
                if present[0]:
                    alpha = stationary * emission[r, 0]
                    alpha /= alpha.sum()
                continue
            t = times[k] - times[k - 1]
            p = expm(q * t)
            if present[k - 1] and present[k]:
                alpha = (alpha @ p) * emission[r, k]
                total += np.log(alpha.sum())
                alpha /= alpha.sum()
            elif present[k - 1]:
                total += np.log(1 - (alpha @ p).sum())
                alpha = None
            elif present[k]:
                born = integrate.quad_vec(lambda u, p0=birth: p0 @ expm(q * u), 0.0, t)[0] / t
                alpha = born / born.sum() * emission[r, k]
                total += np.log(alpha.sum())
                alpha /= alpha.sum()
        want.append(total)
    np.testing.assert_allclose(log_lik, want, rtol=1e-7)


def test_prepare_latent_is_unit_free():
    rng = np.random.default_rng(0)
    volume = np.exp(rng.normal(0, 0.5, (20, 5)))
    volume[rng.random(volume.shape) < 0.2] = np.nan
    small = prepare_latent(_tiny_series(volume, [0, 4, 8, 12, 16]))
    large = prepare_latent(_tiny_series(volume * 1e4, [0, 4, 8, 12, 16]))
    assert large.scale == pytest.approx(small.scale * 1e4)
    for a, b in zip(small.blocks, large.blocks, strict=True):
        np.testing.assert_allclose(a.log_y, b.log_y, atol=1e-12)
    n_scored = sum(int(block.scored.sum()) for block in small.blocks)
    assert large.log_jacobian == pytest.approx(small.log_jacobian - n_scored * np.log(1e4))


def test_block_counts_formations():
    block = LatentBlock(
        rows=np.arange(2),
        present=np.array([[True, False, True], [False, True, True]]),
        log_y=np.zeros((2, 3)),
        interval_index=np.array([0, 0]),
        intervals=np.array([4.0]),
    )
    np.testing.assert_array_equal(block.formed, [1, 1])
    np.testing.assert_array_equal(block.present_start, [1, 1])


def test_known_errors_come_from_volume_se():
    data, _ = simulate_time_series(n_spines=30, times_days=np.arange(4) * 4.0, random_seed=2)
    with pytest.raises(DataError, match="volume_se"):
        prepare_latent(data, measurement_error=True)
    data[dims.VOLUME_SE] = 0.1 * data[dims.VOLUME]
    block = prepare_latent(data, measurement_error=True).blocks[0]
    present = block.present
    np.testing.assert_allclose(block.extra_var[present], 0.01)
    assert np.all(block.extra_var[~present] == 0)
    assert np.all(prepare_latent(data).blocks[0].extra_var == 0)
    # The part independent between sessions wins when the table has it.
    data[dims.VOLUME_SE_SESSION] = 0.05 * data[dims.VOLUME]
    block = prepare_latent(data, measurement_error=True).blocks[0]
    np.testing.assert_allclose(block.extra_var[block.present], 0.0025)
    alone = prepare_latent(data.drop_vars(dims.VOLUME_SE), measurement_error=True).blocks[0]
    np.testing.assert_allclose(alone.extra_var[alone.present], 0.0025)
    # Where the session part is unknown (a file combined without it), volume_se is used.
    data[dims.VOLUME_SE_SESSION][:10] = np.nan
    block = prepare_latent(data, measurement_error=True).blocks[0]
    expected = np.where(block.rows[:, None] < 10, 0.01, 0.0025) * np.ones(block.present.shape)
    np.testing.assert_allclose(block.extra_var[block.present], expected[block.present])
    with pytest.raises(ConfigError, match="latent"):
        DriftDiffusion({"likelihood": "moments", "measurement_error": "column"})
    with pytest.raises(ConfigError, match="measurement_error"):
        DriftDiffusion({"measurement_error": "yes"})
