"""ARCHITECTURE.md's "Adding a model" recipe works: a toy model in one file plus one report
file runs through fit, summary, compare and report without touching spinefit's code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spinefit import models
from spinefit.compare import compare
from spinefit.report import registry
from spinefit.report.html import write_report
from spinefit.results import load_result
from spinefit.sampling.settings import SamplerSettings
from spinefit.summary import summarize
from spinefit.workflow import fit_file

REPO = Path(__file__).resolve().parents[1]
PLAIN = dict(
    robust_starts=False, max_restarts=0, ess_target=0, retry_target_accept=0, progressbar=False
)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    monkeypatch.setitem(models.REGISTRY, "toy-normal", "toy_model:ToyNormal")
    monkeypatch.setitem(registry.SECTIONS, "toy-normal", "toy_report:toy_sections")
    return "toy-normal"


def test_register_model_refuses_to_rebind_a_name():
    with pytest.raises(models.ConfigError, match="already registered"):
        models.register_model("mixture", "elsewhere:Mixture")
    with pytest.raises(models.ConfigError, match="module:Class"):
        models.register_model("x", "no_colon")


def test_toy_model_runs_through_fit_summary_compare_and_report(toy, tmp_path):
    out = tmp_path / "toy.nc"
    settings = SamplerSettings(draws=200, tune=200, chains=2, random_seed=4, **PLAIN)
    fit_file(REPO / "data" / "wt_ko_timeseries.csv", toy, out, settings=settings)
    tree = load_result(out)
    # The data have a condition column: the toy is fitted per condition by the registry's
    # wrapper, which reads the toy's reported quantities and likelihood units.
    assert tree.attrs["spinefit_model"] == models.PER_CONDITION_MODEL
    assert list(tree["posterior"]["condition"].values) == ["KO", "WT"]

    body = summarize(tree)
    json.dumps(body)
    assert {"mu[WT]", "s[KO]"} <= set(body["parameters"])

    result = compare(tree, grid=[0.2, 0.5, 1.0])
    assert result["reference"] == "WT"
    assert set(result["contrasts"]) == {"mu", "s"}
    density = result["curves"]["log_size_density"]["KO"]
    assert len(density["hdi_low"]) == 3
    assert np.isfinite(result["loo"]["elpd_diff"])

    page = tmp_path / "toy.html"
    write_report([tree], page)
    text = page.read_text()
    assert "posterior mean of mu" in text  # the toy's own section, once per condition
    assert text.count("posterior mean of mu") == 2
