"""Readers (one per source) and writers of results.

:func:`read_any` reads any input file, choosing the reader from the file's header;
:func:`input_kind` says which kind that is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["input_kind", "read_any"]


def __getattr__(name: str) -> Any:
    """Import :mod:`spinefit.io.read` on first use.

    Importing it here eagerly loaded both table readers into every ``spinefit.io.*``
    import (``spinefit.io.results`` went from 0.54 to 0.69 s).
    """
    if name in __all__:
        from spinefit.io import read

        return getattr(read, name)
    raise AttributeError(f"module 'spinefit.io' has no attribute {name!r}")
