"""ImageJ/Fiji ROI files (``RoiSet.zip`` from the ROI Manager, or one ``.roi``) as ROI rows.

Read with ``roifile`` (Christoph Gohlke's maintained reader). Each ROI becomes rows of
the ROI table (``roi_id, kind, x, y, z``):

- **kind** from the ROI's name when it starts with ``spine`` or ``shaft`` (any case),
  else from its type: line, segmented line and freehand line ROIs trace the shaft, every
  other type (point, oval, rectangle, polygon) marks a spine;
- **spines**: a multi-point ROI gives one spine per point (``name-1``, ``name-2``, …),
  other types one spine at the centre of their bounding box;
- **shafts**: every vertex of the line is a shaft point (``name-1``, …);
- **z** is the ROI's slice (``z_position`` in hyperstacks, else ``position``; per point
  for multi-point ROIs), 1-based in ImageJ and 0-based here. A ROI not tied to a slice
  ("Associate with slice" off) is refused: the measurement needs the plane.

Coordinates: ImageJ stores point ROIs as pixel indices and area and line ROIs as pixel
edges, so the centres of area ROIs and the vertices of lines are shifted by −0.5 px to
pixel indices (``x`` is the column, ``y`` the row, as in the CSV).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spinefit.errors import DataError

IMAGEJ_SUFFIXES = (".zip", ".roi")
"""ROI files read by :func:`imagej_roi_table` instead of as tables."""


def imagej_roi_table(path: str | Path) -> pd.DataFrame:
    """Return the ROI rows (``roi_id, kind, x, y, z``, as text) of an ImageJ ROI file.

    Raises
    ------
    DataError
        If the file is not an ImageJ ROI file or zip of them, holds no ROI, or a ROI is
        not tied to a slice.
    """
    import roifile

    source = str(path)
    try:
        rois = roifile.roiread(path)
    except Exception as err:  # roifile raises ValueError, zipfile/struct errors, …
        raise DataError(f"not an ImageJ ROI file or RoiSet zip ({err})", source=source) from None
    rois = [rois] if isinstance(rois, roifile.ImagejRoi) else list(rois)
    if not rois:
        raise DataError("the ROI file holds no ROI", source=source)
    rows = []
    for index, roi in enumerate(rois, start=1):
        rows.extend(_roi_rows(roi, index, roifile.ROI_TYPE, source))
    return pd.DataFrame(rows, columns=["roi_id", "kind", "x", "y", "z"]).astype(str)


def _roi_rows(roi, index: int, types, source: str) -> list[list]:
    name = (roi.name or "").strip() or f"roi{index}"
    kind = _kind(name, roi.roitype, types)
    coordinates = np.asarray(roi.coordinates(), dtype=float).reshape(-1, 2)
    planes = _planes(roi, len(coordinates), name, source)
    if roi.roitype == types.POINT:
        points = coordinates
    elif kind == "spine":
        left, top = coordinates.min(axis=0)
        right, bottom = coordinates.max(axis=0)
        if roi.roitype in (types.RECT, types.OVAL):
            right, bottom = roi.right, roi.bottom  # bounding box edges
        points = np.array([[(left + right) / 2 - 0.5, (top + bottom) / 2 - 0.5]])
        planes = planes[:1]
    else:
        points = coordinates - 0.5
    if len(points) == 1:
        return [[name, kind, points[0, 0], points[0, 1], planes[0]]]
    return [
        [f"{name}-{k}", kind, x, y, plane]
        for k, ((x, y), plane) in enumerate(zip(points, planes, strict=True), start=1)
    ]


def _kind(name: str, roitype, types) -> str:
    lowered = name.lower()
    if lowered.startswith(("spine", "shaft")):
        return lowered[:5]
    return "shaft" if roitype in (types.LINE, types.POLYLINE, types.FREELINE) else "spine"


def _planes(roi, n_points: int, name: str, source: str) -> list[float]:
    """Return each point's plane (0-based)."""
    per_point = getattr(roi, "counter_positions", None)
    if per_point is not None and len(per_point) == n_points and np.all(np.asarray(per_point) > 0):
        return [float(p) - 1 for p in per_point]
    slice_ = roi.z_position or roi.position
    if not slice_:
        raise DataError(
            f"ROI {name!r} is not tied to a slice; in Fiji, turn on 'Associate with slice' "
            "(ROI Manager > More > Options) and add it again on the spine's plane",
            source=source,
        )
    return [float(slice_) - 1] * n_points
