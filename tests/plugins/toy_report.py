"""The toy model's report sections, in one file (ARCHITECTURE.md's "Adding a model")."""

from __future__ import annotations

from typing import Any

import xarray as xr

from spinefit.report.sections import ReportSection, paragraph
from spinefit.results.names import POSTERIOR_GROUP


def toy_sections(model: Any, tree: xr.DataTree) -> list[ReportSection]:
    """Return one section with the posterior mean of μ."""
    mu = float(tree[POSTERIOR_GROUP]["mu"].mean())
    return [ReportSection("Toy normal", paragraph(f"posterior mean of mu: {mu:.3f}"))]
