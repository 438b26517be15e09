"""Library functions behind each CLI command: read input, fit, save, summarise, report.

Everything the command line does can be done from Python through these functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, ConvergenceError
from spinefit.families import family_from_config
from spinefit.io import input_kind, read_any
from spinefit.models import PER_CONDITION_MODEL, get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.results import save_result
from spinefit.results.names import CONFIG_ATTR, DATA_GROUP
from spinefit.stats import CONVERGENCE_WARNINGS_ATTR, convergence_problems, sampler_diagnostics


@dataclass(frozen=True)
class InputOptions:
    """How to read an input file (see :func:`spinefit.io.read_any`).

    An option that does not apply to the file's kind or layout raises
    :class:`~spinefit.errors.ConfigError` when it is set (not None or False).

    Parameters
    ----------
    interval_days : float, optional
        Days between sessions (wide matrices, or long tables with a ``session`` column).
    session_times : list of float, optional
        Session times in days for wide matrices with irregular sessions.
    dendrite_map : Path, optional
        Per-spine dendrite index (``.npy``) for wide matrices.
    volume_units : str, optional
        Units of the volume values (default: from the file, else ``a.u.``).
    drop_bad_rows : bool
        Drop (and report) rows with non-numeric/negative volumes instead of failing.
    spine_col, time_col, volume_col : str, optional
        Column mapping of time-series long tables (matched ignoring case); a time column
        of dates becomes days since the first date.
    size_col, pre_col, post_col : str, optional
        Column mapping of ssEM tables (matched ignoring case).
    keep_self_connections : bool
        Keep ssEM synapses whose pre- and postsynaptic cell are the same.
    label_columns : list of str, optional
        Extra per-spine / per-synapse label columns to keep (e.g. a ``--by`` column).
    """

    interval_days: float | None = None
    session_times: list[float] | None = None
    dendrite_map: Path | None = None
    volume_units: str | None = None
    drop_bad_rows: bool = False
    spine_col: str | None = None
    time_col: str | None = None
    volume_col: str | None = None
    size_col: str | None = None
    pre_col: str | None = None
    post_col: str | None = None
    keep_self_connections: bool = False
    label_columns: list[str] | None = None

    def reader_options(self) -> dict[str, Any]:
        """Return the options as keyword arguments of :func:`spinefit.io.read_any`."""
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "size_col"}
        options["size_cols"] = [self.size_col] if self.size_col else None
        return options


def load_input(
    path: str | Path, kind: str | None = None, options: InputOptions | None = None
) -> xr.Dataset:
    """Read an input file into a labelled Dataset.

    Parameters
    ----------
    path : str or Path
        The input table or matrix.
    kind : {"time_series", "snapshot"}, optional
        Which reader to use; by default decided from the file's header
        (:func:`spinefit.io.input_kind`).
    options : InputOptions, optional
        Reader options.

    Returns
    -------
    xarray.Dataset
        As returned by :func:`spinefit.io.read_any`.
    """
    return read_any(path, kind, **(options or InputOptions()).reader_options())


NO_GROUPING = "none"
"""``--by`` value that fits one model to all data even when it has a condition column."""


def _labels_kept(kind: str) -> tuple[str, ...]:
    """Return the label columns the reader of `kind` keeps without being asked."""
    if kind == dims.KIND_SNAPSHOT:
        return (dims.CONDITION_LABEL,)
    from spinefit.io.two_photon import LABEL_COLUMNS

    return LABEL_COLUMNS


def condition_grouping(data: xr.Dataset, by: str | None) -> str | None:
    """Return the label to split conditions by, or None for one pooled fit.

    ``by=None`` uses the ``condition`` column when it has two or more labels;
    ``by="none"`` never splits.
    """
    if by == NO_GROUPING:
        return None
    if by is not None:
        return by
    label = dims.CONDITION_LABEL
    if label in data.coords and data[label].dims == (dims.unit_dim(data),):
        values = {str(v) for v in data[label].values} - {""}
        if len(values) >= 2:
            return label
    return None


def condition_model(model_name: str, config: dict[str, Any], by: str) -> tuple[str, dict[str, Any]]:
    """Return the model name and config that fit ``model_name`` by condition ``by``.

    Models with a hierarchical condition version (their class's ``condition_version``,
    e.g. drift–diffusion) use it, with animals nested in condition; models that already fit
    conditions get the label; the others are fitted once per condition
    (:class:`~spinefit.models.by_condition.ByCondition`).

    Raises
    ------
    ConfigError
        If an option of the model has no equivalent in its condition version.
    """
    base = get_model_class(model_name)
    if base.condition_version is not None:
        target = get_model_class(base.condition_version)
        if "family" in target.default_config and set(config) - set(target.default_config):
            # The family's own options (-o n_basis=K) travel in family_options.
            config, _ = family_from_config(config)
        unsupported = sorted(set(config) - set(target.default_config))
        if unsupported:
            raise ConfigError(
                f"option(s) {', '.join(unsupported)} of {model_name} are not available when "
                f"fitting by condition; use --by {NO_GROUPING} to fit all data together"
            )
        return target.name, dict(config) | {"by": by}
    if base.fits_conditions:
        return model_name, dict(config) | ({"by": by} if "by" not in config else {})
    return PER_CONDITION_MODEL, {"model": model_name, "model_config": dict(config), "by": by}


def load_inputs(
    paths: list[Path],
    kind: str,
    options: InputOptions,
    labels: list[str] | None,
    by: str | None,
) -> tuple[xr.Dataset, str | None]:
    """Read one input, or several labelled inputs combined on a condition label.

    Returns
    -------
    data : xarray.Dataset
        The (combined) data.
    by : str or None
        The condition label to split by (the combining label for several files).
    """
    if len(paths) == 1 and not labels:
        return load_input(paths[0], kind, options), by
    if labels is None or len(labels) != len(paths):
        raise ConfigError(
            f"{len(paths)} input files need one --label each (got {len(labels or [])})"
        )
    from spinefit.io.combine import combine_labelled

    by = dims.CONDITION_LABEL if by in (None, NO_GROUPING) else by
    datasets = [load_input(path, kind, options) for path in paths]
    return combine_labelled(datasets, labels, by=by), by


def fit_file(
    input_path: str | Path | list[str | Path],
    model_name: str,
    out: str | Path,
    *,
    config: dict[str, Any] | None = None,
    settings: SamplerSettings | None = None,
    input_options: InputOptions | None = None,
    command_line: str | None = None,
    strict: bool = False,
    by: str | None = None,
    labels: list[str] | None = None,
) -> xr.DataTree:
    """Read the input, fit ``model_name`` and save the result to ``out`` atomically.

    Parameters
    ----------
    input_path : str or Path, or list of them
        Input table or matrix; several files need ``labels``.
    model_name : str
        Registered model name (see :data:`spinefit.models.REGISTRY`).
    out : str or Path
        Destination netCDF file.
    config : dict, optional
        Model options.
    settings : SamplerSettings, optional
        Draws, tune, chains, seed and sampler.
    input_options : InputOptions, optional
        Reader options.
    command_line : str, optional
        Recorded in the result's provenance.
    strict : bool
        Raise :class:`ConvergenceError` (after saving) if the fit did not converge.
    by : str, optional
        Condition label to fit by (see :func:`condition_grouping`); ``"none"`` fits all
        data together even when a ``condition`` column is present.
    labels : list of str, optional
        One condition label per input file.

    Returns
    -------
    xarray.DataTree
        The saved result.
    """
    paths = [Path(p) for p in (input_path if isinstance(input_path, list) else [input_path])]
    out = Path(out)
    if any(out.resolve() == path.resolve() for path in paths):
        raise ConfigError(f"{out}: output would overwrite an input file")
    config = dict(config or {})
    options = input_options or InputOptions()
    base = get_model_class(model_name)
    if len(base.data_kinds) == 1:
        kind = base.data_kinds[0]
    else:
        kind = input_kind(paths[0], **options.reader_options())
    if by not in (None, NO_GROUPING, *_labels_kept(kind)):
        options = replace(options, label_columns=[*(options.label_columns or []), by])
    data, by = load_inputs(paths, kind, options, labels, by)
    grouping = condition_grouping(data, by)
    if grouping is not None:
        model_name, config = condition_model(model_name, config, grouping)
    model = get_model_class(model_name)(config)
    tree = model.fit(data, settings, command_line=command_line)
    # A fit that did not converge must never look like one that did: the warnings travel
    # with the result (report, summary) and the CLI prints them.
    problems = convergence_problems(sampler_diagnostics(tree))
    tree.attrs[CONVERGENCE_WARNINGS_ATTR] = json.dumps(problems + model.result_warnings(tree))
    save_result(tree, out)
    if strict and problems:
        raise ConvergenceError(
            f"fit did not converge ({'; '.join(problems)}); result saved to {out}"
        )
    return tree


def data_choices(tree: xr.DataTree, config: dict[str, Any]) -> list[str]:
    """Return what a fit took from its data rather than from the user's options.

    Today: the detection limit that ``detection_limit="auto"`` (the default) read from the
    data (a long table's ``detection_limit`` column, e.g. from ``spinefit measure``).

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result.
    config : dict
        The options the user gave.

    Returns
    -------
    list of str
        One line per choice, for the CLI to print.
    """
    used = json.loads(tree.attrs.get(CONFIG_ATTR, "{}")).get("detection_limit")
    if used in (None, "none", "auto") or config.get("detection_limit") not in (None, "auto"):
        return []
    units = tree[DATA_GROUP].to_dataset()[dims.VOLUME].attrs.get("units", "")
    return [
        f"detection limit {float(used):.4g} {units} from the data's detection_limit column: "
        "an absent spine may be alive and unseen (-o detection_limit=none reads every "
        "absence as a loss)"
    ]
