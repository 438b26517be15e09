"""Condition contrasts: fake posteriors (no MCMC), a smoke fit, and slow validation fits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from spinefit import dims
from spinefit.compare import compare, secondary_sentences, sentences
from spinefit.errors import ConfigError
from spinefit.stats import sampler_diagnostics

LABELS = ["KO", "WT"]


def fake_tree(rng: np.random.Generator, shift: dict[str, float], sd: float = 0.005) -> xr.DataTree:
    """Seeded posterior with a, b, c, d, turnover per condition; KO = WT + shift."""
    n_chain, n_draw = 2, 500
    base = {
        "a": 0.1,
        "b": -0.1,
        "c": 0.04,
        "d": 0.04,
        "elimination_per_day": 0.03,
        "formation_per_day": 0.03,
    }
    posterior = {}
    for name, value in base.items():
        draws = value + sd * rng.standard_normal((n_chain, n_draw, 2))
        draws[..., 0] += shift.get(name, 0.0)  # KO is first in sorted order
        posterior[name] = ((dims.CHAIN, dims.DRAW, dims.CONDITION), draws)
    posterior["tau_condition"] = (
        (dims.CHAIN, dims.DRAW, "condition_param"),
        np.abs(rng.standard_normal((n_chain, n_draw, 4))),
    )
    ds = xr.Dataset(
        posterior,
        coords={
            dims.CHAIN: np.arange(n_chain),
            dims.DRAW: np.arange(n_draw),
            dims.CONDITION: LABELS,
            "condition_param": ["a", "b", "log_c", "log_d"],
        },
        attrs={"reference_condition": "WT"},
    )
    volume = xr.Dataset({dims.VOLUME: ((dims.SPINE, dims.SESSION), rng.uniform(0.2, 2.0, (10, 3)))})
    tree = xr.DataTree.from_dict({"posterior": ds, "data": volume})
    tree.attrs["spinefit_model"] = "drift-diffusion-conditions"
    tree.attrs["spinefit_config"] = json.dumps({"family": "linear"})
    return tree


def test_known_difference_is_found(rng):
    tree = fake_tree(rng, {"d": 0.03})
    result = compare(tree, rope={"a": 0.01, "d": 0.01})
    assert result["reference"] == "WT"
    assert set(result["contrasts"]) == {
        "a",
        "b",
        "c",
        "d",
        "elimination_per_day",
        "formation_per_day",
    }  # tau_condition has no single condition dim
    d = result["contrasts"]["d"]["KO"]
    assert d["diff_mean"] == pytest.approx(0.03, abs=0.002)
    assert d["hdi_low"] > 0.015 and d["hdi_high"] < 0.045
    assert d["prob_positive"] > 0.999
    assert d["prob_rope"] < 0.01
    a = result["contrasts"]["a"]["KO"]
    assert a["hdi_low"] < 0 < a["hdi_high"]
    assert a["prob_rope"] > 0.7  # difference SD ≈ 0.007 against a ROPE of ±0.01
    json.dumps(result)  # JSON-ready


def test_sentences_only_for_hdis_excluding_zero(rng):
    result = compare(fake_tree(rng, {"d": 0.03, "formation_per_day": -0.04}), grid=[0.5, 1.0])
    text = sentences(result)
    # Without declared primaries every contrasted scalar is primary, judged jointly.
    assert len(text) == 2
    assert text[0].startswith(
        "σ² multiplicative coefficient d is larger in KO than WT (ratio 1.8, 94% HDI"
    )
    assert "P>0 = 1.000" in text[0]
    # formation_per_day goes negative in KO, so it is contrasted as a difference.
    assert text[1].startswith("formation rate is smaller in KO than WT (difference -0.040")
    assert "P<0 = 1.000" in text[1]
    curves = secondary_sentences(result)
    assert any(s.startswith("diffusion σ(w) is larger in KO than WT for sizes") for s in curves)
    assert not any(s.startswith("drift") for s in curves)


def test_curves_on_grid_and_reference_switch(rng):
    tree = fake_tree(rng, {"d": 0.03})
    result = compare(tree, reference="KO", grid=[0.5, 1.0, 2.0])
    diffusion = result["curves"]["diffusion"]
    assert diffusion["w"] == [0.5, 1.0, 2.0]
    assert set(diffusion) == {"w", "WT"}
    expected = np.sqrt(0.04 + 0.04 * 4.0) - np.sqrt(0.04 + 0.07 * 4.0)
    assert diffusion["WT"]["diff_mean"][2] == pytest.approx(expected, abs=0.005)
    assert result["contrasts"]["d"]["WT"]["prob_positive"] < 0.001
    assert result["loo"] is None


def test_default_grid_from_data(rng):
    result = compare(fake_tree(rng, {}))
    assert len(result["curves"]["drift"]["w"]) == 50


def test_unknown_reference_lists_labels(rng):
    with pytest.raises(ConfigError, match=r"unknown reference condition 'HET'; labels: KO, WT"):
        compare(fake_tree(rng, {}), reference="HET")


def test_result_without_condition_dim(rng):
    tree = fake_tree(rng, {})
    single = tree["posterior"].to_dataset().isel({dims.CONDITION: 0}, drop=True)
    tree = xr.DataTree.from_dict({"posterior": single})
    tree.attrs["spinefit_model"] = "drift-diffusion"
    with pytest.raises(ConfigError, match="no 'condition' dim"):
        compare(tree)


def test_report_sections_render(rng):
    from spinefit.compare import compare_with_draws
    from spinefit.report.compare import compare_sections

    tree = fake_tree(rng, {"d": 0.03})
    result, draws = compare_with_draws(tree)
    result["loo"] = {
        "pooled": -10.0,
        "by_condition": -5.0,
        "elpd_diff": 5.0,
        "se": 1.0,
        "se_pooled": 3.0,
        "se_by_condition": 3.0,
    }
    sections = compare_sections(tree, result, draws)
    titles = [s.title for s in sections]
    assert titles == [
        "Drift and diffusion by condition",
        "Contrasts between conditions",
        "Findings",
        "Secondary differences (exploratory)",
        "Pooled vs by-condition model (LOO)",
    ]
    assert "<svg" in sections[1].body_html
    assert "larger in KO than WT" in sections[2].body_html
    assert "scalar contrasts and 3 curve contrasts were examined" in sections[2].body_html
    assert "simultaneous 94% band" in sections[3].body_html


def test_simulated_wt_ko_labels():
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, truth = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=10, random_seed=1)
    assert sorted(set(data[dims.CONDITION_LABEL].values)) == ["KO", "WT"]
    assert sorted(set(data[dims.ANIMAL_ID].values)) == ["ko1", "ko2", "wt1", "wt2"]
    assert truth["differences"]["d"] == pytest.approx(0.04 * 0.6)
    assert truth["differences"]["a"] == 0.0


# -- smoke fit ---------------------------------------------------------------------------------


def test_conditional_fit_smoke():
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=15, random_seed=4)
    model = ConditionalDriftDiffusion({"pool_animals": False, "loo": True})
    tree = model.fit(
        data,
        SamplerSettings(
            draws=100, tune=150, chains=2, random_seed=2, progressbar=False, ess_target=0
        ),
    )
    loo = compare(tree)["loo"]
    assert set(loo) >= {"pooled", "by_condition", "elpd_diff", "se", "max_pareto_k"}
    # The record says what "pooled" means: the same model with one condition.
    assert loo["pooled_model"].startswith("the same model with one condition")
    assert loo["loo_unit"] == "spine"
    assert abs(loo["elpd_diff"] - (loo["by_condition"] - loo["pooled"])) < 1e-6
    assert "log_likelihood" not in tree.children  # dropped after use
    posterior = tree["posterior"]
    for name in ("a", "b", "c", "d", "elimination_per_day", "formation_per_day"):
        assert posterior[name].dims == (dims.CHAIN, dims.DRAW, dims.CONDITION)
    assert list(posterior[dims.CONDITION].values) == ["KO", "WT"]
    # Units come from the family and the turnover rates, not from a table in the report.
    units = tree["data"][dims.VOLUME].attrs.get("units", dims.DEFAULT_VOLUME_UNITS)
    assert posterior["c"].attrs["units"] == f"{units}²/day"
    assert posterior["elimination_per_day"].attrs["units"] == "1/day"
    summary = model.summarize(tree)
    assert "d[KO]" in summary["parameters"] and "formation_per_day[WT]" in summary["parameters"]
    assert set(summary["curves"]["diffusion"]) == {"KO", "WT", "units"}
    result = compare(tree)
    assert result["reference"] == "WT"  # the WT/control-like label when none is configured
    assert set(result["contrasts"]["d"]) == {"KO"}
    assert set(result["curves"]) == {"drift", "diffusion", "stationary"}
    assert {"diff_mean", "hdi_low", "hdi_high", "prob_positive", "prob_rope", "rope"} <= set(
        result["contrasts"]["d"]["KO"]
    )
    # The derived quantities scientists read are contrasted too; three are primary.
    for name in ("sigma_at_median", "mu_at_median", "elimination_prob_4d"):
        assert name in result["contrasts"], name
    assert result["primary"] == ["d", "sigma_at_median", "elimination_prob_4d"]


def test_default_reference_prefers_wild_type_or_control():
    from spinefit.compare import default_reference

    assert default_reference(["KO", "WT"]) == "WT"
    assert default_reference(["silenced", "Control"]) == "Control"
    assert default_reference(["pv", "pyr"]) == "pyr"
    assert default_reference(["b", "a"]) == "a"


def test_stationary_density_contrast_integrates_to_one(rng):
    from spinefit.families.curves import curve_draws

    tree = fake_tree(rng, {"d": 0.02})
    grid = np.linspace(0.2, 3.0, 60)
    density = curve_draws(tree["posterior"].to_dataset(), grid)["stationary"]
    integral = np.trapezoid(density.values, grid, axis=-1)
    np.testing.assert_allclose(integral, 1.0, rtol=0.02)
    # On a wide range (negative sizes included: with c > 0 the SDE lives on the whole
    # line) the walls hardly matter, so the moments obey the SDE's moment
    # equations: E[w] = -a/b and E[w²] = (2a E[w] + c) / (-2b - d).
    wide = np.linspace(-3.0, 30.0, 3000)
    density = curve_draws(tree["posterior"].to_dataset(), wide)["stationary"]
    mean_density = density.mean(dims.SAMPLE_DIMS).values
    for k, d in ((0, 0.06), (1, 0.04)):  # KO, WT
        m1 = np.trapezoid(wide * mean_density[k], wide)
        m2 = np.trapezoid(wide**2 * mean_density[k], wide)
        np.testing.assert_allclose(m1, 1.0, rtol=0.03)
        np.testing.assert_allclose(m2, (0.2 + 0.04) / (0.2 - d), rtol=0.05)


def test_conditions_imaged_on_different_days_keep_their_transitions():
    from spinefit.io.transitions import count_transitions
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=15, random_seed=4)
    wt = data[dims.CONDITION_LABEL].values == "WT"
    volume = data[dims.VOLUME].values.copy()
    volume[wt, 2] = np.nan  # WT was not imaged in the third session
    data = data.assign({dims.VOLUME: (data[dims.VOLUME].dims, volume)})
    expected = sum(
        count_transitions(data.isel({dims.SPINE: mask, dims.SESSION: sessions}))["transitions"]
        for mask, sessions in ((wt, [0, 1, 3, 4, 5]), (~wt, slice(None)))
    )
    model = ConditionalDriftDiffusion(
        {"loo": False, "pool_animals": False, "likelihood": "moments"}
    )
    pymc_model = model.build(model.prepare(data))
    assert pymc_model.rvs_to_values[pymc_model["w_end"]].data.shape == (expected,)
    assert count_transitions(data)["transitions"] < expected  # unmarked, they were lost


def test_missing_condition_column_is_config_error(small_timeseries):
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion

    data, _ = small_timeseries
    with pytest.raises(ConfigError, match="no per-spine 'genotype' column"):
        ConditionalDriftDiffusion({"by": "genotype"}).build(data)


# -- slow validation -------------------------------------------------------------------------


def _fit_wt_ko(random_seed: int, *, loo: bool = False, **options):
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, truth = simulate_wt_ko(random_seed=random_seed, **options)
    model = ConditionalDriftDiffusion({"reference": "WT", "loo": loo})
    tree = model.fit(
        data,
        SamplerSettings(draws=500, tune=500, chains=2, random_seed=random_seed, progressbar=False),
    )
    return tree, truth


@pytest.mark.slow
def test_recovers_known_difference():
    tree, truth = _fit_wt_ko(7, loo=True)
    result = compare(tree)
    for name in ("a", "b", "c", "d"):
        s = result["contrasts"][name]["KO"]
        true = truth["differences"][name]
        assert s["hdi_low"] <= true <= s["hdi_high"], (name, s, true)
    print(json.dumps(result["contrasts"], indent=1), result["loo"], sentences(result))


@pytest.mark.slow
def test_false_positive_rate_without_difference(tmp_path):
    """50 null datasets (animal variation in c and turnover, overdispersed counts): at most
    10% give any primary finding, and the per-quantity rate is consistent with 6%."""
    from spinefit.check.condition_calibration import run_one, summarise

    records = [run_one(5000 + k) for k in range(50)]
    summary = summarise(records)
    print(json.dumps(summary, indent=1))
    assert summary["any_primary_rate"] <= 0.10, summary
    low, high = summary["pooled_quantity_ci95"]
    assert low <= 0.06 <= high or high < 0.06, summary


@pytest.mark.slow
def test_melander_pyramidal_vs_pv(shared_data):
    from spinefit.io.combine import combine_labelled
    from spinefit.io.two_photon import read_two_photon
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion

    parts = [
        read_two_photon(shared_data("melander2021", f"quantile_4060_{label}.npy"), interval_days=4)
        for label in ("pyr", "pv")
    ]
    data = combine_labelled(parts, ["pyr", "pv"])
    # 8 vs 7 sessions: the union has 8, and the PV spines are marked not imaged at the 8th.
    assert data.sizes[dims.SESSION] == 8 and dims.IMAGED in data.coords
    tree = ConditionalDriftDiffusion({"reference": "pyr"}).fit(
        data, SamplerSettings(draws=500, tune=500, chains=2, random_seed=1, progressbar=False)
    )
    result = compare(tree)
    print(json.dumps(result["contrasts"], indent=1), result["loo"], sentences(result))
    assert set(result["contrasts"]["d"]) == {"pv"}
    assert result["loo"] is not None
    diagnostics = sampler_diagnostics(tree)
    assert diagnostics["divergences"] == 0 and diagnostics["max_r_hat"] < 1.01, diagnostics
    # The pyramidal parameters agree with the single-population fit (issue 2 numbers).
    b_pyr = tree["posterior"]["b"].sel(condition="pyr").values
    assert -0.025 < b_pyr.mean() < -0.010


def test_skipped_loo_is_stated_not_a_crash(rng):
    from spinefit.report.compare import compare_sections

    tree = fake_tree(rng, {})
    from spinefit.compare import compare_with_draws

    result, draws = compare_with_draws(tree, grid=[0.5, 1.0])
    result["loo"] = {"skipped": "some likelihood units span several conditions"}
    loo = compare_sections(tree, result, draws)[-1]
    assert "LOO was not computed for this fit: some likelihood units" in loo.body_html


def test_conditions_take_the_detection_limit():
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion
    from spinefit.simulate.genotypes import simulate_wt_ko

    data, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=15, random_seed=4)
    model = ConditionalDriftDiffusion({"loo": False, "detection_limit": 0.3})
    assert model.config["detection_limit"] == 0.3
    pymc_model = model.build(model.prepare(data))
    point = pymc_model.initial_point()
    assert np.isfinite(pymc_model.compile_logp()(point))
    with pytest.raises(ConfigError, match="detection_limit needs the latent likelihood"):
        ConditionalDriftDiffusion({"detection_limit": 0.3, "likelihood": "moments"})
