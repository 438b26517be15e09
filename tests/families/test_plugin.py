"""A family defined in this file alone runs through fit, summary, compare and report."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest

from spinefit.families import family_names, register_family
from spinefit.families.base import FamilyParameter, PriorScales, SDEFamily


class Quadratic(SDEFamily):
    """μ = a + b x + e x², σ² = c + d x² (a toy family; e in size units per day)."""

    name: ClassVar[str] = "test-quadratic"
    equation: ClassVar[str] = r"dw = (a + b\,w + e\,w^2/s)\,dt + \sqrt{c + d\,w^{2}}\,dB"
    prior_text: ClassVar[str] = "e ~ Normal(0, 0.1/T)"
    extra_parameters: ClassVar[tuple[FamilyParameter, ...]] = (FamilyParameter("e", 0, True, "e"),)

    def extra_priors(self, scales: PriorScales, dim: str | None = None) -> dict[str, Any]:
        import pymc as pm

        return {"e": pm.Normal("e", 0.0, 0.1 / scales.interval, dims=dim)}

    def drift(self, x, p, xp=np):
        return p["a"] + p["b"] * x + p["e"] * x**2

    def variance(self, x, p, xp=np):
        return p["c"] + p["d"] * x**2


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_family(Quadratic)
    yield
    from spinefit import families

    families._REGISTRY.pop(Quadratic.name, None)


def test_a_registered_family_is_listed():
    assert "test-quadratic" in family_names()


@pytest.mark.slow
def test_a_new_family_plugs_into_fit_summary_compare_and_report(tmp_path):
    from spinefit.compare import compare
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.report.html import write_report
    from spinefit.simulate.genotypes import simulate_wt_ko
    from spinefit.simulate.synthetic import simulate_time_series

    settings = SamplerSettings(draws=100, tune=150, chains=2, random_seed=2, progressbar=False)
    data, _ = simulate_time_series(n_spines=40, random_seed=3)
    single = DriftDiffusion({"family": "test-quadratic", "likelihood": "moments"})
    tree = single.fit(data, settings)
    assert tree["posterior"]["e"].attrs["units"] == "1/day"
    summary = single.summarize(tree)
    assert summary["family"] == "test-quadratic" and "e" in summary["parameters"]
    assert isinstance(summary["fixed_points"], list)
    assert "alpha" in summary["tail"]
    json.dumps(summary)

    pair, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=12, random_seed=4)
    conditions = ConditionalDriftDiffusion(
        {"family": "test-quadratic", "likelihood": "moments", "loo": False}
    )
    by_condition = conditions.fit(pair, settings)
    assert by_condition["posterior"]["e"].dims[-1] == "condition"
    result = compare(by_condition)
    assert set(result["curves"]) == {"drift", "diffusion", "stationary"}

    out = write_report([tree, by_condition], tmp_path / "report.html")
    assert "test-quadratic" in json.loads(tree.attrs["spinefit_config"])["family"]
    assert out.exists() and out.stat().st_size > 10_000
