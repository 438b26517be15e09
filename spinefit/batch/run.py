"""``spinefit batch``: fit every row of a manifest, in parallel, resumably.

Each row becomes ``DIR/<label>.nc`` (the result), ``DIR/<label>.html`` (its report) and
``DIR/records/<label>.json`` (what happened: ok or failed with the message, seconds,
convergence warnings, parameter summaries). The record is written last, so its presence
with the row's current fingerprint means the row is done; a re-run skips it. Failed rows
are retried. The combined ``summary.csv``/``summary.parquet`` and the batch report
``index.html`` are rebuilt from all records at the end of every run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spinefit.batch.cluster import TaskOutcome, run_tasks
from spinefit.batch.manifest import (
    READER_COLUMNS,
    SAMPLING_COLUMNS,
    ManifestRow,
    read_manifest,
)
from spinefit.errors import ConfigError
from spinefit.io.atomic import write_atomically, write_text_atomically
from spinefit.sampling.settings import SamplerSettings

RECORDS_DIR = "records"
SUMMARY_NAME = "summary"
INDEX_NAME = "index.html"
DEFAULT_MODEL = "drift-diffusion"
STAT_COLUMNS = ("mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk")
"""A parameter's summary statistics, as :func:`spinefit.stats.stats_of` names them."""
SUMMARY_COLUMNS = (
    "label",
    "status",
    "model",
    "parameter",
    *STAT_COLUMNS,
    "seconds",
    "warnings",
    "error",
)
"""Columns of the combined summary: one row per data set and parameter (one per failed set)."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did.

    Parameters
    ----------
    records : list of dict
        One record per manifest row, in manifest order.
    skipped : list of str
        Labels whose completed outputs were reused.
    summary_csv, summary_parquet, index_html : Path
        The combined outputs.
    """

    records: list[dict[str, Any]]
    skipped: list[str]
    summary_csv: Path
    summary_parquet: Path
    index_html: Path

    @property
    def failed(self) -> list[str]:
        """Labels of the rows that failed."""
        return [r["label"] for r in self.records if r["status"] != "ok"]


def record_path(out_dir: Path, label: str) -> Path:
    """Return where the record of row `label` is kept."""
    return out_dir / RECORDS_DIR / f"{label}.json"


def write_record(out_dir: Path, record: dict[str, Any]) -> None:
    """Write a row's record atomically (a fitted row's last output, or a failure)."""
    write_text_atomically(record_path(out_dir, record["label"]), json.dumps(record, indent=1))


def completed_record(out_dir: Path, row: ManifestRow, fingerprint: str) -> dict | None:
    """Return the stored record of a row completed with this fingerprint, else None."""
    path = record_path(out_dir, row.label)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    done = record.get("status") == "ok" and record.get("fingerprint") == fingerprint
    outputs = (out_dir / f"{row.label}.nc", out_dir / f"{row.label}.html")
    return record if done and all(p.is_file() for p in outputs) else None


def fit_row(
    row: ManifestRow, out_dir: str, defaults: SamplerSettings, fingerprint: str
) -> dict[str, Any]:
    """Fit one manifest row and write its result, report and record (runs in a worker).

    Returns
    -------
    dict
        The record (also written to ``records/<label>.json``).

    Raises
    ------
    SpinefitError
        Bad input or options of this row (the batch records the message and goes on).
    """
    from spinefit.report.html import write_report
    from spinefit.sampling.compiled_cache import reuse
    from spinefit.stats import convergence_warnings
    from spinefit.summary import summarize
    from spinefit.workflow import InputOptions, fit_file

    out = Path(out_dir)
    s = row.settings
    config = dict(s.get("options", {}))
    for key in ("family", "likelihood"):
        if key in s:
            config[key] = s[key]
    overrides = {field: s[column] for column, field in SAMPLING_COLUMNS.items() if column in s}
    settings = replace(defaults, progressbar=False, **overrides)
    reader = {k: s[k] for k in READER_COLUMNS if k in s}
    model = s.get("model", DEFAULT_MODEL)
    start = time.perf_counter()
    with reuse():  # rows of one structure share one compile per worker
        tree = fit_file(
            list(row.inputs),
            model,
            out / f"{row.label}.nc",
            config=config,
            settings=settings,
            input_options=InputOptions(**reader),
            command_line=f"spinefit batch (row {row.label})",
            by=s.get("by"),
            labels=s.get("labels"),
        )
    write_report([tree], out / f"{row.label}.html", title=f"spinefit batch: {row.label}")
    body = summarize(tree)
    record = {
        "label": row.label,
        "status": "ok",
        "model": body["model"],
        "inputs": row.inputs,
        "fingerprint": fingerprint,
        "seconds": time.perf_counter() - start,
        "warnings": convergence_warnings(tree),
        "parameters": body.get("parameters", {}),
        "diagnostics": body.get("diagnostics", {}),
    }
    write_record(out, record)
    return record


def failed_record(row: ManifestRow, outcome: TaskOutcome, fingerprint: str) -> dict[str, Any]:
    """Return the record of a row whose fit failed."""
    return {
        "label": row.label,
        "status": "failed",
        "model": row.settings.get("model", DEFAULT_MODEL),
        "inputs": row.inputs,
        "fingerprint": fingerprint,
        "seconds": outcome.seconds,
        "error": outcome.error,
        "warnings": [],
        "parameters": {},
    }


def run_batch(
    manifest: str | Path,
    out_dir: str | Path,
    *,
    defaults: SamplerSettings | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    rerun: bool = False,
) -> BatchResult:
    """Fit every row of `manifest` into `out_dir` (see the module docstring).

    Parameters
    ----------
    manifest : str or Path
        The manifest CSV (:mod:`spinefit.batch.manifest`).
    out_dir : str or Path
        Output folder (created).
    defaults : SamplerSettings, optional
        Sampling settings of rows without their own (progress bars are always off in
        the workers).
    scheduler, workers : optional
        Where to run (:func:`spinefit.batch.cluster.run_tasks`).
    progress : bool
        Show a progress bar.
    rerun : bool
        Fit completed rows again instead of skipping them.

    Returns
    -------
    BatchResult
        Records in manifest order, the reused labels and the combined outputs.

    Raises
    ------
    ConfigError
        A bad manifest, an output folder that is a file, or an unknown model name (before
        anything is fitted). Failures of single rows are recorded, not raised.
    """
    from spinefit.models import model_names

    rows = read_manifest(manifest)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: output folder is a file")
    known = model_names()
    for row in rows:
        if row.settings.get("model", DEFAULT_MODEL) not in known:
            raise ConfigError(
                f"{manifest}:{row.line}: unknown model '{row.settings['model']}'; "
                f"known: {', '.join(known)}"
            )
    (out / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
    defaults = defaults or SamplerSettings()
    fingerprints = {row.label: row.fingerprint() for row in rows}
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for row in rows:
        done = None if rerun else completed_record(out, row, fingerprints[row.label])
        if done is not None:
            records[row.label] = done
        else:
            todo.append(row)
    skipped = list(records)
    by_label = {row.label: row for row in todo}
    items = [
        (
            row.label,
            {
                "row": row,
                "out_dir": str(out),
                "defaults": defaults,
                "fingerprint": fingerprints[row.label],
            },
        )
        for row in todo
    ]
    for outcome in run_tasks(
        fit_row,
        items,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        description=f"fitting {len(todo)} data sets",
    ):
        row = by_label[outcome.key]
        if outcome.ok:
            records[row.label] = outcome.value
        else:
            records[row.label] = failed_record(row, outcome, fingerprints[row.label])
            write_record(out, records[row.label])
    ordered = [records[row.label] for row in rows]
    csv_path, parquet_path = write_summary(ordered, out)
    index = write_index(ordered, out, manifest=Path(manifest), skipped=skipped)
    return BatchResult(ordered, skipped, csv_path, parquet_path, index)


def summary_rows(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield the combined summary's rows: one per data set and parameter."""
    for record in records:
        common = {
            "label": record["label"],
            "status": record["status"],
            "model": record.get("model"),
            "seconds": record.get("seconds"),
            "warnings": "; ".join(record.get("warnings", [])),
            "error": record.get("error") or "",
        }
        parameters = record.get("parameters") or {}
        if not parameters:
            yield common | {"parameter": ""}
        for name, stats in parameters.items():
            yield (common | {"parameter": name} | {k: stats.get(k) for k in STAT_COLUMNS})


def write_summary(records: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.parquet`` atomically; return both paths."""
    import pandas as pd

    frame = pd.DataFrame(list(summary_rows(records)), columns=list(SUMMARY_COLUMNS))
    csv_path = out / f"{SUMMARY_NAME}.csv"
    parquet_path = out / f"{SUMMARY_NAME}.parquet"
    write_atomically(csv_path, lambda tmp: frame.to_csv(tmp, index=False))
    write_atomically(parquet_path, lambda tmp: frame.to_parquet(tmp, index=False))
    return csv_path, parquet_path


def write_index(
    records: list[dict[str, Any]], out: Path, *, manifest: Path, skipped: list[str]
) -> Path:
    """Write the batch report ``index.html`` atomically and return its path."""
    from spinefit.report.batch import render_batch_report

    page = render_batch_report(records, manifest=manifest, skipped=skipped)
    return write_text_atomically(out / INDEX_NAME, page)
