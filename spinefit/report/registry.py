"""Report sections of each model, registered by model name.

Models know nothing of reports: this registry maps a model's registry name to the
function that turns its result into report sections, ``function(model, tree)``. Each
function lives in the model's own report module and is imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import xarray as xr

    from spinefit.report.sections import ReportSection

SECTIONS: dict[str, str] = {
    "drift-diffusion": "spinefit.report.drift_diffusion:drift_diffusion_sections",
    "drift-diffusion-conditions": "spinefit.report.compare:condition_sections",
    "by-condition": "spinefit.report.compare:by_condition_sections",
    "mixture": "spinefit.report.mixture:mixture_sections",
    "paired-mixture": "spinefit.report.paired_mixture:paired_mixture_sections",
    "precision": "spinefit.report.precision:precision_sections",
    "variance-split": "spinefit.report.variance_split:variance_split_sections",
}
"""Model name → ``"module:function"`` of its sections; :func:`register_sections` adds."""


def register_sections(model_name: str, target: str | Callable[..., list]) -> None:
    """Register the report sections of the model ``model_name``.

    Parameters
    ----------
    model_name : str
        The model's registry name.
    target : str or callable
        ``"module:function"``, or the function itself; it is called as
        ``function(model, tree)`` and returns a list of ReportSection.
    """
    SECTIONS[model_name] = target


def model_sections(model: Any, tree: xr.DataTree) -> list[ReportSection]:
    """Return the result sections of ``model``'s result ``tree`` (none if unregistered)."""
    target = SECTIONS.get(model.name)
    if target is None:
        return []
    if isinstance(target, str):
        module_name, function_name = target.split(":")
        target = getattr(importlib.import_module(module_name), function_name)
    return target(model, tree)
