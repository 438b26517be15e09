"""read_any: the kind of an input from its header alone, then its reader (fast, no MCMC)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
from reader_checks import report_of

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io import input_kind, read_any
from spinefit.io import read as read_module
from spinefit.io.ssem import PRE_CANDIDATES, read_ssem
from spinefit.io.two_photon import read_long_table
from spinefit.workflow import InputOptions, load_input

pytestmark = pytest.mark.fast

SSEM_UPPER = (
    "ID,PRE_ROOT_ID,POST_ROOT_ID,SPINE_VOL_UM3,CLEFT_VX,Condition\n"
    "1,10,20,0.1,5,ctrl\n2,10,20,0.2,6,ctrl\n3,11,21,0.3,7,ko\n4,12,12,0.4,8,ko\n"
)


def recording_readers(monkeypatch):
    """Replace each reader by one that records the kind it was chosen for."""
    chosen = []
    for kind, reader in read_module.READERS.items():

        def fake(path, _kind=kind, **options):
            chosen.append(_kind)
            return xr.Dataset()

        monkeypatch.setitem(read_module.READERS, kind, dataclasses.replace(reader, read=fake))
    return chosen


@pytest.mark.parametrize("name", [*PRE_CANDIDATES, *(n.upper() for n in PRE_CANDIDATES)])
def test_snapshot_kind_from_the_header_only(tmp_path, monkeypatch, name):
    """Every presynaptic-id name the ssEM reader knows, in any case, makes a snapshot; the
    rows are not read (a malformed row after the header does not matter)."""
    path = tmp_path / f"{name}.csv"
    path.write_text(f"{name},POST_ID,size\n1,2,0.5\n1,2,0.5,extra,cells\n")
    assert input_kind(path) == dims.KIND_SNAPSHOT
    chosen = recording_readers(monkeypatch)
    read_any(path)
    assert chosen == [dims.KIND_SNAPSHOT]


@pytest.mark.parametrize(
    "header", ["spine_id,time_days,volume", "SPINE_ID,TIME_DAYS,VOLUME", "Spine,Day,Volume (um3)"]
)
def test_time_series_kind_from_the_header_only(tmp_path, monkeypatch, header):
    path = tmp_path / "series.csv"
    path.write_text(f"{header}\ns1,0,1.0\ns1,not,a,row,at,all\n")
    assert input_kind(path) == dims.KIND_TIME_SERIES
    chosen = recording_readers(monkeypatch)
    read_any(path)
    assert chosen == [dims.KIND_TIME_SERIES]


def test_spine_column_wins_over_a_presynaptic_column(tmp_path):
    path = tmp_path / "both.csv"
    path.write_text("spine,pre,day,volume\na,1,0,1\n")
    assert input_kind(path) == dims.KIND_TIME_SERIES


def test_npy_is_always_a_time_series(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.array([[1.0, 0.0, 2.0], [0.5, 0.6, 0.0]]))
    assert input_kind(path, pre_col="pre") == dims.KIND_TIME_SERIES
    ds = read_any(path, interval_days=4)
    assert ds.sizes == {dims.SPINE: 2, dims.SESSION: 3}


def test_upper_case_ssem_table_is_read(tmp_path):
    path = tmp_path / "upper.csv"
    path.write_text(SSEM_UPPER)
    ds = read_any(path)
    assert ds.attrs[dims.ATTR_DATA_KIND] == dims.KIND_SNAPSHOT
    assert list(ds.data_vars) == ["spine_vol_um3", "cleft_vx"]
    assert ds["spine_vol_um3"].attrs["units"] == "um^3"
    assert ds["cleft_vx"].attrs["units"] == "voxel"
    assert list(ds[dims.SYNAPSE].values) == [1, 2, 3]
    assert list(ds[dims.CONDITION_LABEL].values) == ["ctrl", "ctrl", "ko"]
    report = report_of(ds)
    report.check_accounted()
    assert report.reasons() == {"self-connection": 1}
    lower = tmp_path / "lower.csv"
    lower.write_text(SSEM_UPPER.lower())
    xr.testing.assert_equal(ds, read_ssem(lower))


def test_ssem_mapping_in_any_case_and_its_errors(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("Presyn,Postsyn,Head Volume\n1,2,0.5\n1,3,0.6\n")
    options = {"pre_col": "presyn", "post_col": "POSTSYN", "size_cols": ["head volume"]}
    assert input_kind(path, **options) == dims.KIND_SNAPSHOT
    ds = read_any(path, **options)
    assert list(ds.data_vars) == ["Head Volume"]
    np.testing.assert_array_equal(ds["Head Volume"].values, [0.5, 0.6])
    with pytest.raises(DataError, match=r"no column 'Prsyn' \(given with --pre-col\)") as err:
        read_any(path, **(options | {"pre_col": "Prsyn"}))
    assert "did you mean 'Presyn'" in str(err.value) and "\n" not in str(err.value)


def test_time_series_mapping_decides_the_kind(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("pre,when,size\na,0,1\na,4,2\n")
    assert input_kind(path) == dims.KIND_SNAPSHOT
    ds = read_any(path, spine_col="pre", time_col="when", volume_col="size")
    assert ds.attrs[dims.ATTR_DATA_KIND] == dims.KIND_TIME_SERIES
    with pytest.raises(ConfigError, match="cannot be given together"):
        read_any(path, spine_col="pre", post_col="when")


def test_options_of_the_other_kind(tmp_path):
    series = tmp_path / "series.csv"
    series.write_text("spine_id,time_days,volume\na,0,1\n")
    ssem = tmp_path / "ssem.csv"
    ssem.write_text(SSEM_UPPER)
    with pytest.raises(ConfigError, match="'keep_self_connections' does not apply .* time series"):
        read_any(series, keep_self_connections=True)
    with pytest.raises(ConfigError, match="'interval_days' does not apply .* ssEM table"):
        read_any(ssem, interval_days=4)
    # Options left at their defaults are ignored, whatever the kind.
    assert read_any(series, pre_col=None, keep_self_connections=False).sizes[dims.SPINE] == 1
    with pytest.raises(TypeError, match="interval"):
        read_any(series, interval=4)
    with pytest.raises(ConfigError, match="unknown input kind"):
        read_any(series, kind="movie")


def test_kind_given_skips_the_header(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("spine_id,time_days,volume\na,0,1\n")
    with pytest.raises(DataError, match="pre_root_id"):
        read_any(path, kind=dims.KIND_SNAPSHOT)


def test_load_input_is_read_any(tmp_path):
    path = tmp_path / "new_user.csv"
    path.write_text("Spine,Day,Volume (um3)\ns1,0,0.5\ns1,2,0.6\n")
    from_options = load_input(path, None, InputOptions(volume_units="um^3"))
    xr.testing.assert_identical(from_options, read_any(path, volume_units="um^3"))
    xr.testing.assert_identical(load_input(path), read_long_table(path))
    mapped = InputOptions(size_col="size", pre_col="pre", post_col="post")
    assert mapped.reader_options()["size_cols"] == ["size"]


def test_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_any(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        input_kind(empty)
