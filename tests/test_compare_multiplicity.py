"""Multiplicity, ROPEs and simultaneous bands of condition contrasts (no MCMC)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from spinefit import dims
from spinefit.compare import (
    PRIMARY_ATTR,
    compare,
    compare_lines,
    examined_sentence,
    secondary_sentences,
    sentences,
)
from spinefit.comparison.bands import contiguous_ranges, simultaneous_band
from spinefit.comparison.rope import Rope, parse_rope
from spinefit.errors import ConfigError

pytestmark = pytest.mark.fast

NAMES = ("d", "sigma_at_median", "elimination_prob_4d", "a", "b", "c")
BASE = {"d": 0.04, "sigma_at_median": 0.3, "elimination_prob_4d": 0.1, "a": 0.1, "b": -0.1}
BASE["c"] = 0.04


def calibrated_null_tree(rng, n_draws: int = 400, primary=("d", "sigma_at_median")):
    """Posterior of a calibrated fit when nothing differs: each condition's posterior is
    centred on truth + its own estimation error (SD 10% of the value), so a 94% interval
    of a difference excludes 0 in about 6% of datasets."""
    posterior = {}
    for name in NAMES:
        value, sd = BASE[name], 0.1 * abs(BASE[name])
        centres = value + sd * rng.standard_normal(2)
        draws = centres + sd * rng.standard_normal((1, n_draws, 2))
        posterior[name] = ((dims.CHAIN, dims.DRAW, dims.CONDITION), draws)
    ds = xr.Dataset(
        posterior,
        coords={dims.CHAIN: [0], dims.DRAW: np.arange(n_draws), dims.CONDITION: ["KO", "WT"]},
        attrs={"reference_condition": "WT", PRIMARY_ATTR: json.dumps(list(primary))},
    )
    return xr.DataTree.from_dict({"posterior": ds})


def test_joint_region_keeps_the_family_wise_rate_near_six_percent():
    """With three correlated-free primaries, "any pointwise HDI excludes 0" happens in
    about 1 − 0.94³ ≈ 17% of null datasets; the joint region brings it back near 6%."""
    rng = np.random.default_rng(11)
    n, any_pointwise, any_joint, per_quantity = 300, 0, 0, []
    primary = ("d", "sigma_at_median", "elimination_prob_4d")
    for _ in range(n):
        result = compare(calibrated_null_tree(rng, primary=primary), grid=None)
        rows = [result["contrasts"][p]["KO"] for p in primary]
        any_pointwise += any(r["direction"] is not None for r in rows)
        any_joint += any(r["finding"] for r in rows)
        per_quantity += [r["direction"] is not None for r in rows]
    assert 0.10 < any_pointwise / n < 0.26, any_pointwise / n
    assert any_joint / n <= 0.10, any_joint / n
    assert 0.03 < np.mean(per_quantity) < 0.10, np.mean(per_quantity)


def test_only_primary_quantities_give_findings(rng):
    tree = calibrated_null_tree(rng, primary=("d",))
    posterior = tree["posterior"].to_dataset()
    posterior["a"] = posterior["a"] + xr.DataArray([0.05, 0.0], dims=dims.CONDITION)
    posterior["d"] = posterior["d"] * xr.DataArray([1.6, 1.0], dims=dims.CONDITION)
    result = compare(xr.DataTree.from_dict({"posterior": posterior}))
    found = sentences(result)
    assert len(found) == 1 and found[0].startswith("σ² multiplicative coefficient d is larger")
    assert "ratio 1.6" in found[0] or "ratio 1.5" in found[0] or "ratio 1.7" in found[0]
    assert result["contrasts"]["a"]["KO"]["role"] == "secondary"
    assert not result["contrasts"]["a"]["KO"]["finding"]
    assert any(s.startswith("drift intercept a is larger") for s in secondary_sentences(result))
    assert result["examined"] == {"primary": 1, "secondary": 5, "curves": 0}
    assert "6 scalar contrasts" in examined_sentence(result)
    assert any("[secondary]" in line for line in compare_lines(result))


def test_ratio_for_positive_quantities_only(rng):
    result = compare(calibrated_null_tree(rng))
    assert result["contrasts"]["d"]["KO"]["positive"]
    assert "ratio_hdi_low" in result["contrasts"]["d"]["KO"]
    assert not result["contrasts"]["b"]["KO"]["positive"]  # b < 0
    assert "ratio_median" not in result["contrasts"]["b"]["KO"]


def test_rope_per_quantity_and_ratio_and_which_applied(rng):
    rope = parse_rope(["a=0.02"], ratio=1.5)
    result = compare(calibrated_null_tree(rng), rope=rope)
    a, d, b = (result["contrasts"][n]["KO"] for n in ("a", "d", "b"))
    assert a["rope"] == {"kind": "difference", "value": 0.02}
    assert d["rope"] == {"kind": "ratio", "value": 1.5}
    assert b["rope"] is None and b["prob_rope"] is None  # not positive, no absolute ROPE
    assert d["prob_rope"] > 0.9  # 10% errors against a ±50% ratio ROPE
    assert result["rope"] == {"absolute": {"a": 0.02}, "ratio": 1.5}
    lines = compare_lines(result)
    assert any(line.startswith("d ") and "P(|log ratio| < log 1.5)=" in line for line in lines)
    assert any(line.startswith("a ") and "P(|difference| < 0.02)=" in line for line in lines)
    json.dumps(result)


@pytest.mark.parametrize(
    ("items", "ratio", "message"),
    [
        (["0.005"], None, "NAME=VALUE"),
        (["d=x"], None, "needs a number"),
        (["d=-1"], None, "positive"),
        (["d=1", "d=2"], None, "twice"),
        ([], 0.9, "above 1"),
    ],
)
def test_bad_rope_is_a_config_error(items, ratio, message):
    with pytest.raises(ConfigError, match=message):
        parse_rope(items, ratio)


def test_one_rope_for_everything_is_refused(rng):
    with pytest.raises(ConfigError, match="mixes units"):
        compare(calibrated_null_tree(rng), rope=0.01)
    assert Rope().for_quantity("d", True) is None


def test_simultaneous_band_covers_whole_curves():
    """Over null curves of 50 correlated points, the simultaneous band holds the whole
    curve about 94% of the time; the pointwise band holds it far less often."""
    rng = np.random.default_rng(5)
    w = np.linspace(0, 1, 50)
    cov = np.exp(-((w[:, None] - w[None, :]) ** 2) / (2 * 0.1**2)) + 1e-9 * np.eye(50)
    chol = np.linalg.cholesky(cov)
    draws = (chol @ rng.standard_normal((50, 4000))).T
    mean, low, high, q = simultaneous_band(draws)
    assert q > 1.9  # wider than the pointwise ±1.88 SD
    fresh = (chol @ rng.standard_normal((50, 2000))).T
    inside = np.all((fresh >= low) & (fresh <= high), axis=1).mean()
    pointwise = np.quantile(draws, [0.03, 0.97], axis=0)
    inside_pointwise = np.all((fresh >= pointwise[0]) & (fresh <= pointwise[1]), axis=1).mean()
    assert 0.92 < inside < 0.96, inside
    assert inside_pointwise < 0.85, inside_pointwise


def test_curve_ranges_keep_two_significant_digits_at_each_end():
    from spinefit.compare import secondary_sentences

    curve = {"w": [0.05, 13.0], "KO": {"ranges": {"larger": [], "smaller": [(0.05, 13.0)]}}}
    result = {"reference": "WT", "contrasts": {}, "curves": {"diffusion": curve}}
    (text,) = secondary_sentences(result)
    assert "for sizes 0.05–13 " in text


def test_contiguous_ranges_are_reported_separately():
    grid = np.arange(10.0)
    mask = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert contiguous_ranges(grid, mask) == [(1.0, 2.0), (5.0, 5.0), (7.0, 9.0)]
    assert contiguous_ranges(grid, np.zeros(10, bool)) == []
