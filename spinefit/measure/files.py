"""``spinefit measure`` end to end: measure the stacks, write the table and the QC report.

The measurement (:mod:`spinefit.measure.run`) knows nothing of reports; this module puts
the two together, so data flow one way: stacks → table → report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spinefit.errors import ConfigError
from spinefit.io.atomic import write_text_atomically
from spinefit.measure.run import MeasureResult, measure_stacks, table_csv
from spinefit.report.measure import render_measure_report


def measure_to_files(
    stacks: Sequence[str | Path],
    rois: str | Path,
    out: str | Path,
    *,
    report: str | Path | None = None,
    command_line: str | None = None,
    **options: Any,
) -> MeasureResult:
    """Measure, then write the table (and the QC report) atomically.

    Both outputs are rendered in memory first, so an error leaves neither a partial table
    nor a partial report.

    Parameters
    ----------
    stacks, rois
        As for :func:`measure_stacks`.
    out : str or Path
        The CSV table to write.
    report : str or Path, optional
        The QC report (HTML) to write; None writes none.
    command_line : str, optional
        Shown in the report.
    **options
        Passed to :func:`measure_stacks`.

    Returns
    -------
    MeasureResult
        What was measured.
    """
    out = Path(out)
    inputs = [Path(s) for s in stacks] + [Path(rois)]
    if any(out.resolve() == p.resolve() for p in inputs):
        raise ConfigError(f"{out}: output would overwrite an input file")
    result = measure_stacks(stacks, rois, **options)
    text = table_csv(result.table)
    page = None
    if report is not None:
        page = render_measure_report(result, command_line=command_line)
    write_text_atomically(out, text)
    if page is not None:
        write_text_atomically(report, page)
    return result
