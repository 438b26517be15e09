"""SDE families: one definition serves numpy, xarray curves, PyTensor graphs and the models."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
import xarray as xr

from spinefit.errors import ConfigError
from spinefit.families import family_from_config, family_names, get_family
from spinefit.families.base import PriorScales
from spinefit.families.spline import SPLINE_BASIS, basis_matrix
from spinefit.models.killed_grid import pytensor_namespace
from spinefit.models.sde_moments import family_moments, linear_moments_numpy

pytestmark = pytest.mark.fast

PARAMS = {"a": 0.1, "b": -0.1, "c": 0.04, "d": 0.04}


def posterior_of(values: dict, n_draws: int = 3) -> xr.Dataset:
    """A fake posterior whose draws all hold ``values`` (vectors get the spline dim)."""
    data = {}
    for name, value in values.items():
        value = np.asarray(value, dtype=float)
        if value.ndim:
            data[name] = (("chain", "draw", SPLINE_BASIS), np.broadcast_to(value, (1, n_draws, 8)))
        else:
            data[name] = (("chain", "draw"), np.full((1, n_draws), float(value)))
    return xr.Dataset(data)


def test_registry_lists_the_families():
    assert {"linear", "power", "spline"} <= set(family_names())
    with pytest.raises(ConfigError, match="unknown drift-diffusion family 'cubic'"):
        get_family("cubic")


def test_linear_and_power_match_their_formulas():
    w = np.geomspace(0.1, 5.0, 20)
    s = 0.7
    linear, power = get_family("linear"), get_family("power")
    mu, var = linear.functions(PARAMS, s)
    np.testing.assert_allclose(s * mu(w / s), 0.1 - 0.1 * w)
    np.testing.assert_allclose(s**2 * var(w / s), 0.04 + 0.04 * w**2)
    params = PARAMS | {"beta": 1.3, "gamma": 1.5}
    mu, var = power.functions(params, s)
    np.testing.assert_allclose(s * mu(w / s), 0.1 - 0.1 * s * (w / s) ** 1.3)
    np.testing.assert_allclose(s**2 * var(w / s), 0.04 + 0.04 * s**2 * (w / s) ** 1.5)


def test_spline_with_zero_coefficients_is_the_line():
    w = np.geomspace(0.05, 20.0, 40)
    spline = get_family("spline", {"log_range": [-1.5, 1.5], "spline_variance": True})
    mu, var = spline.functions(
        PARAMS | {"spline_drift": np.zeros(8), "spline_variance": np.zeros(8)}, 1.0
    )
    np.testing.assert_allclose(mu(w), 0.1 - 0.1 * w)
    np.testing.assert_allclose(var(w), 0.04 + 0.04 * w**2)


def test_spline_basis_is_a_partition_of_unity_inside_its_range_and_zero_outside():
    x = np.geomspace(np.exp(-1.0), np.exp(1.0), 25)
    basis = basis_matrix(x, [-1.0, 1.0])
    np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-12)
    far = basis_matrix(np.array([np.exp(-4.0), np.exp(4.0)]), [-1.0, 1.0])
    assert np.all(far == 0.0)


def test_curves_are_equivariant_under_a_change_of_units():
    grid = np.geomspace(0.2, 4.0, 15)
    coefficients = np.sin(np.arange(8.0)) * 0.05
    spline = get_family("spline", {"log_range": [-1.0, 1.0]})
    s = 0.8
    values = PARAMS | {"spline_drift": coefficients * s}
    small = spline.curves(posterior_of(values), grid, s)
    k = 1e4
    scaled = {"a": values["a"] * k, "b": -0.1, "c": values["c"] * k**2, "d": 0.04}
    big = spline.curves(
        posterior_of(scaled | {"spline_drift": coefficients * s * k}), grid * k, s * k
    )
    np.testing.assert_allclose(big["drift"].values, k * small["drift"].values, rtol=1e-10)
    np.testing.assert_allclose(big["variance"].values, k**2 * small["variance"].values, rtol=1e-10)


def test_pytensor_and_numpy_give_the_same_spline():
    spline = get_family("spline", {"log_range": [-1.0, 1.0], "spline_variance": True})
    coefficients = np.linspace(-0.05, 0.08, 8)
    params = {"a": 0.1, "b": -0.1, "c": 0.04, "d": 0.04}
    params |= {"spline_drift": coefficients, "spline_variance": coefficients}
    x = np.geomspace(0.2, 3.0, 11)
    expected = spline.drift(x, params), spline.variance(x, params)
    xp = pytensor_namespace()
    symbolic = {k: pt.as_tensor_variable(np.asarray(v)) for k, v in params.items()}
    got = spline.drift(pt.as_tensor_variable(x), symbolic, xp).eval()
    np.testing.assert_allclose(got, expected[0])
    got = spline.variance(pt.as_tensor_variable(x), symbolic, xp).eval()
    np.testing.assert_allclose(got, expected[1])


def test_family_moments_are_exact_for_the_linear_family():
    linear = get_family("linear")
    s = 2.0
    w0 = np.linspace(0.3, 4.0, 9)
    dt = np.full(9, 3.0)
    mu, var = linear.functions(PARAMS, s, pytensor_namespace())
    mean, variance = family_moments(mu, var, w0, dt, s, n_steps=32)
    expected = linear_moments_numpy(*PARAMS.values(), w0, 3.0)
    np.testing.assert_allclose(mean.eval(), expected[0], rtol=1e-6)
    np.testing.assert_allclose(variance.eval(), expected[1], rtol=1e-5)


def test_config_gathers_family_options_and_rejects_bad_ones():
    config, family = family_from_config({"family": "spline", "n_basis": 6, "noise": "additive"})
    assert config == {
        "family": "spline",
        "family_options": {"n_basis": 6, "spline_variance": False, "log_range": None},
        "noise": "additive",
    }
    assert family.settings["n_basis"] == 6
    with pytest.raises(ConfigError, match="n_basis must be an integer from 4 to 40"):
        family_from_config({"family": "spline", "n_basis": 2})
    with pytest.raises(ConfigError, match="has no option"):
        family_from_config({"family": "linear", "family_options": {"n_basis": 6}})


def test_prior_scales_are_unit_free():
    rng = np.random.default_rng(3)
    x0 = rng.lognormal(0.0, 0.5, 50)
    x1 = x0 * rng.lognormal(0.0, 0.1, 50)
    dt = np.full(50, 2.0)
    a = PriorScales.from_transitions(1.0, x0, x1, dt)
    b = PriorScales.from_transitions(1e4, x0, x1, dt)
    assert (a.interval, a.rate_var, a.log_low, a.log_high) == (
        b.interval,
        b.rate_var,
        b.log_low,
        b.log_high,
    )


def test_family_comparison_table_and_its_report():
    from types import SimpleNamespace

    from spinefit.models.family_comparison import comparison_table
    from spinefit.report.drift_diffusion import family_comparison_html

    rng = np.random.default_rng(5)
    base = rng.normal(-1.0, 0.3, 200)

    def loo(elpd_i):
        return SimpleNamespace(
            elpd=elpd_i.sum(), se=1.0, p=4.0, elpd_i=elpd_i, pareto_k=np.full(200, 0.2)
        )

    table = comparison_table({"linear": loo(base - 0.05), "spline": loo(base)})
    assert table["best"] == "spline" and table["n"] == 200
    assert table["families"]["spline"]["elpd_diff"] == 0.0
    assert table["families"]["linear"]["elpd_diff"] == pytest.approx(-10.0)
    assert table["families"]["linear"]["se_diff"] == pytest.approx(0.0, abs=1e-9)
    html = family_comparison_html(table)
    assert "spline (best)" in html and html.index("spline (best)") < html.index("linear")
