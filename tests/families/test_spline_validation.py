"""Slow validation of the spline family on simulated bistable and linear data (issue 13).

The figures of the runs (with more seeds) are in the issue note; see
``benchmarks/family_validation.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from spinefit.check.families import second_peak


def test_second_peak_detects_two_modes_and_not_one():
    grid = np.geomspace(0.1, 5.0, 200)
    log_w = np.log(grid)
    one = np.exp(-0.5 * (log_w / 0.4) ** 2)
    two = one + 0.8 * np.exp(-0.5 * ((log_w - 1.4) / 0.3) ** 2)
    assert not second_peak(grid, one)
    assert second_peak(grid, two)


@pytest.mark.slow
def test_spline_finds_both_stable_sizes_of_bistable_data():
    from spinefit.check.families import family_case

    record = family_case("bistable", seed=7)
    assert record["stable_recovered"], record["fixed_points"]
    assert record["n_fixed_points"] == 3
    table = record["family_comparison"]
    linear = table["families"]["linear"]
    assert table["best"] == "spline"
    assert linear["elpd_diff"] < -2.0 * linear["se_diff"]
    assert record["ppc_second_peak"]


@pytest.mark.slow
def test_spline_on_linear_data_keeps_one_fixed_point_and_the_line():
    from spinefit.check.families import family_case

    record = family_case("linear", seed=8)
    assert record["drift_coverage"] >= 0.9
    assert record["n_fixed_points"] == 1 and record["stable_recovered"]
    table = record["family_comparison"]
    if table["best"] == "spline":
        linear = table["families"]["linear"]
        assert linear["elpd_diff"] > -linear["se_diff"]
