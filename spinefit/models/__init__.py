"""Models, one per module, looked up by their ``--model`` name.

The registry maps each name to ``"module:Class"`` so that importing spinefit does not
import PyMC until a model is actually used.
"""

from __future__ import annotations

import importlib

from spinefit.errors import ConfigError
from spinefit.models.base import SamplerSettings, SpineModel

REGISTRY: dict[str, str] = {
    "by-condition": "spinefit.models.by_condition:ByCondition",
    "drift-diffusion": "spinefit.models.drift_diffusion:DriftDiffusion",
    "drift-diffusion-conditions": (
        "spinefit.models.drift_diffusion_conditions:ConditionalDriftDiffusion"
    ),
    "mixture": "spinefit.models.mixture:Mixture",
    "paired-mixture": "spinefit.models.paired_mixture:PairedMixture",
    "precision": "spinefit.models.precision:SynapticPrecision",
    "variance-split": "spinefit.models.variance_split:VarianceSplit",
}


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


__all__ = ["REGISTRY", "SamplerSettings", "SpineModel", "get_model_class"]
