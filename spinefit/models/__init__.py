"""The model registry: the one place that maps a ``--model`` name to its class.

Each name maps to ``"module:Class"`` so that importing spinefit (or building the CLI's
``--help``) does not import PyMC until a model is actually used. Everything else asks the
registry (:func:`get_model_class`, :func:`model_of`) and the model class for what a model
does: its data kinds, reported quantities, curves, likelihood units, primary contrasts and
condition version (see :class:`spinefit.models.base.SpineModel`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from spinefit.errors import ConfigError
from spinefit.results.names import MODEL_ATTR

if TYPE_CHECKING:
    import xarray as xr

    from spinefit.models.base import SpineModel

REGISTRY: dict[str, str] = {
    "drift-diffusion": "spinefit.models.drift_diffusion:DriftDiffusion",
    "drift-diffusion-conditions": (
        "spinefit.models.drift_diffusion_conditions:ConditionalDriftDiffusion"
    ),
    "by-condition": "spinefit.models.by_condition:ByCondition",
    "mixture": "spinefit.models.mixture:Mixture",
    "paired-mixture": "spinefit.models.paired_mixture:PairedMixture",
    "precision": "spinefit.models.precision:SynapticPrecision",
    "variance-split": "spinefit.models.variance_split:VarianceSplit",
}
"""``--model`` name → ``"module:Class"``; :func:`register_model` adds to it."""
PER_CONDITION_MODEL = "by-condition"
"""The model that fits any other model once per condition (no hierarchical version)."""


def register_model(name: str, target: str) -> None:
    """Register a model class under ``name`` (``target`` is ``"module:Class"``).

    Raises
    ------
    ConfigError
        If ``name`` is taken by another class or ``target`` is not ``module:Class``.
    """
    if target.count(":") != 1:
        raise ConfigError(f"model target must be 'module:Class', got {target!r}")
    if REGISTRY.get(name, target) != target:
        raise ConfigError(f"model name '{name}' is already registered to {REGISTRY[name]}")
    REGISTRY[name] = target


def model_names() -> list[str]:
    """Return the registered model names, in registration order."""
    return list(REGISTRY)


def get_model_class(name: str) -> type[SpineModel]:
    """Return the model class registered under ``name``.

    Raises
    ------
    ConfigError
        If no model has that name.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown model '{name}'; choose one of {', '.join(REGISTRY)}")
    module_name, class_name = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise ConfigError(f"model '{name}' is not available in this version") from None
        raise
    return getattr(module, class_name)


def model_of(tree: xr.DataTree) -> SpineModel:
    """Rebuild the model object (with its config) that produced the result ``tree``."""
    name = tree.attrs.get(MODEL_ATTR)
    if name is None:
        raise ConfigError("the result names no model; is it a spinefit result?")
    return get_model_class(str(name)).from_result(tree)


__all__ = [
    "PER_CONDITION_MODEL",
    "REGISTRY",
    "ConfigError",
    "get_model_class",
    "model_names",
    "model_of",
    "register_model",
]
