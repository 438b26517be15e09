"""The compiled forward algorithm as a PyTensor Op, for the PyMC model (numba or Python).

:class:`LatentForward` wraps :func:`spinefit.models.latent_kernel.forward_kernel`; its
gradient is :class:`LatentForwardGrad`, the reverse pass of
:func:`~spinefit.models.latent_kernel.backward_kernel`, fed with the forward vectors the
forward Op already computed. Both run the same numba function whether PyTensor compiles
the graph with numba (nutpie, the default) or with its C/Python backends.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from spinefit.models.latent_detection_kernel import (
    backward_detection_kernel,
    forward_detection_kernel,
)
from spinefit.models.latent_kernel import backward_kernel, forward_kernel

KERNEL_VERSION = 5
"""Bump when the kernels change (part of the numba cache key)."""

_N_DATA = 4  # present, log_y, extra_var, interval_index: constants, no gradient


class _KernelOp(Op):
    """An Op that runs one of the latent kernels on (data, scalars, additive, arrays).

    Subclasses set :attr:`kernel`, :attr:`output_types` and :attr:`n_scalars` (z0, h, sd
    and, with a detection limit, its log).
    """

    __props__ = ("additive",)
    output_types: tuple = ()
    n_scalars = 3

    def __init__(self, additive: bool = False):
        self.additive = bool(additive)

    def make_node(self, *inputs):
        """Return the Apply node with one output per entry of :attr:`output_types`."""
        inputs = [pt.as_tensor_variable(x) for x in inputs]
        return Apply(self, inputs, [make() for make in self.output_types])

    def perform(self, node, inputs, output_storage):
        """Run the kernel (Python backends)."""
        data, rest = inputs[:_N_DATA], inputs[_N_DATA:]
        scalars = [float(x) for x in rest[: self.n_scalars]]
        arrays = rest[self.n_scalars :]
        results = self.kernel(*data, *scalars[:3], self.additive, *scalars[3:], *arrays)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = value


class LatentForward(_KernelOp):
    """Per-spine log-likelihood of one imaging block (see :func:`forward_kernel`).

    Inputs: present (int8, R×K), log_y, extra_var (R×K), interval_index (int64, K−1), z0, h, sd
    (scalars), initial, delta (G), props (I×G×G), killed, born (I×G). Outputs: log_lik (R)
    and the forward vectors alpha, eps, mass (N×G) and norm (N) used by the gradient.
    """

    kernel = staticmethod(forward_kernel)
    output_types = (pt.dvector, pt.dmatrix, pt.dmatrix, pt.dmatrix, pt.dvector)

    def connection_pattern(self, node):
        """Return which outputs each input reaches (the data inputs reach none)."""
        data = [[False] * 5 for _ in range(_N_DATA)]
        return data + [[True, False, False, False, False] for _ in node.inputs[_N_DATA:]]

    def pullback(self, inputs, outputs, output_grads):
        """Vector–Jacobian product of the log-likelihood output (the reverse kernel)."""
        upstream = output_grads[0]
        for extra in output_grads[1:]:
            if not isinstance(extra.type, DisconnectedType):
                raise NotImplementedError("only the log-likelihood output is differentiable")
        present, log_y, extra_var, interval_index, z0, h, sd = inputs[:7]
        delta, props, killed = inputs[8:11]
        _, alpha, eps, mass, norm = outputs
        d_scalars, d_initial, d_delta, d_props, d_killed, d_born = LatentForwardGrad(self.additive)(
            present,
            log_y,
            extra_var,
            interval_index,
            z0,
            h,
            sd,
            delta,
            props,
            killed,
            alpha,
            eps,
            mass,
            norm,
            upstream,
        )
        disconnected = [DisconnectedType()() for _ in range(_N_DATA)]
        return [
            *disconnected,
            d_scalars[0],
            d_scalars[1],
            d_scalars[2],
            d_initial,
            d_delta,
            d_props,
            d_killed,
            d_born,
        ]


class LatentForwardGrad(_KernelOp):
    """Reverse pass of :class:`LatentForward` (see :func:`backward_kernel`)."""

    kernel = staticmethod(backward_kernel)
    output_types = (pt.dvector, pt.dvector, pt.dvector, pt.dtensor3, pt.dmatrix, pt.dmatrix)
    """Gradients of z0, h, sd (one vector of 3), initial, delta, props, killed, born."""


class LatentDetectionForward(_KernelOp):
    """Per-spine log-likelihood of one block with a detection limit.

    See :func:`~spinefit.models.latent_detection_kernel.forward_detection_kernel`. Inputs
    are those of :class:`LatentForward` with the log detection limit after sd; outputs
    log_lik (R), the vectors alpha, eps, mass (S×G) and dead, norm (S) of the S tracked
    states.
    """

    kernel = staticmethod(forward_detection_kernel)
    output_types = (pt.dvector, pt.dmatrix, pt.dmatrix, pt.dmatrix, pt.dvector, pt.dvector)
    n_scalars = 4

    def connection_pattern(self, node):
        """Return which outputs each input reaches (the data inputs reach none)."""
        data = [[False] * 6 for _ in range(_N_DATA)]
        return data + [[True] + [False] * 5 for _ in node.inputs[_N_DATA:]]

    def pullback(self, inputs, outputs, output_grads):
        """Vector–Jacobian product of the log-likelihood output (the reverse kernel)."""
        for extra in output_grads[1:]:
            if not isinstance(extra.type, DisconnectedType):
                raise NotImplementedError("only the log-likelihood output is differentiable")
        grads = LatentDetectionGrad(self.additive)(*inputs, *outputs[1:], output_grads[0])
        d_scalars, arrays = grads[0], grads[1:]
        disconnected = [DisconnectedType()() for _ in range(_N_DATA)]
        return [*disconnected, *(d_scalars[j] for j in range(4)), *arrays]


class LatentDetectionGrad(_KernelOp):
    """Reverse pass of :class:`LatentDetectionForward`."""

    kernel = staticmethod(backward_detection_kernel)
    output_types = (pt.dvector, pt.dvector, pt.dvector, pt.dtensor3, pt.dmatrix, pt.dmatrix)
    """Gradients of z0, h, sd, log limit (one vector of 4), initial, delta, props, killed,
    born."""
    n_scalars = 4


def _register_kernel(op_class, kernel, with_limit: bool) -> None:
    """Give a kernel Op its numba implementation (the kernel, with its scalars unboxed).

    ``with_limit``: the Op takes the log detection limit after sd (the detection kernels).
    """

    @register_funcify_default_op_cache_key(op_class)
    def _numba_kernel(op, **kwargs):
        additive = op.additive
        if with_limit:

            @numba_basic.numba_njit
            def run(present, log_y, extra_var, interval_index, z0, h, sd, limit, *arrays):
                return kernel(
                    present,
                    log_y,
                    extra_var,
                    interval_index,
                    z0.item(),
                    h.item(),
                    sd.item(),
                    additive,
                    limit.item(),
                    *arrays,
                )

        else:

            @numba_basic.numba_njit
            def run(present, log_y, extra_var, interval_index, z0, h, sd, *arrays):
                return kernel(
                    present,
                    log_y,
                    extra_var,
                    interval_index,
                    z0.item(),
                    h.item(),
                    sd.item(),
                    additive,
                    *arrays,
                )

        return run, KERNEL_VERSION


_register_kernel(LatentForward, forward_kernel, with_limit=False)
_register_kernel(LatentForwardGrad, backward_kernel, with_limit=False)
_register_kernel(LatentDetectionForward, forward_detection_kernel, with_limit=True)
_register_kernel(LatentDetectionGrad, backward_detection_kernel, with_limit=True)


def block_log_likelihood(
    dyn, block, noise: str = "multiplicative", name: str = "block", log_limit=None
):
    """Per-spine log-likelihood of one block as one Op (PyTensor twin of ``forward``).

    The block's arrays and interval lengths go through
    :func:`spinefit.sampling.compiled_cache.data`, named ``{name}_present`` etc.: data
    containers inside ``compiled_cache.reuse()``, so that one compiled model serves every
    data set of the same structure (any number of spines; the same number of sessions and
    distinct intervals), and constants otherwise.

    Parameters
    ----------
    dyn : Dynamics
        PyTensor dynamics of one parameter value.
    block : LatentBlock
        The block's data.
    noise : {"multiplicative", "additive"}
        Measurement-noise model.
    name : str
        Prefix of the block's data containers (unique within the model).
    log_limit : scalar or TensorVariable, optional
        Log detection limit in units of s: absent spines may be alive and unseen
        (:mod:`spinefit.models.latent_detection_kernel`). None: absent means dead.

    Returns
    -------
    log_lik : TensorVariable (R,)
    log_survival_birth : TensorVariable (K-1,)
        Log probability that a spine born within each session interval is alive at its end
        (and, with a detection limit, seen): the formation counts' thinning.
    """
    from spinefit.models.killed_grid import emission_sd
    from spinefit.sampling.compiled_cache import data

    op = dyn.op
    intervals = data(f"{name}_intervals", np.asarray(block.intervals, dtype=float))
    index = data(f"{name}_interval_index", np.asarray(block.interval_index, dtype=np.int64))
    props, killed, born, log_survival = dyn.intervals(pt.as_tensor_variable(intervals))
    sd = emission_sd(dyn.noise_sd, op.h, noise == "additive", pt)
    inputs = [
        data(f"{name}_present", block.present.astype(np.int8)),
        data(f"{name}_log_y", np.asarray(block.log_y, dtype=float)),
        data(f"{name}_extra_var", np.asarray(block.extra_var, dtype=float)),
        index,
        pt.as_tensor_variable(op.z[0]).astype("float64"),
        pt.as_tensor_variable(op.h).astype("float64"),
        sd.astype("float64"),
    ]
    arrays = [dyn.initial, op.delta, props, killed, born]
    if log_limit is None:
        log_lik = LatentForward(noise == "additive")(*inputs, *arrays)[0]
    else:
        log_limit = pt.as_tensor_variable(log_limit).astype("float64")
        log_lik = LatentDetectionForward(noise == "additive")(*inputs, log_limit, *arrays)[0]
        seen = 1.0 - unseen_probability(op.z, log_limit, sd, noise)
        log_seen = pt.log(pt.maximum((born * op.delta) @ seen, 1e-300))
        # The first sighting's size is scored given that it was seen: its count is the
        # thinned Poisson term, so the kernel's p(y) is divided by P(seen | newborn).
        entry = data(f"{name}_entry_interval", block.entry_interval.astype(np.int64))
        log_lik = log_lik - pt.switch(pt.ge(entry, 0), log_seen[pt.maximum(entry, 0)], 0.0)
        log_survival = log_survival + log_seen
    return log_lik, log_survival[pt.as_tensor_variable(index)]


def unseen_probability(z, log_limit, sd, noise: str = "multiplicative"):
    """P(measured size below the detection limit | true size e^z) (PyTensor or numpy).

    The twin of :func:`spinefit.models.latent_detection_kernel.unseen_probability`.
    """
    xp = pt if isinstance(z, pt.TensorVariable) or isinstance(log_limit, pt.TensorVariable) else np
    if noise == "additive":
        t = (xp.exp(log_limit) - xp.exp(z)) / sd
    else:
        t = (log_limit - z) / sd
    if xp is np:
        from scipy.special import ndtr

        return ndtr(t)
    return 0.5 * pt.erfc(-t / np.sqrt(2.0))
