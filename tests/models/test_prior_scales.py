"""The prior_scales option: validation, and the models that take it."""

import numpy as np
import pytest

from spinefit.errors import ConfigError
from spinefit.models.mixture import Mixture
from spinefit.models.prior_scales import LOCATION_SCALE_KEYS, check_prior_scales
from spinefit.models.variance_split import VarianceSplit

pytestmark = pytest.mark.fast


def test_json_text_and_dicts_give_floats_and_unset_gives_none():
    assert check_prior_scales('{"mean": -1, "sd": 0.3}', LOCATION_SCALE_KEYS, ("mean",)) == {
        "mean": -1.0,
        "sd": 0.3,
    }
    for unset in (None, "none", "data"):
        assert check_prior_scales(unset, LOCATION_SCALE_KEYS) is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("mean=1", "JSON object with the keys mean, sd"),
        ({"mean": 1.0}, "JSON object with the keys mean, sd"),
        ({"mean": 1.0, "sd": 0.0}, "sd must be a positive number"),
        ({"mean": "x", "sd": 1.0}, "mean must be a number"),
        ({"mean": float("nan"), "sd": 1.0}, "mean must be a number"),
    ],
)
def test_bad_values_are_one_line_config_errors(value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        check_prior_scales(value, LOCATION_SCALE_KEYS, signed=("mean",))


def test_mixture_priors_follow_the_given_mean_and_sd():
    """mu = mean + sd · mu_std: the given scales replace the data's."""
    from spinefit.calibration.simulators import _snapshot

    ids = np.arange(50)
    data = _snapshot(np.random.default_rng(0).normal(-1.0, 0.3, 50), ids, ids + 1000, "test")
    given = {"mean": -2.0, "sd": 0.5}
    model = Mixture({"prior_scales": given, "component_comparison": False}).build(data)
    mu_std = np.array([-0.4, 0.7])
    graph = model.replace_rvs_by_values([model["mu"]])[0]
    value = model.rvs_to_values[model["mu_std"]]  # ordered: first value, log increments
    mu = graph.eval({value: np.array([-0.4, np.log(1.1)])})
    assert mu == pytest.approx(-2.0 + 0.5 * mu_std)


def test_variance_split_takes_prior_scales_for_snapshots_only():
    with pytest.raises(ConfigError, match="shared design"):
        VarianceSplit({"design": "silenced", "prior_scales": {"mean": 0.0, "sd": 1.0}})
