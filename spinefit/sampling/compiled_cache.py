"""Reuse a compiled nutpie model for new data of the same structure, within one process.

nutpie's compile (PyTensor rewrites, then numba) costs seconds to tens of seconds and
dominates small fits. A model whose data all live in ``pm.Data`` containers compiles to a
function of those containers, so the compiled model of one data set serves every data set
of the same *structure*: the same graph, the same constants, the same shared containers by
name, type and rank, and the same shapes of the sampled variables. :func:`structure_key`
hashes exactly that; :func:`compile_nutpie` looks the key up, and on a hit copies the new
model's container values into the cached model (``with_data`` for nutpie's numba
functions, ``set_value`` for the Python-level functions that the start-point search and
support point use).

A cache hit gives bit-identical draws to a fresh compile (tests check it). Anything that
cannot be matched by name (an unnamed shared variable, a rank change) compiles afresh.
The cache lives in the process and is consulted only inside :func:`reuse`:
``spinefit batch`` workers and ``spinefit calibrate`` fit many data sets in one process and
compile each structure once; a single fit keeps its data as constants, could only ever hit
on identical data, and so compiles directly without building a key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pymc as pm

MAX_ENTRIES = 8
"""Compiled models kept per process (least recently used dropped first)."""

_CACHE: OrderedDict[str, Any] = OrderedDict()
_REUSE = {"on": False}


@contextlib.contextmanager
def reuse():
    """Within this block, models put their data in ``pm.Data`` (see :func:`data`).

    ``spinefit batch`` and ``spinefit calibrate`` fit many data sets in one process and turn
    it on. A single ``spinefit fit`` leaves it off: a model with data containers compiled
    ~6 s more slowly in a new process (Melander, moments: 17.5 s vs 11.5 s for the whole
    fit), because constants let PyTensor fold and cache more.
    """
    before = _REUSE["on"]
    _REUSE["on"] = True
    try:
        yield
    finally:
        _REUSE["on"] = before


def data(name: str, value, dims=None):
    """Return ``pm.Data(name, value)`` inside :func:`reuse`, else ``value`` itself.

    Models call it for every number taken from the data, so that inside :func:`reuse` the
    compiled model of one data set serves the next one of the same structure. A second call
    with a name already in the model returns that container when it holds the same values
    (parts of a model may share a number, e.g. the size unit).
    """
    if not _REUSE["on"]:
        return value
    import pymc as pm

    model = pm.modelcontext(None)
    if name in model.named_vars:
        existing = model[name]
        if not np.array_equal(existing.get_value(), np.asarray(value)):
            raise ValueError(f"data container '{name}' already holds other values")
        return existing
    return pm.Data(name, value, dims=dims)


def _variable_token(var) -> str:
    """Return a description of a graph input that ignores the values of shared data."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(var, Constant):
        data = np.asarray(var.data)
        digest = hashlib.sha256(data.tobytes()).hexdigest()[:16]
        return f"const:{var.type}:{data.shape}:{digest}"
    if isinstance(var, SharedVariable):
        return f"shared:{var.name}:{var.type.dtype}:{var.type.ndim}"
    return f"input:{var.name}:{var.type}"


def _graph(model: pm.Model) -> tuple[list, list]:
    """Return the graphs nutpie compiles (log density, value variables) and their inputs."""
    from pytensor.graph.traversal import graph_inputs

    outputs = [model.logp(), *model.unobserved_value_vars]
    return outputs, list(graph_inputs(outputs))


def _coord_values(model: pm.Model, dim: str):
    """Return a dim's coordinate values (a range when the dim has only a length)."""
    values = model.coords.get(dim)
    if values is None:
        values = range(int(model.dim_lengths[dim].eval()))
    return values


def structure_key(model: pm.Model, graph: tuple[list, list] | None = None) -> str | None:
    """Return a hash of what a compiled model depends on apart from its data values.

    Parameters
    ----------
    model : pymc.Model
    graph : (outputs, inputs), optional
        The model's graphs from :func:`_graph`, when the caller has them already.

    Returns
    -------
    str or None
        The key, or None when the model cannot be reused (a shared variable in the graph
        without a unique name).
    """
    from pytensor.graph.traversal import io_toposort

    outputs, inputs = graph or _graph(model)
    names = [v.name for v in inputs if _is_shared(v)]
    if any(name is None for name in names) or len(set(names)) != len(names):
        return None
    ids = {var: i for i, var in enumerate(inputs)}
    lines = [_variable_token(var) for var in inputs]
    for node in io_toposort(inputs, outputs):
        for out in node.outputs:
            ids.setdefault(out, len(ids))
        args = ",".join(str(ids[v]) for v in node.inputs)
        lines.append(f"{node.op}({args})->{[ids[o] for o in node.outputs]}")
    lines.append("outputs:" + ",".join(str(ids[o]) for o in outputs))
    lines.append("free:" + ",".join(rv.name for rv in model.free_RVs))
    lines.append("deterministic:" + ",".join(v.name for v in model.deterministics))
    lines.append("types:" + ",".join(str(v.type) for v in model.value_vars))
    for rv in model.free_RVs:  # shapes that follow the data (a dim, or a sized container)
        if any(length is None for length in rv.type.shape):
            lines.append(f"shape:{rv.name}:{tuple(int(n) for n in rv.shape.eval())}")
    traced = {*model.free_RVs, *model.deterministics}
    used = sorted({d for v in traced for d in model.named_vars_to_dims.get(v.name, ())})
    for dim in used:
        lines.append(f"dim:{dim}:{list(_coord_values(model, dim))}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _is_shared(var) -> bool:
    from pytensor.compile.sharedvalue import SharedVariable

    return isinstance(var, SharedVariable)


def compile_nutpie(model: pm.Model, **options) -> Any:
    """Return nutpie's compiled model of ``model``, from the cache when its structure matches.

    Outside :func:`reuse` it compiles directly (no key, nothing kept).

    Parameters
    ----------
    model : pymc.Model
        The model to sample.
    **options
        Passed to ``nutpie.compile_pymc_model`` (part of the cache key).

    Returns
    -------
    nutpie CompiledPyMCModel
    """
    import nutpie

    if not _REUSE["on"]:
        return nutpie.compile_pymc_model(model, **options)
    graph = _graph(model)
    key = structure_key(model, graph)
    if key is not None:
        key = hashlib.sha256(f"{key}|{sorted(options.items(), key=str)}".encode()).hexdigest()
    if key is None or key not in _CACHE:
        compiled = nutpie.compile_pymc_model(model, **options)
        if key is not None:
            _CACHE[key] = compiled
            while len(_CACHE) > MAX_ENTRIES:
                _CACHE.popitem(last=False)
        return compiled
    _CACHE.move_to_end(key)
    shared = {v.name: v for v in graph[1] if _is_shared(v)}
    compiled = _with_new_data(_CACHE[key], model, shared)
    if compiled is None:  # a container of the compiled functions is missing by name
        return nutpie.compile_pymc_model(model, **options)
    _CACHE[key] = compiled
    return compiled


def _with_new_data(compiled: Any, model: pm.Model, fresh: dict[str, Any]) -> Any:
    """Return the cached compiled model carrying ``model``'s data and coordinates (or None).

    ``fresh`` maps the names of the new model's shared containers to them.
    """
    import pandas as pd

    if any(old.name not in fresh for old in compiled.shared_var_keys):
        return None
    updates = {}
    for old in compiled.shared_var_keys:
        value = fresh[old.name].get_value()
        old.set_value(value)  # the Python-level logp and initial-point functions
        updates[old.name] = value
    compiled = compiled.with_data(**updates)
    coords = dict(compiled.coords or {})
    for name in model.coords:
        coords[name] = pd.Index(_coord_values(model, name))
    return dataclasses.replace(compiled, _coords=coords)


def clear() -> None:
    """Forget every compiled model (tests use it)."""
    _CACHE.clear()
