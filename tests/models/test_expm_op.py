"""The batched matrix exponential Op of the moments likelihood (spinefit.models.expm_op)."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.linalg import expm

from spinefit.models.expm_op import batch_expm, expm_batch


def generators(rng, n: int, scale: float) -> np.ndarray:
    """Random lower-triangular 3x3 generators like the moments likelihood's, times Δt."""
    m = rng.normal(size=(n, 3, 3)) * scale
    m[:, 0, :] = 0.0
    m[:, 1, 2] = 0.0
    return m


@pytest.mark.parametrize("scale", [1e-8, 0.1, 1.0, 5.0, 30.0])
def test_matches_scipy_to_rounding(scale):
    rng = np.random.default_rng(0)
    for matrices in (generators(rng, 40, scale), rng.normal(size=(10, 4, 4)) * scale / 4):
        ours = expm_batch(matrices)
        ref = np.array([expm(m) for m in matrices])
        error = np.abs(ours - ref).max(axis=(1, 2)) / np.abs(ref).max(axis=(1, 2))
        assert error.max() < 1e-11, error.max()


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_gradient_matches_finite_differences(mode):
    rng = np.random.default_rng(1)
    matrices = generators(rng, 3, 2.0)
    weights = rng.normal(size=(3, 3, 3))
    x = pt.dtensor3("x")
    loss = (batch_expm(x) * weights).sum()
    grad = pytensor.function([x], pt.grad(loss, x), mode=mode)(matrices)
    step, numeric = 1e-6, np.zeros_like(matrices)
    for idx in np.ndindex(matrices.shape):
        up, down = matrices.copy(), matrices.copy()
        up[idx] += step
        down[idx] -= step
        numeric[idx] = ((expm_batch(up) - expm_batch(down)) * weights).sum() / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)
