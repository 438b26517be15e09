"""The pooled LOO baseline matches the by-condition model; animals vary every parameter."""

from __future__ import annotations

import numpy as np
import pytest

from spinefit import dims
from spinefit.models.drift_diffusion_conditions import (
    LATENT_ANIMAL_PARAMS,
    MOMENTS_ANIMAL_PARAMS,
    POOLED_LABEL,
    ConditionalDriftDiffusion,
    pooled_data,
    pooled_model,
)
from spinefit.simulate.genotypes import simulate_wt_ko

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def wt_ko():
    data, _ = simulate_wt_ko(n_animals_per_genotype=2, n_sites_per_animal=20, random_seed=3)
    # Animal ids that repeat across conditions, as many labs write them.
    animals = np.char.replace(data[dims.ANIMAL_ID].values.astype(str), "wt", "m")
    return data.assign_coords({dims.ANIMAL_ID: (dims.SPINE, np.char.replace(animals, "ko", "m"))})


def _structure(model) -> dict[str, tuple]:
    """Every variable's distribution and dims, with the condition dim's length left out."""
    out = {}
    for var in [*model.free_RVs, *model.observed_RVs]:
        var_dims = model.named_vars_to_dims.get(var.name, ())
        lengths = tuple(
            None if d == dims.CONDITION else int(model.dim_lengths[d].eval()) for d in var_dims
        )
        out[var.name] = (type(var.owner.op).__name__, var_dims, lengths)
    out["potentials"] = tuple(sorted(p.name for p in model.potentials))
    return out


@pytest.mark.parametrize("likelihood", ["moments", "latent"])
def test_pooled_model_has_the_same_graph_structure(wt_ko, likelihood):
    config = {"likelihood": likelihood, "grid_points": 24, "turnover_counts": "overdispersed"}
    by_condition = ConditionalDriftDiffusion(config)
    data = by_condition.prepare(wt_ko)
    full = by_condition.build(data)
    baseline = pooled_model(by_condition, data)
    merged = pooled_data(data, by_condition.config["by"])
    pooled = baseline.build(merged)

    assert list(pooled.coords[dims.CONDITION]) == [POOLED_LABEL]
    assert len(full.coords[dims.CONDITION]) == 2
    # Same animals (2 per genotype, "m1" in WT and KO kept apart) and the same structure.
    assert len(pooled.coords[dims.ANIMAL]) == len(full.coords[dims.ANIMAL]) == 4
    assert _structure(pooled) == _structure(full)
    expected = LATENT_ANIMAL_PARAMS if likelihood == "latent" else MOMENTS_ANIMAL_PARAMS
    assert list(full.coords[dims.ANIMAL_PARAM]) == list(expected)
    # Both finite at the initial point.
    for model in (full, pooled):
        logp = model.compile_logp()(model.initial_point())
        assert np.isfinite(logp)


def test_animal_offsets_reach_c_and_turnover(wt_ko):
    """Moving an animal's log c, elimination and formation offsets changes the likelihood."""
    model_spec = ConditionalDriftDiffusion({"likelihood": "moments"})
    model = model_spec.build(model_spec.prepare(wt_ko))
    logp = model.compile_logp()
    point = model.initial_point()
    base = logp(point)
    names = list(model.coords[dims.ANIMAL_PARAM])
    for param in ("log_c", "log_elimination", "log_formation"):
        moved = dict(point)
        z = np.zeros((len(model.coords[dims.ANIMAL]), len(names)))
        z[0, names.index(param)] = 2.0
        moved["animal_z"] = z
        assert logp(moved) != pytest.approx(base), param


def test_single_animal_per_condition_is_not_pooled(wt_ko):
    one = wt_ko.isel({dims.SPINE: np.char.endswith(wt_ko[dims.ANIMAL_ID].values.astype(str), "1")})
    spec = ConditionalDriftDiffusion({"likelihood": "moments"})
    data = spec.prepare(one)
    assert not spec.pools_animals(data, data[dims.CONDITION_LABEL].values.astype(str))
    baseline = pooled_model(spec, data)
    assert baseline.config["pool_animals"] is False
    assert dims.ANIMAL not in baseline.build(pooled_data(data, "condition")).coords
