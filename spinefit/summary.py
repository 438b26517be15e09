"""The JSON/table summary of a fitted result, built from the DataTree alone."""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from spinefit.models import model_of
from spinefit.stats import HDI_PROB, convergence_problems, sampler_diagnostics


def summarize(tree: xr.DataTree, grid: list[float] | None = None) -> dict[str, Any]:
    """Return the full summary of a result as a JSON-ready dict.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted result (from ``fit`` or :func:`spinefit.results.load_result`).
    grid : list of float, optional
        Sizes at which to evaluate curves (default: 50 points over the observed sizes).

    Returns
    -------
    dict
        ``{"model", "parameters", ["curves", ...], "diagnostics", "data", "provenance"}``.
    """
    model = model_of(tree)
    body = model.summarize(tree, grid)
    diagnostics = sampler_diagnostics(tree)
    diagnostics["warnings"] = convergence_problems(diagnostics)
    out: dict[str, Any] = {"model": model.name, "config": model.config}
    out.update(body)
    out["diagnostics"] = diagnostics
    out.setdefault("data", model.data_overview(tree))
    out["provenance"] = {
        key: tree.attrs.get(key)
        for key in ("spinefit_version", "input_hash", "input_source", "random_seed", "created")
    }
    return _finite(out)


def _finite(value: Any) -> Any:
    """Replace NaN/inf by None so the JSON is standard."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return _finite(value.item())
    return value


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Render a summary as aligned text lines for the terminal."""
    lines = [f"model: {summary['model']}"]
    data = summary.get("data", {})
    if data:
        lines.append("data: " + ", ".join(f"{k}={v}" for k, v in data.items()))
    header = f"{'parameter':<24}{'mean':>11}{'sd':>10}{'hdi_low':>11}{'hdi_high':>11}"
    lines += [
        "",
        f"(hdi: {HDI_PROB:.0%} highest-density interval)",
        header + f"{'r_hat':>8}{'ess_bulk':>10}",
    ]

    def row(name: str, s: dict[str, Any]) -> str:
        text = f"{name:<24}" + "".join(
            f"{_fmt(s.get(k)):>11}" if k != "sd" else f"{_fmt(s.get(k)):>10}"
            for k in ("mean", "sd", "hdi_low", "hdi_high")
        )
        if "r_hat" in s:
            text += f"{_fmt(s['r_hat'], 3):>8}{_fmt(s['ess_bulk'], 0):>10}"
        return text

    for name, s in summary.get("parameters", {}).items():
        lines.append(row(name, s))
    for name, s in summary.get("turnover", {}).items():
        if isinstance(s, dict) and "mean" in s:
            lines.append(row(name, s))
    lines += _dynamics_lines(summary)
    diag = summary["diagnostics"]
    lines += [
        "",
        f"divergences={diag['divergences']}  max_r_hat={_fmt(diag['max_r_hat'], 3)}  "
        f"min_ess_bulk={_fmt(diag['min_ess_bulk'], 0)}",
    ]
    lines += [f"WARNING: {w}" for w in diag.get("warnings", [])]
    return lines


def _dynamics_lines(summary: dict[str, Any]) -> list[str]:
    """Return the fixed points, tail exponent and family comparison lines of a summary."""
    lines = []
    units = summary.get("data", {}).get("volume_units", "")
    for point in summary.get("fixed_points", []):
        kind = "stable" if point["stable"] else "unstable"
        lines.append(
            f"fixed point ({kind}): w* = {_fmt(point['w'])} {units} "
            f"[{_fmt(point['hdi_low'])}, {_fmt(point['hdi_high'])}], "
            f"P(exists) = {point['probability']:.2f}"
        )
    tail = summary.get("tail", {})
    if tail.get("alpha"):
        alpha = tail["alpha"]
        lines.append(
            f"tail exponent α = {_fmt(alpha['mean'])} [{_fmt(alpha['hdi_low'])}, "
            f"{_fmt(alpha['hdi_high'])}] (P(W > w) ~ w^-α); draws without a stationary "
            f"density: {tail['share_without_stationary_density']:.1%}"
        )
    table = summary.get("family_comparison")
    if table:
        lines.append(f"family comparison (PSIS-LOO, {table['n']} units; best {table['best']}):")
        for name, row in table["families"].items():
            lines.append(
                f"  {name:<10} elpd_loo={_fmt(row['elpd_loo'])}  "
                f"elpd_diff={_fmt(row['elpd_diff'])} ± {_fmt(row['se_diff'])}  "
                f"max_k={_fmt(row['max_pareto_k'], 3)}"
            )
    return [""] + lines if lines else []


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "nan"
    if digits == 0:
        return f"{value:.0f}"
    if digits == 3:
        return f"{value:.3f}"
    return f"{value:.4g}"
