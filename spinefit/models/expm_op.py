r"""Matrix exponentials of a batch of small matrices as a PyTensor Op with a cached kernel.

The moments likelihood needs :math:`e^{M\Delta t}` of a 3×3 generator per distinct interval.
``pt.linalg.expm`` compiles slowly under nutpie's numba backend (on a 4-parameter model
it added ~9 of 24 s to ``nutpie.compile_pymc_model``), and numba recompiles it in every
process. Here the exponential is a module-level numba function with ``cache=True``, so a
new process loads its machine code from disk.

The exponential is Taylor's series to order :data:`TAYLOR_ORDER` after scaling the matrix
to an ∞-norm ≤ 1/2, then squaring back: the truncation error is below
:math:`2^{-15}/15! \approx 2\times10^{-17}` relative. The gradient is exact: the
vector–Jacobian product of :math:`X \mapsto e^X` with cotangent :math:`G` is the upper
right block of :math:`\exp\begin{pmatrix}X^T & G\\ 0 & X^T\end{pmatrix}` (Van Loan 1978;
Najfeld & Havel 1995).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

TAYLOR_ORDER = 14
"""Terms of the series after scaling to ∞-norm ≤ 1/2."""
KERNEL_VERSION = 1
"""Bump when the kernels change (part of PyTensor's numba cache key)."""


@numba.njit(cache=True)
def expm_small(matrix):
    """Return the exponential of one small square matrix (scaling, Taylor, squaring)."""
    n = matrix.shape[0]
    norm = 0.0
    for i in range(n):
        row = 0.0
        for j in range(n):
            row += abs(matrix[i, j])
        norm = max(norm, row)
    squarings = 0
    if norm > 0.5:
        squarings = int(math.ceil(math.log2(norm / 0.5)))
    scaled = matrix / 2.0**squarings
    result = np.eye(n)
    term = np.eye(n)
    for k in range(1, TAYLOR_ORDER + 1):
        term = np.dot(term, scaled) / k
        result += term
    for _ in range(squarings):
        result = np.dot(result, result)
    return result


@numba.njit(cache=True)
def expm_batch(matrices):
    """Return the exponential of each matrix of an (I, n, n) array."""
    out = np.empty_like(matrices)
    for i in range(matrices.shape[0]):
        out[i] = expm_small(np.ascontiguousarray(matrices[i]))
    return out


@numba.njit(cache=True)
def expm_batch_vjp(matrices, cotangent):
    """Return the gradient of ``sum(cotangent * expm_batch(matrices))`` w.r.t. ``matrices``."""
    n = matrices.shape[1]
    out = np.empty_like(matrices)
    block = np.zeros((2 * n, 2 * n))
    for i in range(matrices.shape[0]):
        transposed = matrices[i].T
        block[:n, :n] = transposed
        block[n:, n:] = transposed
        block[:n, n:] = cotangent[i]
        out[i] = expm_small(block)[:n, n:]
    return out


class BatchExpm(Op):
    """:math:`e^{X_i}` for each matrix of an (I, n, n) tensor (see :func:`expm_batch`)."""

    __props__ = ()

    def make_node(self, matrices):
        """Return the Apply node: one float64 (I, n, n) input and output."""
        matrices = pt.as_tensor_variable(matrices).astype("float64")
        return Apply(self, [matrices], [pt.dtensor3()])

    def perform(self, node, inputs, output_storage):
        """Run the kernel (Python backends)."""
        output_storage[0][0] = expm_batch(np.ascontiguousarray(inputs[0], dtype=float))

    def infer_shape(self, fgraph, node, shapes):
        """Return the output shape: the input's."""
        return [shapes[0]]

    def pullback(self, inputs, outputs, output_grads):
        """Vector–Jacobian product (:class:`BatchExpmGrad`)."""
        return [BatchExpmGrad()(inputs[0], output_grads[0])]


class BatchExpmGrad(Op):
    """Gradient of :class:`BatchExpm` (see :func:`expm_batch_vjp`); not differentiable."""

    __props__ = ()

    def make_node(self, matrices, cotangent):
        """Return the Apply node: matrices and cotangent in, the gradient out."""
        inputs = [pt.as_tensor_variable(x).astype("float64") for x in (matrices, cotangent)]
        return Apply(self, inputs, [pt.dtensor3()])

    def perform(self, node, inputs, output_storage):
        """Run the kernel (Python backends)."""
        matrices, cotangent = (np.ascontiguousarray(x, dtype=float) for x in inputs)
        output_storage[0][0] = expm_batch_vjp(matrices, cotangent)

    def infer_shape(self, fgraph, node, shapes):
        """Return the gradient's shape: the matrices'."""
        return [shapes[0]]


@register_funcify_default_op_cache_key(BatchExpm)
def _numba_batch_expm(op, **kwargs):
    @numba_basic.numba_njit
    def batch_expm(matrices):
        return expm_batch(np.ascontiguousarray(matrices))

    return batch_expm, KERNEL_VERSION


@register_funcify_default_op_cache_key(BatchExpmGrad)
def _numba_batch_expm_grad(op, **kwargs):
    @numba_basic.numba_njit
    def batch_expm_grad(matrices, cotangent):
        return expm_batch_vjp(np.ascontiguousarray(matrices), np.ascontiguousarray(cotangent))

    return batch_expm_grad, KERNEL_VERSION


def batch_expm(matrices):
    """Return :math:`e^{X_i}` of an (I, n, n) tensor, differentiable, numba-cached."""
    return BatchExpm()(matrices)
