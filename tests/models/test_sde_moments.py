"""Transition moments: matrix exponential vs Runge–Kutta vs brute-force simulation."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from spinefit.models.sde_moments import linear_moments, linear_moments_numpy, rk4_moments

pytestmark = pytest.mark.fast

CASES = [
    (0.1, -0.1, 0.002, 0.01),  # mean-reverting
    (0.05, 0.0, 0.001, 0.02),  # b = 0: no division by b anywhere
    (0.0, 0.03, 0.0, 0.05),  # growing, purely multiplicative
]


def euler_paths(a, b, c, d, w0, dt_total, rng, n_paths=200_000, n_steps=800):
    w = np.full(n_paths, w0, dtype=float)
    h = dt_total / n_steps
    for _ in range(n_steps):
        w += (a + b * w) * h + np.sqrt(c + d * w**2) * np.sqrt(h) * rng.standard_normal(n_paths)
    return w


@pytest.mark.parametrize(("a", "b", "c", "d"), CASES)
def test_exact_moments_match_simulation(a, b, c, d, rng):
    w0, dt = 1.3, 4.0
    mean, var = linear_moments_numpy(a, b, c, d, np.array([w0]), dt)
    paths = euler_paths(a, b, c, d, w0, dt, rng)
    # Monte Carlo SE of the mean is sqrt(var/n); allow 4 SE plus Euler bias O(h).
    assert abs(paths.mean() - mean[0]) < 4 * np.sqrt(var[0] / paths.size) + 1e-3
    assert paths.var() == pytest.approx(var[0], rel=0.02)


@pytest.mark.parametrize(("a", "b", "c", "d"), CASES)
def test_rk4_equals_matrix_exponential_for_linear_family(a, b, c, d):
    w0 = np.linspace(0.2, 3.0, 7)
    mean, var = linear_moments_numpy(a, b, c, d, w0, 4.0)
    m_rk, v_rk = rk4_moments(
        lambda w: a + b * w,
        lambda w: b + 0 * w,
        lambda w: 0 * w,
        lambda w: c + d * w**2,
        lambda w: 2 * d + 0 * w,
        w0,
        4.0,
        n_steps=16,
    )
    np.testing.assert_allclose(m_rk, mean, rtol=1e-8)
    np.testing.assert_allclose(v_rk, var, rtol=1e-6)


@pytest.mark.parametrize(
    ("intervals", "index"),
    [([2.0, 3.0, 4.0], [0, 2, 1, 2]), ([3.0], [0, 0, 0, 0])],
    ids=["irregular", "one interval"],
)
def test_pytensor_moments_match_numpy(intervals, index):
    a, b, c, d = CASES[0]
    intervals, index = np.array(intervals), np.array(index)
    w0 = np.array([0.5, 1.0, 2.0, 0.7])
    mean, var = linear_moments(
        pt.as_tensor(a), pt.as_tensor(b), pt.as_tensor(c), pt.as_tensor(d), w0, index, intervals
    )
    got_mean, got_var = pytensor.function([], [mean, var])()
    for k in range(len(w0)):
        m, v = linear_moments_numpy(a, b, c, d, w0[k : k + 1], intervals[index[k]])
        assert got_mean[k] == pytest.approx(m[0], rel=1e-10)
        assert got_var[k] == pytest.approx(v[0], rel=1e-8)


def test_many_distinct_intervals_make_one_matrix_exponential():
    """Irregular sessions give hundreds of distinct intervals; the graph must not grow with
    them (one expm node per interval made a 120-spine fit spend 100 s in graph rewriting)."""
    intervals = np.linspace(0.5, 9.0, 300)
    index = np.arange(300)
    a, b, c, d = (pt.dscalar(name) for name in "abcd")
    mean, var = linear_moments(a, b, c, d, np.full(300, 1.2), index, intervals)
    graph = pytensor.graph.traversal.ancestors([mean, var])
    ops = [v.owner.op for v in graph if v.owner is not None]
    assert sum("expm" in type(op).__name__.lower() or "Expm" in str(op) for op in ops) == 1
    got_mean, got_var = pytensor.function([a, b, c, d], [mean, var])(*CASES[0])
    m, v = linear_moments_numpy(*CASES[0], np.array([1.2]), intervals[137])
    assert got_mean[137] == pytest.approx(m[0], rel=1e-10)
    assert got_var[137] == pytest.approx(v[0], rel=1e-8)


def test_per_transition_parameters_use_rk4_path():
    a, b, c, d = CASES[0]
    intervals = np.array([4.0])
    w0 = np.array([0.5, 1.5])
    vec = pt.as_tensor(np.array([b, b]))
    mean, var = linear_moments(
        pt.as_tensor(a), vec, pt.as_tensor(c), pt.as_tensor(d), w0, np.array([0, 0]), intervals
    )
    got_mean, got_var = pytensor.function([], [mean, var])()
    want_mean, want_var = linear_moments_numpy(a, b, c, d, w0, 4.0)
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-8)
    np.testing.assert_allclose(got_var, want_var, rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 1e4, 1e-3])
def test_linear_moments_are_unit_equivariant(scale):
    """Sizes × s: mean × s and variance × s² (the clip on M·Δt once broke this at 1e4)."""
    a, b, c, d = 0.1, -0.1, 0.04, 0.04
    w0 = np.array([0.3, 1.0, 2.5])
    intervals = np.array([4.0])
    index = np.zeros(3, dtype=int)
    mean, var = (
        v.eval()
        for v in linear_moments(
            pt.as_tensor(a * scale),
            pt.as_tensor(b),
            pt.as_tensor(c * scale**2),
            pt.as_tensor(d),
            w0 * scale,
            index,
            intervals,
        )
    )
    want_mean, want_var = linear_moments_numpy(a, b, c, d, w0, 4.0)
    np.testing.assert_allclose(mean, want_mean * scale, rtol=1e-7)
    np.testing.assert_allclose(var, want_var * scale**2, rtol=1e-7)
