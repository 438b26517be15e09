"""The drift–diffusion report's fixed points and tail sentence, on fake posteriors (no MCMC)."""

from __future__ import annotations

import html
import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from spinefit import dims
from spinefit.check.ppc import stationary_check
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.report.drift_diffusion import (
    drift_diffusion_sections,
    fixed_points_html,
    mark_fixed_points,
    tail_html,
)
from spinefit.results.names import DATA_GROUP, PPC_GROUP

pytestmark = pytest.mark.fast

# μ(w) = A + B w, σ²(w) = C + D w²: one stable fixed point at w* = −A/B = 1 and the tail
# exponent α = 1 − 2B/D = 6 (P(W > w) ~ w^−6).
A, B, C, D = 0.5, -0.5, 1e-8, 0.2


def fake_result(rng: np.random.Generator, unbounded: int = 0) -> xr.DataTree:
    """A linear drift–diffusion result (moments likelihood) with draws near (A, B, C, D).

    The first ``unbounded`` draws of chain 0 get b = d, so α = −1: no stationary density.
    """
    sizes = stats.invgamma(1 - 2 * B / D, scale=2 * A / D).rvs(800, random_state=rng)
    volume = sizes.reshape(400, 2)
    volume[rng.random(volume.shape) < 0.1] = np.nan
    volume[np.all(np.isnan(volume), axis=1), 0] = sizes[0]
    data = xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume, {"units": "um3"})},
        coords={
            dims.SPINE: [f"s{i}" for i in range(volume.shape[0])],
            dims.SESSION: [0, 1],
            dims.TIME_DAYS: (dims.SESSION, [0.0, 4.0], {"units": dims.DAY}),
        },
    )
    shape = (2, 100)
    posterior = {
        name: value * (1 + 0.01 * rng.standard_normal(shape))
        for name, value in {"a": A, "b": B, "c": C, "d": D}.items()
    }
    posterior["b"][0, :unbounded] = posterior["d"][0, :unbounded]
    for name in ("elimination_per_day", "formation_per_day"):
        posterior[name] = rng.gamma(50.0, 0.02 / 50.0, shape)
    post = xr.Dataset(
        {k: (dims.SAMPLE_DIMS, v) for k, v in posterior.items()},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(shape[1])},
        attrs={"size_scale": 1.0},
    )
    tree = xr.DataTree.from_dict({"posterior": post, DATA_GROUP: data})
    tree.attrs.update(
        {
            "spinefit_model": "drift-diffusion",
            "spinefit_config": json.dumps({"family": "linear", "likelihood": "moments"}),
            "random_seed": 3,
        }
    )
    return tree


def curve_section(tree: xr.DataTree) -> tuple[str, str]:
    """Return the text of the drift-and-diffusion section and of the PPC section.

    The check is stored in the result first, as ``spinefit check`` does.
    """
    tree[PPC_GROUP] = xr.DataTree(dataset=stationary_check(tree, draws=200, random_seed=3))
    sections = drift_diffusion_sections(DriftDiffusion.from_result(tree), tree)
    by_title = {section.title: section for section in sections}
    ppc = by_title["Posterior predictive check"]
    ppc_text = "".join(sub.body_html for sub in ppc.subsections)
    return html.unescape(by_title["Drift and diffusion"].body_html), html.unescape(ppc_text)


def test_fixed_point_and_tail_of_a_linear_fit_are_reported(rng):
    body, ppc = curve_section(fake_result(rng))
    row = re.search(
        r"<tr><td>([\d.]+)</td><td>([\d.]+)</td><td>([\d.]+)</td>"
        r"<td>(\w+)</td><td>([^<]+)</td></tr>",
        body,
    )
    assert row is not None, body
    w, low, high = (float(row.group(k)) for k in (1, 2, 3))
    assert w == pytest.approx(-A / B, rel=0.03)
    assert low < w < high
    assert row.group(4) == "stable"
    assert row.group(5) == "100%"
    assert "fixed point w* (um3)" in body
    alpha = re.search(
        r"P\(W > w\) ~ w\^\(−α\) with posterior mean α = ([\d.]+) over the draws that have "
        r"such a density \(94% HDI ([\d.]+) to ([\d.]+)\)",
        body,
    )
    assert alpha is not None, body
    assert float(alpha.group(1)) == pytest.approx(1 - 2 * B / D, abs=0.1)
    assert float(alpha.group(2)) < 1 - 2 * B / D < float(alpha.group(3))
    assert "um3 (1000 × the largest observed size)" in body
    assert "Every posterior draw has α > 0" in body
    assert "All 200 draws checked have a stationary size density" in ppc


def test_draws_without_a_stationary_density_are_said_plainly(rng):
    body, ppc = curve_section(fake_result(rng, unbounded=10))
    # 10 of 200 draws have b = d.
    assert "In 5% of the posterior draws α ≤ 0: those draws have no stationary size" in body
    assert "Every posterior draw" not in body
    assert '<p class="warning">' in ppc
    assert "of the 200 draws checked have no stationary size density" in ppc


def test_fixed_points_are_marked_filled_when_stable_and_open_when_not():
    points = [
        {"w": 0.4, "hdi_low": 0.35, "hdi_high": 0.45, "stable": True, "probability": 0.8},
        {"w": 0.9, "hdi_low": 0.7, "hdi_high": 1.1, "stable": False, "probability": 0.8},
    ]
    fig, ax = plt.subplots()
    mark_fixed_points(ax, points, "um3")
    stable, unstable = ax.get_lines()
    assert stable.get_xydata().tolist() == [[0.4, 0.0]]
    assert stable.get_markerfacecolor() == stable.get_markeredgecolor()
    assert unstable.get_markerfacecolor() == "white"
    assert stable.get_label() == "stable w* = 0.4 um3 (P = 80%)"
    assert unstable.get_label().startswith("unstable w* = 0.9 um3")
    bands = [patch.get_x() for patch in ax.patches]
    assert bands == pytest.approx([0.35, 0.7])
    plt.close(fig)
    table = html.unescape(fixed_points_html(points, "um3"))
    assert table.count("<tr><td>") == 2
    assert "<td>unstable</td><td>80%</td>" in table
    assert "no zero in the observed size range" in fixed_points_html([], "um3")


def test_tail_sentence_without_a_readable_exponent_and_a_rare_share():
    tail = {"alpha": {}, "at_size": 5000.0, "share_without_stationary_density": 0.004}
    text = html.unescape(tail_html(tail, "um3"))
    assert "could not be read at w = 5e+03 um3" in text
    assert "In 0.4% of the posterior draws α ≤ 0" in text


def test_report_without_a_stored_check_says_how_to_compute_it(rng):
    tree = fake_result(rng)
    tree.attrs["result_path"] = "fits/demo.nc"
    sections = drift_diffusion_sections(DriftDiffusion.from_result(tree), tree)
    ppc = {section.title: section for section in sections}["Posterior predictive check"]
    assert "spinefit check fits/demo.nc" in html.unescape(ppc.body_html)
    assert not ppc.subsections


def curve_text(model: DriftDiffusion, tree: xr.DataTree) -> str:
    """Return the text of the drift-and-diffusion section (the first)."""
    return html.unescape(drift_diffusion_sections(model, tree)[0].body_html)


def checked_result(rng: np.random.Generator) -> tuple[DriftDiffusion, xr.DataTree]:
    """Return a fake result with its check stored, and its model."""
    tree = fake_result(rng)
    tree[PPC_GROUP] = xr.DataTree(dataset=stationary_check(tree, draws=50, random_seed=3))
    return DriftDiffusion.from_result(tree), tree


def test_spline_fits_carry_the_known_fixed_point_bias(rng):
    model, tree = checked_result(rng)
    assert "Known bias of the spline family" not in curve_text(model, tree)
    model.config["family"] = "spline"  # the text is chosen by the fitted family's name
    spline = curve_text(model, tree)
    assert "Known bias of the spline family" in spline
    assert "0.435 [0.400, 0.470]" in spline


def test_measured_volumes_carry_the_known_bias_of_c(rng):
    model, tree = checked_result(rng)
    assert "Known bias of volumes from spinefit measure" not in curve_text(model, tree)
    data = tree[DATA_GROUP].to_dataset()
    data[dims.VOLUME_SE] = 0.1 * data[dims.VOLUME]  # a table with standard errors
    tree[DATA_GROUP] = xr.DataTree(dataset=data)
    measured = curve_text(model, tree)
    assert "Known bias of volumes from spinefit measure" in measured
    assert "0.99 ± 0.05" in measured and "0.88 ± 0.07" in measured
    assert "This fit used no detection limit." in measured
    model.config["detection_limit"] = 0.25
    assert "This fit used the detection limit θ_d = 0.25 " in curve_text(model, tree)
