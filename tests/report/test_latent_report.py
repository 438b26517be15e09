"""The latent fit's detection, noise and elimination section (on the shared small fit)."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from spinefit import dims
from spinefit.models.drift_diffusion import DriftDiffusion
from spinefit.report.drift_diffusion import latent_body
from spinefit.results import load_result
from spinefit.stats import stats_of


def test_an_interval_closed_at_zero_is_said(small_fit_path):
    """The fit records τ's support; τ drawn piled at 0 gets an HDI from 0 and a sentence,
    a loss rate away from 0 neither."""
    tree = load_result(small_fit_path)
    posterior = tree["posterior"].to_dataset()
    assert posterior["measurement_cv"].attrs[dims.ATTR_SUPPORT_LOW] == 0.0
    assert posterior["loss_per_day"].attrs[dims.ATTR_SUPPORT_LOW] == 0.0
    rng = np.random.default_rng(0)
    shape = posterior["measurement_cv"].shape
    posterior["measurement_cv"].values[:] = np.abs(rng.normal(0.0, 0.05, shape))
    posterior["loss_per_day"].values[:] = rng.normal(0.01, 0.001, shape)
    tree["posterior"] = tree["posterior"].assign(
        measurement_cv=posterior["measurement_cv"], loss_per_day=posterior["loss_per_day"]
    )
    assert stats_of(tree["posterior"]["measurement_cv"], diagnostics=False)["hdi_low"] == 0.0
    model = DriftDiffusion.from_result(tree)
    text = html.unescape(latent_body(model, tree, model.default_grid(tree)))
    closed = re.search(r"The posteriors? of (.*?) do(?:es)? not fall off towards 0", text)
    assert closed is not None, text
    assert "measurement noise τ" in closed.group(1)
    assert "size-independent loss" not in closed.group(1)


def test_the_fits_own_trade_off_of_noise_and_diffusion_is_given(small_fit_path):
    tree = load_result(small_fit_path)
    posterior = tree["posterior"].to_dataset()
    rng = np.random.default_rng(1)
    shape = posterior["measurement_cv"].shape
    ridge = rng.normal(0.0, 1.0, shape)
    tau = 0.1 + 0.02 * ridge + 0.002 * rng.normal(size=shape)
    d = 0.04 - 0.01 * ridge + 0.005 * rng.normal(size=shape)
    tree["posterior"] = tree["posterior"].assign(
        measurement_cv=posterior["measurement_cv"].copy(data=tau), d=posterior["d"].copy(data=d)
    )
    model = DriftDiffusion.from_result(tree)
    text = html.unescape(latent_body(model, tree, model.default_grid(tree)))
    said = re.search(r"posterior correlation of τ and d is ([+−-]\d\.\d\d)", text)
    assert said is not None, text
    want = np.corrcoef(tau.ravel(), d.ravel())[0, 1]
    assert float(said.group(1).replace("−", "-")) == pytest.approx(want, abs=0.006)
    assert want < -0.8
    tree["posterior"] = tree["posterior"].assign(
        measurement_cv=posterior["measurement_cv"].copy(data=np.full(shape, 0.1))
    )
    fixed = html.unescape(latent_body(model, tree, model.default_grid(tree)))
    assert "posterior correlation of τ and d" not in fixed  # τ fixed: nothing to trade
