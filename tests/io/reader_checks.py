"""Assertions shared by the reader tests (imported by them; not a test module)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from spinefit import dims
from spinefit.io.ingestion_report import IngestionReport


def report_of(ds: xr.Dataset) -> IngestionReport:
    """Return the ingestion report stored with a read Dataset."""
    return IngestionReport.from_json(ds.attrs[dims.ATTR_INGESTION_REPORT])


def assert_points_at(err: pytest.ExceptionInfo, path: Path, row: int | None, column: str | None):
    """Assert a one-line error naming the file and, when given, the row and column."""
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column '{column}'" in message
