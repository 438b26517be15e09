"""The batch manifest: one CSV row per data set to fit.

Columns (names matched ignoring case; only ``input`` is required)::

    label      unique name of the fit; its outputs are DIR/<label>.nc and .html
               (default: the input file's name without suffix; also "name", "id")
    input      input file; several files separated by ';' (then `labels` too)
               (also "path", "file")
    model      registered model name (default drift-diffusion)
    options    model options KEY=VALUE, separated by spaces or ';' (as fit -o), or
               one JSON object
    family, likelihood, by, labels
               as the fit options of the same names (labels separated by ';')
    draws, tune, chains, seed, sampler, adaptation, ess_target
               sampling, overriding the batch defaults
    interval_days, session_times, volume_units, spine_col, time_col, volume_col,
    size_col, pre_col, post_col
               reader options (session_times separated by ';')

Relative input paths are read from the manifest's folder. Empty cells mean "default".
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spinefit.errors import ConfigError
from spinefit.io.tables import file_hash
from spinefit.options import parse_option_pairs

SAMPLING_COLUMNS = {
    "draws": "draws",
    "tune": "tune",
    "chains": "chains",
    "seed": "random_seed",
    "sampler": "sampler",
    "adaptation": "adaptation",
    "ess_target": "ess_target",
}
"""Sampling columns and the :class:`~spinefit.sampling.settings.SamplerSettings` field each
sets."""
READER_COLUMNS = (
    "interval_days",
    "session_times",
    "volume_units",
    "spine_col",
    "time_col",
    "volume_col",
    "size_col",
    "pre_col",
    "post_col",
)
"""Columns passed on as :class:`~spinefit.workflow.InputOptions` of the same names."""
INT_COLUMNS = ("draws", "tune", "chains", "seed", "ess_target")
FLOAT_COLUMNS = ("interval_days",)
LIST_COLUMNS = ("labels", "session_times")
COLUMNS = (
    "label",
    "input",
    "model",
    "options",
    "family",
    "likelihood",
    "by",
    "labels",
    *SAMPLING_COLUMNS,
    *READER_COLUMNS,
)

ALIASES = {
    "name": "label",
    "id": "label",
    "dataset": "label",
    "inputs": "input",
    "path": "input",
    "file": "input",
    "files": "input",
    "config": "options",
    "option": "options",
    "random_seed": "seed",
}
"""Other names a lab may give a manifest column (matched ignoring case)."""

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""Labels name output files, so they are restricted to safe file-name characters."""


@dataclass(frozen=True)
class ManifestRow:
    """One data set to fit.

    Parameters
    ----------
    label : str
        Unique name; outputs are ``<label>.nc`` and ``<label>.html``.
    inputs : list of str
        Absolute input paths.
    settings : dict
        Every other non-empty column, typed (ints, floats, lists, the options dict).
    line : int
        Line of the manifest (for messages).
    """

    label: str
    inputs: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    def fingerprint(self) -> str:
        """Return a hash of what the fit depends on (inputs' paths and contents, settings).

        A completed output is reused on a re-run only while this is unchanged.
        """
        digest = hashlib.sha256(json.dumps(asdict(self) | {"line": 0}, sort_keys=True).encode())
        for path in self.inputs:
            digest.update(file_hash(path).encode())
        return digest.hexdigest()[:16]


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read and check a manifest.

    Raises
    ------
    ConfigError
        One line naming the manifest line: a missing file, no ``input`` column, unknown
        or repeated columns, duplicate or unsafe labels, missing inputs, values that
        are not numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: manifest not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            header = [h.strip() for h in reader.fieldnames or []]
            records = list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"{path}: not a readable CSV manifest ({err})") from None
    columns = _column_names(path, header)
    rows, seen = [], {}
    for number, record in enumerate(records, start=2):
        values = {columns[k.strip()]: (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue
        row = _row(path, number, values)
        if row.label in seen:
            raise ConfigError(
                f"{path}:{number}: label '{row.label}' already used on line {seen[row.label]}"
            )
        seen[row.label] = number
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: the manifest has no rows")
    return rows


def _column_names(path: Path, header: list[str]) -> dict[str, str]:
    known = {name.lower(): name for name in COLUMNS} | ALIASES
    unknown = [h for h in header if h.lower() not in known]
    if unknown:
        raise ConfigError(
            f"{path}: unknown manifest column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
        )
    columns = {h: known[h.lower()] for h in header}
    repeated = {c for c in columns.values() if list(columns.values()).count(c) > 1}
    if repeated:
        raise ConfigError(
            f"{path}: several columns mean {', '.join(sorted(repeated))} "
            f"({', '.join(h for h, c in columns.items() if c in repeated)})"
        )
    if "input" not in columns.values():
        raise ConfigError(
            f"{path}: the manifest needs an input column (input, path or file: the data file)"
        )
    return columns


def _row(path: Path, number: int, values: dict[str, str]) -> ManifestRow:
    where = f"{path}:{number}"
    label = values.get("label", "") or _default_label(values.get("input", ""))
    if not LABEL_PATTERN.match(label):
        raise ConfigError(
            f"{where}: label '{label}' must start with a letter or digit and use only "
            "letters, digits, '_', '.' and '-' (it names the output files)"
        )
    inputs = []
    for name in _split(values.get("input", "")):
        file = Path(name) if Path(name).is_absolute() else path.parent / name
        if not file.is_file():
            raise ConfigError(f"{where}: input file {file} not found")
        inputs.append(str(file.resolve()))
    if not inputs:
        raise ConfigError(f"{where}: no input file")
    settings: dict[str, Any] = {}
    for name, text in values.items():
        if not text or name in ("label", "input"):
            continue
        if name == "options":
            settings[name] = _options(text, where)
        elif name in INT_COLUMNS:
            settings[name] = _number(where, name, text, int)
        elif name in FLOAT_COLUMNS:
            settings[name] = _number(where, name, text, float)
        elif name == "session_times":
            settings[name] = [_number(where, name, v, float) for v in _split(text)]
        elif name in LIST_COLUMNS:
            settings[name] = _split(text)
        else:
            settings[name] = text
    return ManifestRow(label, inputs, settings, number)


def _default_label(inputs: str) -> str:
    """Label of a row without one: its (first) input file's name without suffix."""
    names = _split(inputs)
    return Path(names[0]).stem if names else ""


def _options(text: str, where: str) -> dict[str, Any]:
    """Read ``KEY=VALUE`` pairs (space- or ';'-separated), or one JSON object."""
    if text.startswith("{"):
        try:
            options = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{where}: options are not a JSON object ({err.msg})") from None
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: options must be a JSON object or KEY=VALUE pairs")
        return {str(k).replace("-", "_"): v for k, v in options.items()}
    return parse_option_pairs(_split(text, spaces=True), f"{where}: options")


def _split(text: str, spaces: bool = False) -> list[str]:
    pattern = r"[;\s]+" if spaces else r";"
    return [part.strip() for part in re.split(pattern, text) if part.strip()]


def _number(where: str, name: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(
            f"{where}: {name} must be {'an integer' if kind is int else 'a number'}, got '{text}'"
        ) from None
