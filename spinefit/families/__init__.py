"""SDE families of the drift–diffusion models: one module per family, one registry.

A family is a subclass of :class:`~spinefit.families.base.SDEFamily`. Registering it with
:func:`register_family` makes it available to every drift–diffusion model (``--family
NAME``), to ``summary``, ``compare``, the posterior predictive checks and the report; no
other module names families.
"""

from __future__ import annotations

from typing import Any

from spinefit.errors import ConfigError
from spinefit.families.base import SDEFamily
from spinefit.families.linear import Linear
from spinefit.families.power import Power
from spinefit.families.spline import Spline

_REGISTRY: dict[str, type[SDEFamily]] = {}


def register_family(cls: type[SDEFamily]) -> type[SDEFamily]:
    """Register an SDE family under ``cls.name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def family_names() -> list[str]:
    """Return the registered family names."""
    return list(_REGISTRY)


def get_family(name: str, settings: dict[str, Any] | None = None) -> SDEFamily:
    """Return a new instance of family ``name`` with ``settings``.

    Raises
    ------
    ConfigError
        If no family has that name.
    """
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown drift-diffusion family '{name}'; choose one of {', '.join(_REGISTRY)}"
        )
    return _REGISTRY[name](dict(settings or {}))


def family_from_config(config: dict[str, Any] | None) -> tuple[dict[str, Any], SDEFamily]:
    """Return a model config with the family's own options gathered, and the family.

    The family is ``config["family"]`` (default ``"linear"``). Its settings come from
    ``config["family_options"]`` (as saved in a result) and from any top-level key that
    names one of the family's settings (``-o n_basis=10``), which is moved there.

    Raises
    ------
    ConfigError
        If the family is unknown or a setting is out of range.
    """
    config = dict(config or {})
    name = str(config.get("family", "linear"))
    probe = get_family(name)
    settings = dict(config.get("family_options") or {})
    for key in list(config):
        if key in probe.default_settings:
            settings[key] = config.pop(key)
    unknown = sorted(set(settings) - set(probe.default_settings))
    if unknown:
        raise ConfigError(
            f"family '{name}' has no option(s) {unknown}; its options are "
            f"{sorted(probe.default_settings) or 'none'}"
        )
    family = get_family(name, settings)
    family.validate()
    config["family"] = name
    config["family_options"] = dict(family.settings)
    return config, family


def family_of_result(tree) -> SDEFamily:
    """Return the SDE family a result was fitted with (linear for results without one).

    Reads the saved model config (``spinefit_config``; by-condition fits nest it under
    ``model_config``).
    """
    import json

    config = json.loads(tree.attrs.get("spinefit_config", "{}"))
    config = config.get("model_config", config)
    options = {k: config[k] for k in ("family", "family_options") if k in config}
    return family_from_config(options)[1]


for _family in (Linear, Power, Spline):
    register_family(_family)

__all__ = [
    "SDEFamily",
    "family_from_config",
    "family_names",
    "family_of_result",
    "get_family",
    "register_family",
]
