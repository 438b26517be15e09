"""Library functions behind each CLI command: read input, fit, save, summarise, report.

Everything the command line does can be done from Python through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from spinefit import dims
from spinefit.errors import ConfigError, ConvergenceError
from spinefit.io.results import save_result
from spinefit.models import get_model_class
from spinefit.models.base import SamplerSettings
from spinefit.stats import convergence_problems, sampler_diagnostics


@dataclass(frozen=True)
class InputOptions:
    """How to read an input file; fields that do not apply to its kind are ignored.

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
    size_col, pre_col, post_col : str, optional
        Column mapping of ssEM tables.
    keep_self_connections : bool
        Keep ssEM synapses whose pre- and postsynaptic cell are the same.
    """

    interval_days: float | None = None
    session_times: list[float] | None = None
    dendrite_map: Path | None = None
    volume_units: str | None = None
    drop_bad_rows: bool = False
    size_col: str | None = None
    pre_col: str | None = None
    post_col: str | None = None
    keep_self_connections: bool = False


def sniff_kind(path: Path) -> str:
    """Guess whether ``path`` holds a time series or an ssEM snapshot table."""
    if path.suffix.lower() == ".npy":
        return dims.KIND_TIME_SERIES
    from spinefit.io.tables import read_table

    columns = set(read_table(path).columns)
    if "spine_id" in columns:
        return dims.KIND_TIME_SERIES
    if columns & {"pre_root_id", "pre_id", "pre"}:
        return dims.KIND_SNAPSHOT
    return dims.KIND_TIME_SERIES


def load_input(path: str | Path, kind: str, options: InputOptions | None = None) -> xr.Dataset:
    """Read an input file of the given kind into a labelled Dataset.

    Parameters
    ----------
    path : str or Path
        The input table or matrix.
    kind : {"time_series", "snapshot"}
        Which reader to use.
    options : InputOptions, optional
        Reader options.
    """
    options = options or InputOptions()
    path = Path(path)
    if kind == dims.KIND_SNAPSHOT:
        from spinefit.io.ssem import read_ssem

        return read_ssem(
            path,
            size_cols=[options.size_col] if options.size_col else None,
            pre_col=options.pre_col,
            post_col=options.post_col,
            keep_self_connections=options.keep_self_connections,
        )
    from spinefit.io.two_photon import read_two_photon

    return read_two_photon(
        path,
        interval_days=options.interval_days,
        session_times=options.session_times,
        dendrite_map=options.dendrite_map,
        volume_units=options.volume_units,
        drop_bad_rows=options.drop_bad_rows,
    )


def fit_file(
    input_path: str | Path,
    model_name: str,
    out: str | Path,
    *,
    config: dict[str, Any] | None = None,
    settings: SamplerSettings | None = None,
    input_options: InputOptions | None = None,
    command_line: str | None = None,
    strict: bool = False,
) -> xr.DataTree:
    """Read ``input_path``, fit ``model_name`` and save the result to ``out`` atomically.

    Parameters
    ----------
    input_path : str or Path
        Input table or matrix.
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

    Returns
    -------
    xarray.DataTree
        The saved result.
    """
    input_path = Path(input_path)
    out = Path(out)
    if out.resolve() == input_path.resolve():
        raise ConfigError(f"{out}: output would overwrite the input file")
    model = get_model_class(model_name)(config)
    kind = model.data_kinds[0] if len(model.data_kinds) == 1 else sniff_kind(input_path)
    data = load_input(input_path, kind, input_options)
    tree = model.fit(data, settings, command_line=command_line)
    save_result(tree, out)
    if strict:
        problems = convergence_problems(sampler_diagnostics(tree))
        if problems:
            raise ConvergenceError(
                f"fit did not converge ({'; '.join(problems)}); result saved to {out}"
            )
    return tree
