"""The one home of the result format: names, condition layout, LOO records, load and save.

Models, ``compare``, ``check``, the report and ``summary`` take the result format from
here and never from each other.
"""

from spinefit.results.conditions import (
    REFERENCE_PREFERENCE,
    condition_fits,
    condition_labels,
    default_reference,
    loo_record,
)
from spinefit.results.names import FORMAT_VERSION
from spinefit.results.store import add_group, format_version, load_result, save_result

__all__ = [
    "FORMAT_VERSION",
    "REFERENCE_PREFERENCE",
    "add_group",
    "condition_fits",
    "condition_labels",
    "default_reference",
    "format_version",
    "load_result",
    "loo_record",
    "save_result",
]
