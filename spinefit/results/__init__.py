"""The one home of the result format: names, condition layout, LOO records, load and save.

Models, ``compare``, ``check``, the report and ``summary`` take the result format from
here and never from each other. The functions are loaded on first use, so that reading
the names (:mod:`spinefit.results.names`, e.g. for the CLI's ``--help``) does not import
xarray.
"""

from __future__ import annotations

import importlib
from typing import Any

from spinefit.results.names import FORMAT_VERSION

_LAZY = {
    "REFERENCE_PREFERENCE": "spinefit.results.conditions",
    "condition_fits": "spinefit.results.conditions",
    "condition_labels": "spinefit.results.conditions",
    "default_reference": "spinefit.results.conditions",
    "loo_record": "spinefit.results.conditions",
    "add_group": "spinefit.results.store",
    "format_version": "spinefit.results.store",
    "load_result": "spinefit.results.store",
    "save_result": "spinefit.results.store",
}

__all__ = ["FORMAT_VERSION", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'spinefit.results' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
