"""The result format's one home: format version, load/save, corrupted files (no MCMC)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from spinefit import dims
from spinefit.cli import app
from spinefit.errors import ConfigError, ResultError
from spinefit.models import model_of
from spinefit.results import (
    FORMAT_VERSION,
    add_group,
    condition_fits,
    default_reference,
    load_result,
    save_result,
)
from spinefit.results.names import FORMAT_ATTR, MODEL_ATTR, PROVENANCE_KEYS, RESULT_PATH_ATTR

pytestmark = pytest.mark.fast


def tiny_result(rng: np.random.Generator) -> xr.DataTree:
    """A minimal mixture-like result: a posterior and provenance attrs, no sampling."""
    posterior = xr.Dataset(
        {"mu": ((dims.CHAIN, dims.DRAW), rng.normal(size=(2, 10)))},
        coords={dims.CHAIN: [0, 1], dims.DRAW: np.arange(10)},
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree.attrs |= {MODEL_ATTR: "mixture", "spinefit_config": json.dumps({}), "random_seed": 1}
    return tree


def test_saved_results_carry_the_format_version_and_round_trip(rng, tmp_path):
    tree = tiny_result(rng)
    tree.attrs[RESULT_PATH_ATTR] = "somewhere/else.nc"
    path = save_result(tree, tmp_path / "r.nc")
    again = load_result(path)
    assert int(again.attrs[FORMAT_ATTR]) == FORMAT_VERSION
    assert again.attrs[RESULT_PATH_ATTR] == str(path)  # where it was read, not saved from
    np.testing.assert_array_equal(again["posterior"]["mu"].values, tree["posterior"]["mu"].values)


def test_results_without_a_version_load_as_version_1(rng, tmp_path):
    path = tmp_path / "old.nc"
    tiny_result(rng).to_netcdf(path, engine="h5netcdf")  # written as before versions existed
    assert FORMAT_ATTR not in load_result(path).attrs


def test_a_newer_format_is_refused_naming_both_versions(rng, tmp_path):
    tree = tiny_result(rng)
    tree.attrs[FORMAT_ATTR] = FORMAT_VERSION + 1
    path = tmp_path / "new.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultError, match=rf"version {FORMAT_VERSION + 1} .*\({FORMAT_VERSION}\)"):
        load_result(path)
    result = CliRunner().invoke(app, ["summary", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(FORMAT_VERSION + 1) in lines[0], result.stderr


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_fail_in_one_line_with_exit_2(rng, tmp_path, damage):
    path = save_result(tiny_result(rng), tmp_path / "r.nc")
    content = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    else:
        path.write_bytes(b"")
    with pytest.raises(ResultError, match="not a readable netCDF result"):
        load_result(path)
    for command in (["summary", str(path)], ["report", str(path), "--out", str(tmp_path / "x")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "x").exists()


def test_a_netcdf_that_is_not_a_result_is_named(tmp_path):
    path = tmp_path / "plain.nc"
    xr.Dataset({"x": ("i", [1.0, 2.0])}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultError, match="not a spinefit result"):
        load_result(path)


def test_add_group_replaces_the_group_atomically(rng, tmp_path, monkeypatch):
    path = save_result(tiny_result(rng), tmp_path / "r.nc")
    add_group(path, "ppc", xr.Dataset({"ks": ((), 0.1)}))
    add_group(path, "ppc", xr.Dataset({"ks": ((), 0.2)}))
    assert float(load_result(path)["ppc"]["ks"]) == pytest.approx(0.2)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", fail)
    with pytest.raises(OSError):
        add_group(path, "ppc", xr.Dataset({"ks": ((), 0.3)}))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


def test_provenance_keys_are_the_ones_models_write(small_timeseries):
    from spinefit.models.drift_diffusion import DriftDiffusion
    from spinefit.sampling.settings import SamplerSettings

    data, _ = small_timeseries
    attrs = DriftDiffusion().provenance(data, SamplerSettings(), "spinefit fit x.csv")
    assert set(attrs) == set(PROVENANCE_KEYS)
    assert attrs[FORMAT_ATTR] == FORMAT_VERSION


def test_model_of_rebuilds_the_model_or_says_what_is_missing(rng):
    assert model_of(tiny_result(rng)).name == "mixture"
    with pytest.raises(ConfigError, match="names no model"):
        model_of(xr.DataTree())


def test_condition_layout_helpers():
    assert default_reference(["KO", "wt"]) == "wt"
    assert default_reference(["b", "a"]) == "a"
    tree = xr.DataTree()
    assert condition_fits(tree) == {}
    tree["condition_fits/condition_0"] = xr.DataTree()
    tree["condition_fits/condition_0"].attrs["condition_label"] = "KO"
    assert list(condition_fits(tree)) == ["KO"]
