"""Tests of combining labelled Datasets from several files (fast, no MCMC)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import xarray as xr
from reader_checks import report_of

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError
from spinefit.io.combine import ATTR_COMBINED_LABELS, combine_labelled
from spinefit.io.ssem import ATTR_SIZE_VARIABLE, MULTIPLICITY, POST_ID, PRE_ID, read_ssem
from spinefit.io.tables import file_hash
from spinefit.io.transitions import count_transitions
from spinefit.io.two_photon import read_long_table
from spinefit.io.wide_matrix import read_wide_matrix

pytestmark = pytest.mark.fast

WT = """spine_id,time_days,volume,dendrite_id,animal_id,region
s1,0,1.0,d1,m1,CA1
s1,4,1.2,d1,m1,CA1
s1,8,1.4,d1,m1,CA1
s2,0,0.5,d2,m1,
s2,4,0,d2,m1,
s2,8,0.6,d2,m1,
ghost,0,0,d2,m1,
"""
KO = """spine_id,time_days,volume,animal_id,treatment
s1,0,2.0,m1,drug
s1,2,2.1,m1,drug
s1,4,oops,m1,drug
s3,2,0.9,,drug
"""
SSEM_A = """id,pre_root_id,post_root_id,spine_vol_um3,cleft_vx,ctr_pt_x_nm,layer
1,10,20,0.1,5,100,L2
2,10,20,0.2,6,110,L3
3,10,10,0.3,7,120,L3
"""
SSEM_B = """id,pre_root_id,post_root_id,spine_vol_um3,cleft_vx
1,10,20,0.4,8
2,11,20,-1,9
4,11,20,0.5,10
"""


def sha256_of(hashes: list[str]) -> str:
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(value.encode())
    return f"sha256:{digest.hexdigest()}"


@pytest.fixture
def time_series(write_text):
    wt_path = write_text("wt.csv", WT)
    ko_path = write_text("ko.csv", KO)
    wt = read_long_table(wt_path, label_columns=["region"])
    ko = read_long_table(ko_path, drop_bad_rows=True)
    return wt, ko, wt_path, ko_path


@pytest.fixture
def snapshots(write_text):
    a_path = write_text("a.csv", SSEM_A)
    b_path = write_text("b.csv", SSEM_B)
    return read_ssem(a_path, label_columns=["layer"]), read_ssem(b_path), a_path, b_path


# --------------------------------------------------------------------------- time series


def test_time_series_sessions_are_the_union_and_padding_is_nan(time_series):
    wt, ko, *_ = time_series
    both = combine_labelled([wt, ko], ["WT", "KO"])
    assert both.sizes == {dims.SPINE: 4, dims.SESSION: 4}
    np.testing.assert_array_equal(both[dims.SESSION].values, [0, 1, 2, 3])
    np.testing.assert_array_equal(both[dims.TIME_DAYS].values, [0.0, 2.0, 4.0, 8.0])
    assert both[dims.TIME_DAYS].attrs["units"] == dims.DAY
    expected = [
        [1.0, np.nan, 1.2, 1.4],
        [0.5, np.nan, np.nan, 0.6],
        [2.0, 2.1, np.nan, np.nan],
        [np.nan, 0.9, np.nan, np.nan],
    ]
    np.testing.assert_array_equal(both[dims.VOLUME].values, expected)
    assert both[dims.VOLUME].dims == (dims.SPINE, dims.SESSION)
    assert both[dims.VOLUME].attrs["units"] == dims.DEFAULT_VOLUME_UNITS
    # KO's only day-4 row was dropped, so KO imaged days 0 and 2 only.
    imaged = [[1, 0, 1, 1], [1, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]
    np.testing.assert_array_equal(both[dims.IMAGED].values, np.array(imaged, dtype=bool))
    assert both[dims.IMAGED].dims == (dims.SPINE, dims.SESSION)


def test_time_series_ids_and_labels(time_series):
    wt, ko, *_ = time_series
    both = combine_labelled([wt, ko], ["WT", "KO"])
    coords = {
        dims.SPINE: ["WT/s1", "WT/s2", "KO/s1", "KO/s3"],
        dims.CONDITION_LABEL: ["WT", "WT", "KO", "KO"],
        dims.DENDRITE_ID: ["WT/d1", "WT/d2", "", ""],
        dims.ANIMAL_ID: ["WT/m1", "WT/m1", "KO/m1", ""],
        dims.TREATMENT: ["", "", "drug", "drug"],
        "region": ["CA1", "", "", ""],
    }
    for name, values in coords.items():
        assert both[name].dims == (dims.SPINE,), name
        assert both[name].dtype.kind == "U", name
        assert list(both[name].values) == values, name


def test_time_series_by_another_name_and_spine_id_coord(time_series):
    wt, ko, *_ = time_series
    wt = wt.assign_coords({dims.SPINE_ID: (dims.SPINE, wt[dims.SPINE].values)})
    both = combine_labelled([wt, ko], ["a", "b"], by="genotype")
    assert list(both["genotype"].values) == ["a", "a", "b", "b"]
    assert dims.CONDITION_LABEL not in both.coords
    assert list(both[dims.SPINE_ID].values) == ["a/s1", "a/s2", "", ""]


def test_time_series_attrs(time_series):
    wt, ko, wt_path, ko_path = time_series
    both = combine_labelled([wt, ko], ["WT", "KO"])
    assert both.attrs[dims.ATTR_SOURCE] == f"{wt_path}; {ko_path}"
    assert both.attrs[dims.ATTR_CONTENT_HASH] == sha256_of([file_hash(wt_path), file_hash(ko_path)])
    assert both.attrs[dims.ATTR_VERSION] == __version__
    assert both.attrs[dims.ATTR_DATA_KIND] == dims.KIND_TIME_SERIES
    assert json.loads(both.attrs[ATTR_COMBINED_LABELS]) == ["WT", "KO"]
    reversed_order = combine_labelled([ko, wt], ["KO", "WT"])
    assert reversed_order.attrs[dims.ATTR_CONTENT_HASH] != both.attrs[dims.ATTR_CONTENT_HASH]


def test_time_series_ingestion_report(time_series):
    wt, ko, wt_path, ko_path = time_series
    report = report_of(combine_labelled([wt, ko], ["WT", "KO"]))
    assert report.source == f"{wt_path}; {ko_path}"
    assert (report.rows_read, report.rows_kept) == (7 + 4, 6 + 3)
    report.check_accounted()
    assert report.reasons() == {"never present": 1, "non-numeric volume": 1}
    by_reason = {d.reason: d for d in report.dropped}
    assert by_reason["never present"].row == 7
    assert by_reason["never present"].detail == f"{wt_path}: spine 'ghost'"
    assert by_reason["non-numeric volume"].row == 3
    assert by_reason["non-numeric volume"].detail.startswith(f"{ko_path}: volume = 'oops'")
    assert report.notes[0] == (
        f"combined 2 datasets, labelled in the 'condition' coord: WT = {wt_path}, KO = {ko_path}"
    )
    assert "WT: label columns kept: region" in report.notes
    assert any(note.startswith("KO: a spine with no row") for note in report.notes)
    assert (
        "WT: no session at day(s) 2 (other files have one); its spines are NaN there and marked "
        "not imaged, so transitions skip those sessions for them instead of counting them as "
        "absence" in report.notes
    )
    assert any(note.startswith("KO: no session at day(s) 4, 8 ") for note in report.notes)


def test_combined_report_renders(time_series):
    wt, ko, *_ = time_series
    both = combine_labelled([wt, ko], ["WT", "KO"])
    lines = report_of(both).lines()
    assert lines[0].endswith("read 11 rows, kept 9, dropped 2")
    from spinefit.report.html import data_section
    from spinefit.results.names import DATA_GROUP

    section = data_section(xr.DataTree.from_dict({DATA_GROUP: both}), "x-")
    assert "11 rows read, 9 kept, 2 dropped" in section.body_html
    assert "never present" in section.body_html


def test_same_session_times_are_not_padded(write_text):
    first = read_long_table(write_text("1.csv", "spine_id,time_days,volume\na,0,1\na,4,2\n"))
    second = read_long_table(write_text("2.csv", "spine_id,time_days,volume\na,0,3\na,4,4\n"))
    both = combine_labelled([first, second], ["x", "y"])
    np.testing.assert_array_equal(both[dims.VOLUME].values, [[1.0, 2.0], [3.0, 4.0]])
    assert count_transitions(both)["transitions"] == 2
    assert not any("no session" in note for note in report_of(both).notes)
    assert dims.IMAGED not in both.variables


def test_a_shared_detection_limit_is_kept_and_different_ones_are_noted(write_text):
    header = "spine_id,time_days,volume,detection_limit\n"
    first = read_long_table(write_text("1.csv", header + "a,0,1,0.2\n"))
    second = read_long_table(write_text("2.csv", header + "a,0,3,0.2\n"))
    third = read_long_table(write_text("3.csv", header + "a,0,3,0.4\n"))
    assert combine_labelled([first, second], ["x", "y"]).attrs[dims.ATTR_DETECTION_LIMIT] == 0.2
    mixed = combine_labelled([first, third], ["x", "z"])
    assert dims.ATTR_DETECTION_LIMIT not in mixed.attrs
    assert "detection limits differ (x 0.2, z 0.4)" in " ".join(report_of(mixed).notes)


def test_standard_errors_are_combined_and_unknown_where_a_file_has_none(write_text):
    """Two `measure` tables combine with their errors; a plain table's errors are NaN."""
    header = "spine_id,time_days,volume,volume_se,volume_se_session\n"
    first = read_long_table(write_text("1.csv", header + "a,0,1,0.1,0.05\na,4,2,0.2,0.1\n"))
    second = read_long_table(
        write_text("2.csv", "spine_id,time_days,volume,volume_se\n" + "b,0,3,0.3\nb,2,4,0.4\n")
    )
    plain = read_long_table(write_text("3.csv", "spine_id,time_days,volume\nc,0,5\nc,4,6\n"))
    both = combine_labelled([first, second, plain], ["x", "y", "z"])
    nan = np.nan
    np.testing.assert_array_equal(
        both[dims.VOLUME_SE].values, [[0.1, nan, 0.2], [0.3, 0.4, nan], [nan, nan, nan]]
    )
    np.testing.assert_array_equal(
        both[dims.VOLUME_SE_SESSION].values, [[0.05, nan, 0.1], [nan] * 3, [nan] * 3]
    )
    assert both[dims.VOLUME_SE].attrs["units"] == both[dims.VOLUME].attrs["units"]
    notes = " ".join(report_of(both).notes)
    assert "y: no volume_se_session" in notes and "z: no volume_se;" in notes
    assert "x: no volume_se" not in notes


def test_standard_errors_in_another_unit_are_refused(write_text):
    header = "spine_id,time_days,volume,volume_se\n"
    first = read_long_table(write_text("1.csv", header + "a,0,1,0.1\n"))
    second = read_long_table(write_text("2.csv", header + "b,0,3,0.3\n"))
    second[dims.VOLUME_SE].attrs["units"] = "nm3"
    with pytest.raises(ConfigError, match="volume_se is in 'nm3'"):
        combine_labelled([first, second], ["x", "y"])


def test_long_table_and_wide_matrix_combine(write_text):
    long = read_long_table(write_text("l.csv", "spine_id,time_days,volume\na,0,1\na,4,2\n"))
    wide = read_wide_matrix(write_text("w.csv", "spine_id,0,4\na,5,6\n"))
    both = combine_labelled([long, wide], ["long", "wide"])
    assert list(both[dims.SPINE].values) == ["long/a", "wide/a"]
    np.testing.assert_array_equal(both[dims.VOLUME].values, [[1.0, 2.0], [5.0, 6.0]])


def test_equivalent_unit_spellings_combine(write_text):
    first = read_long_table(write_text("1.csv", "spine_id,time_days,volume\na,0,1 um3\n"))
    second = read_long_table(write_text("2.csv", "spine_id,time_days,volume\na,0,2 um^3\n"))
    both = combine_labelled([first, second], ["x", "y"])
    assert both[dims.VOLUME].attrs["units"] == "um3"


def test_netcdf_round_trip_of_combined_time_series(time_series, tmp_path):
    pytest.importorskip("h5py", reason="h5netcdf needs h5py to write files")
    wt, ko, *_ = time_series
    both = combine_labelled([wt, ko], ["WT", "KO"])
    both.to_netcdf(tmp_path / "both.nc", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "both.nc", engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), both)
        assert back[dims.IMAGED].dtype == bool


# --------------------------------------------------------------------------- snapshots


def test_snapshots_are_concatenated_with_prefixed_ids(snapshots):
    a, b, a_path, b_path = snapshots
    both = combine_labelled([a, b], ["A", "B"], by="dataset")
    assert list(both[dims.SYNAPSE].values) == ["A/1", "A/2", "B/1", "B/4"]
    assert list(both[PRE_ID].values) == ["A/10", "A/10", "B/10", "B/11"]
    assert list(both[POST_ID].values) == ["A/20", "A/20", "B/20", "B/20"]
    assert list(both[dims.CONNECTION].values) == [
        "A/10->A/20",
        "A/10->A/20",
        "B/10->B/20",
        "B/11->B/20",
    ]
    np.testing.assert_array_equal(both[MULTIPLICITY].values, [2, 2, 1, 1])
    np.testing.assert_array_equal(both["spine_vol_um3"].values, [0.1, 0.2, 0.4, 0.5])
    np.testing.assert_array_equal(both["cleft_vx"].values, [5, 6, 8, 10])
    np.testing.assert_array_equal(both["ctr_pt_x_nm"].values, [100, 110, np.nan, np.nan])
    assert both["ctr_pt_x_nm"].attrs["units"] == "nm"
    assert list(both["layer"].values) == ["L2", "L3", "", ""]
    assert list(both["dataset"].values) == ["A", "A", "B", "B"]
    for name in (dims.SYNAPSE, PRE_ID, POST_ID, "layer", "dataset"):
        assert both[name].dims == (dims.SYNAPSE,)
    assert both["spine_vol_um3"].attrs["units"] == "um^3"
    assert both["cleft_vx"].attrs["units"] == "voxel"


def test_snapshot_attrs_and_report(snapshots):
    a, b, a_path, b_path = snapshots
    both = combine_labelled([a, b], ["A", "B"])
    assert list(both[dims.CONDITION_LABEL].values) == ["A", "A", "B", "B"]
    assert both.attrs[dims.ATTR_SOURCE] == f"{a_path}; {b_path}"
    assert both.attrs[dims.ATTR_CONTENT_HASH] == sha256_of([file_hash(a_path), file_hash(b_path)])
    assert both.attrs[dims.ATTR_DATA_KIND] == dims.KIND_SNAPSHOT
    assert both.attrs[dims.ATTR_VERSION] == __version__
    assert both.attrs[ATTR_SIZE_VARIABLE] == "spine_vol_um3"
    assert json.loads(both.attrs[ATTR_COMBINED_LABELS]) == ["A", "B"]
    report = report_of(both)
    assert (report.rows_read, report.rows_kept) == (6, 4)
    report.check_accounted()
    assert [(d.row, d.reason, d.detail) for d in report.dropped] == [
        (3, "self-connection", f"{a_path}: pre = post = 10"),
        (2, "non-positive size", f"{b_path}: column spine_vol_um3 = -1.0"),
    ]
    assert "A: connections by multiplicity: {2: 1}" in report.notes
    assert "B: connections by multiplicity: {1: 2}" in report.notes


def test_snapshot_with_condition_column_needs_another_by(write_text, snapshots):
    a, *_ = snapshots
    path = write_text("c.csv", "pre_id,post_id,spine_vol_um3,cleft_vx,condition\n1,2,0.1,3,ko\n")
    labelled = read_ssem(path)
    with pytest.raises(ConfigError, match=r"already has a 'condition' coord.*--by"):
        combine_labelled([a, labelled], ["A", "C"])
    both = combine_labelled([a, labelled], ["A", "C"], by="file")
    assert list(both[dims.CONDITION_LABEL].values) == ["", "", "ko"]
    assert list(both["file"].values) == ["A", "A", "C"]


# --------------------------------------------------------------------------- errors


def test_error_label_count(time_series):
    wt, ko, *_ = time_series
    with pytest.raises(ConfigError, match="got 3 label\\(s\\) for 2 datasets"):
        combine_labelled([wt, ko], ["a", "b", "c"])
    with pytest.raises(ConfigError, match="got 1 label\\(s\\) for 2 datasets"):
        combine_labelled([wt, ko], ["a"])
    with pytest.raises(ConfigError, match="one label per dataset"):
        combine_labelled([wt, ko], "ab")


def test_error_duplicate_and_empty_labels(time_series):
    wt, ko, *_ = time_series
    with pytest.raises(ConfigError, match="label 'WT' is given twice"):
        combine_labelled([wt, ko], ["WT", "WT"])
    with pytest.raises(ConfigError, match="label 2 is empty"):
        combine_labelled([wt, ko], ["WT", "  "])
    with pytest.raises(ConfigError, match="contains '/'"):
        combine_labelled([wt, ko], ["WT", "K/O"])


def test_error_fewer_than_two_datasets(time_series):
    wt, *_ = time_series
    with pytest.raises(ConfigError, match="at least 2 datasets, got 1"):
        combine_labelled([wt], ["WT"])
    with pytest.raises(ConfigError, match="at least 2 datasets, got 0"):
        combine_labelled([], [])
    with pytest.raises(ConfigError, match="at least 2 datasets, got 1"):
        combine_labelled(wt, ["WT"])


def test_error_mixed_kinds(time_series, snapshots):
    wt, *_ = time_series
    a, *_ = snapshots
    with pytest.raises(
        ConfigError, match="cannot combine a time_series \\(WT, .*\\) with a snapshot"
    ):
        combine_labelled([wt, a], ["WT", "A"])
    unknown = wt.copy()
    unknown.attrs[dims.ATTR_DATA_KIND] = "image"
    with pytest.raises(ConfigError, match="data_kind 'image'"):
        combine_labelled([wt, unknown], ["WT", "X"])


def test_error_different_volume_units(time_series, write_text):
    wt, *_ = time_series
    in_um3 = read_long_table(write_text("u.csv", "spine_id,time_days,volume\na,0,1 um3\n"))
    with pytest.raises(ConfigError, match="volume units differ: 'a.u.' in WT .* but 'um3' in U"):
        combine_labelled([wt, in_um3], ["WT", "U"])


def test_error_different_size_units_and_sizes(snapshots, write_text):
    a, *_ = snapshots
    path = write_text("n.csv", "pre_id,post_id,spine_vol_um3,cleft_vx\n1,2,0.1,3\n")
    other = read_ssem(path, size_units={"spine_vol_um3": "nm^3"})
    with pytest.raises(ConfigError, match="spine_vol_um3 units differ: 'um\\^3' in A"):
        combine_labelled([a, other], ["A", "N"])
    fewer = read_ssem(path, size_cols=["spine_vol_um3"])
    with pytest.raises(DataError, match="expected the data variables"):
        combine_labelled([a, fewer], ["A", "N"])


def test_error_by_already_a_coord(time_series):
    wt, ko, *_ = time_series
    with pytest.raises(ConfigError, match="WT \\(.*wt.csv\\) already has a 'region' coord.*--by"):
        combine_labelled([wt, ko], ["WT", "KO"], by="region")
    labelled = ko.assign_coords({dims.CONDITION_LABEL: (dims.SPINE, ["x", "y"])})
    with pytest.raises(ConfigError, match="KO .* already has a 'condition' coord"):
        combine_labelled([wt, labelled], ["WT", "KO"])


@pytest.mark.parametrize("by", ["spine", "session", "time_days", "volume", "imaged", ""])
def test_error_by_is_a_reserved_name(time_series, by):
    wt, ko, *_ = time_series
    with pytest.raises(ConfigError, match="by"):
        combine_labelled([wt, ko], ["WT", "KO"], by=by)


def test_errors_are_one_line(time_series):
    wt, ko, *_ = time_series
    with pytest.raises(ConfigError) as err:
        combine_labelled([wt, ko], ["WT", "KO"], by="region")
    assert "\n" not in str(err.value)
