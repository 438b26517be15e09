"""Fixtures for the reader tests: small files written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return a function writing ``text`` to ``tmp_path / name`` and returning the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
