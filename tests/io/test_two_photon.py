"""Tests of the long-table reader, the dispatcher and transition counts (fast, no MCMC)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reader_checks import assert_points_at, report_of

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError
from spinefit.io.tables import file_hash
from spinefit.io.transitions import count_transitions, transitions
from spinefit.io.two_photon import read_long_table, read_two_photon
from spinefit.io.wide_matrix import read_wide_matrix

pytestmark = pytest.mark.fast

LONG = """spine_id,time_days,volume
a,0,1.0
a,4,0
a,8,2.0
b,0,0.5
b,8,
c,0,NaN
c,4,0.7
c,8,0.8
"""


# --------------------------------------------------------------------------- long tables


def test_long_table_absent_volumes_are_nan(write_text):
    path = write_text("long.csv", LONG)
    ds = read_long_table(path)
    assert ds[dims.VOLUME].dims == (dims.SPINE, dims.SESSION)
    assert ds[dims.VOLUME].dtype == np.float64
    assert list(ds[dims.SPINE].values) == ["a", "b", "c"]
    assert list(ds[dims.SESSION].values) == [0, 1, 2]
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 4.0, 8.0])
    expected = [[1.0, np.nan, 2.0], [0.5, np.nan, np.nan], [np.nan, 0.7, 0.8]]
    np.testing.assert_array_equal(ds[dims.VOLUME].values, expected)
    report = report_of(ds)
    assert (report.rows_read, report.rows_kept, report.dropped) == (8, 8, [])


def test_long_table_volume_se_is_kept_as_a_matrix(write_text):
    text = "spine_id,time_days,volume,volume_se\na,0,1.0,0.1\na,4,0,\na,8,2.0,x\nb,0,0.5,0.05\n"
    ds = read_long_table(write_text("se.csv", text))
    expected = [[0.1, np.nan, np.nan], [0.05, np.nan, np.nan]]
    np.testing.assert_array_equal(ds[dims.VOLUME_SE].values, expected)
    assert ds[dims.VOLUME_SE].attrs["units"] == ds[dims.VOLUME].attrs["units"]
    report = report_of(ds)
    assert report.rows_kept == 4
    assert any("1 volume_se value" in note for note in report.notes)
    assert not any("ignored columns" in note for note in report.notes)


def test_long_table_keeps_the_session_part_of_the_errors(write_text):
    text = "spine_id,time_days,volume,volume_se,volume_se_session\na,0,1.0,0.1,0.06\na,4,2,0.2,\n"
    ds = read_long_table(write_text("se.csv", text))
    np.testing.assert_array_equal(ds[dims.VOLUME_SE].values, [[0.1, 0.2]])
    np.testing.assert_array_equal(ds[dims.VOLUME_SE_SESSION].values, [[0.06, np.nan]])
    assert not any("ignored columns" in note for note in report_of(ds).notes)


def test_long_table_detection_limit_column_is_one_attr(write_text):
    """measure writes the volume at its presence cut on every row; blank cells are allowed."""
    text = "spine_id,time_days,volume,detection_limit\na,0,1.0,0.3\na,4,,\nb,0,0.5,0.3\n"
    ds = read_long_table(write_text("limit.csv", text))
    assert ds.attrs[dims.ATTR_DETECTION_LIMIT] == 0.3
    notes = report_of(ds).notes
    assert any(note.startswith("detection limit 0.3 ") for note in notes)
    assert not any("ignored columns" in note for note in notes)
    blank = "spine_id,time_days,volume,detection_limit\na,0,1.0,\n"
    assert dims.ATTR_DETECTION_LIMIT not in read_long_table(write_text("b.csv", blank)).attrs


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (("0.3", "0.4"), "detection limit 0.4 here but 0.3 at row 1: the column must hold one"),
        (("0.3", "-1"), "detection limit '-1' is not a positive number"),
        (("0.3", "x"), "detection limit 'x' is not a positive number"),
    ],
)
def test_long_table_detection_limit_must_be_one_positive_number(write_text, cells, message):
    text = f"spine_id,time_days,volume,detection_limit\na,0,1.0,{cells[0]}\nb,0,2,{cells[1]}\n"
    with pytest.raises(DataError, match=message) as error:
        read_long_table(write_text("limit.csv", text))
    assert error.value.row == 2 and error.value.column == "detection_limit"


def test_long_table_attrs(write_text):
    path = write_text("long.csv", LONG)
    ds = read_long_table(path)
    assert ds.attrs[dims.ATTR_SOURCE] == str(path)
    assert ds.attrs[dims.ATTR_CONTENT_HASH] == file_hash(path)
    assert ds.attrs[dims.ATTR_VERSION] == __version__
    assert ds.attrs[dims.ATTR_DATA_KIND] == dims.KIND_TIME_SERIES
    assert ds[dims.VOLUME].attrs["units"] == dims.DEFAULT_VOLUME_UNITS
    assert ds[dims.VOLUME].attrs["long_name"]
    assert ds[dims.TIME_DAYS].attrs["units"] == dims.DAY
    assert report_of(ds).source == str(path)


def test_long_table_label_coords(write_text):
    path = write_text(
        "labels.csv",
        "spine_id,time_days,volume,dendrite_id,animal_id,condition,treatment\n"
        "1,0,1.0,7,m1,ctrl,saline\n"
        "1,4,1.1,7,m1,ctrl,saline\n"
        "2,0,0.5,8,m2,ko,\n"
        "2,4,0.6,8,m2,ko,drug\n",
    )
    ds = read_long_table(path)
    assert list(ds[dims.SPINE].values) == ["1", "2"]
    for name, values in {
        dims.DENDRITE_ID: ["7", "8"],
        dims.ANIMAL_ID: ["m1", "m2"],
        dims.CONDITION_LABEL: ["ctrl", "ko"],
        dims.TREATMENT: ["saline", "drug"],
    }.items():
        assert ds[name].dims == (dims.SPINE,)
        assert list(ds[name].values) == values
        assert ds[name].dtype.kind == "U"


def test_spine_ids_keep_their_text(write_text):
    path = write_text("ids.csv", "spine_id,time_days,volume\n007,0,1\n007,4,1\n7,0,2\n")
    assert list(read_long_table(path)[dims.SPINE].values) == ["007", "7"]


def test_label_changing_within_a_spine_names_row_and_column(write_text):
    path = write_text(
        "labels.csv",
        "spine_id,time_days,volume,animal_id\na,0,1,m1\na,4,1,m1\na,8,1,m2\n",
    )
    with pytest.raises(DataError, match="animal_id 'm2' differs") as err:
        read_long_table(path)
    assert_points_at(err, path, 3, "animal_id")


EXTRA_LABELS = (
    "spine_id,time_days,volume,region,cohort,notes\n"
    "a,0,1.0,CA1,,x\n"
    "a,4,1.1,CA1,c7,y\n"
    "b,0,0.5,,,z\n"
    "b,4,0.6,CA3,,z\n"
    "c,0,0.7,,,z\n"
)


def test_extra_label_columns_are_spine_coords(write_text):
    path = write_text("extra.csv", EXTRA_LABELS)
    ds = read_long_table(path, label_columns=["region", "cohort"])
    assert list(ds[dims.SPINE].values) == ["a", "b", "c"]
    assert list(ds["region"].values) == ["CA1", "CA3", ""]
    assert list(ds["cohort"].values) == ["c7", "", ""]
    for name in ("region", "cohort"):
        assert ds[name].dims == (dims.SPINE,)
        assert ds[name].dtype.kind == "U"
    assert "notes" not in ds.coords
    notes = report_of(ds).notes
    assert "ignored columns: notes" in notes
    assert "label columns kept: region, cohort" in notes


def test_extra_label_columns_beside_built_in_labels(write_text):
    path = write_text(
        "both.csv",
        "spine_id,time_days,volume,animal_id,region\na,0,1,m1,CA1\na,4,1,m1,CA1\n",
    )
    ds = read_long_table(path, label_columns=("region", "animal_id", "region"))
    assert list(ds[dims.ANIMAL_ID].values) == ["m1"]
    assert list(ds["region"].values) == ["CA1"]
    assert not any(note.startswith("ignored") for note in report_of(ds).notes)


def test_extra_label_changing_within_a_spine_names_row_and_column(write_text):
    path = write_text(
        "changing.csv",
        "spine_id,time_days,volume,region\na,0,1,CA1\na,4,1,CA1\na,8,1,CA3\n",
    )
    assert list(read_long_table(path)[dims.SPINE].values) == ["a"]  # not asked for: ignored
    with pytest.raises(DataError, match="region 'CA3' differs from 'CA1'") as err:
        read_long_table(path, label_columns=["region"])
    assert_points_at(err, path, 3, "region")


def test_extra_label_in_a_conflicting_duplicate(write_text):
    path = write_text("dup.csv", "spine_id,time_days,volume,region\na,0,1,CA1\na,0,1,CA3\n")
    with pytest.raises(DataError, match="conflicting duplicate.*different region") as err:
        read_long_table(path, label_columns=["region"], drop_bad_rows=True)
    assert_points_at(err, path, 2, "region")


def test_missing_extra_label_column_lists_the_columns(write_text):
    path = write_text("extra.csv", EXTRA_LABELS)
    with pytest.raises(DataError, match="no label column 'regoin'") as err:
        read_long_table(path, label_columns=["regoin"])
    message = str(err.value)
    assert "did you mean 'region'?" in message
    assert "columns are spine_id, time_days, volume, region, cohort, notes" in message
    assert_points_at(err, path, None, "regoin")
    with pytest.raises(DataError, match="no label column 'condition'"):
        read_long_table(path, label_columns=["condition"])


@pytest.mark.parametrize("name", ["volume", "spine_id", "time_days", "session", "spine", " ", 3])
def test_label_columns_that_already_have_a_role(write_text, name):
    path = write_text("extra.csv", EXTRA_LABELS)
    with pytest.raises(ConfigError, match="label"):
        read_long_table(path, label_columns=[name])


def test_read_two_photon_forwards_label_columns(write_text):
    long_path = write_text("extra.csv", EXTRA_LABELS)
    ds = read_two_photon(long_path, label_columns=["region"])
    assert list(ds["region"].values) == ["CA1", "CA3", ""]
    wide_path = write_text("wide.csv", "spine_id,0,4\na,1,2\n")
    with pytest.raises(ConfigError, match="option 'label_columns' does not apply.*wide matrix"):
        read_two_photon(wide_path, label_columns=["region"])
    assert read_two_photon(wide_path, label_columns=[]).sizes[dims.SPINE] == 1
    assert read_two_photon(wide_path, label_columns=None).sizes[dims.SPINE] == 1


def test_session_numbers_need_interval_days(write_text):
    path = write_text("sessions.csv", "spine_id,session,volume\na,0,1\na,1,2\na,3,1.5\n")
    with pytest.raises(DataError, match="--interval-days") as err:
        read_long_table(path)
    assert_points_at(err, path, None, "session")
    ds = read_long_table(path, interval_days=4)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 4.0, 12.0])


def test_huge_session_number_is_a_bad_time(write_text):
    path = write_text("sessions.csv", "spine_id,session,volume\na,0,1\na,1e308,2\n")
    with pytest.raises(DataError, match="time '1e308' is not a finite number") as err:
        read_long_table(path, interval_days=4)
    assert_points_at(err, path, 2, "session")


def test_fractional_session_number_raises(write_text):
    path = write_text("sessions.csv", "spine_id,session,volume\na,0,1\na,1.5,2\n")
    with pytest.raises(DataError, match="whole number") as err:
        read_long_table(path, interval_days=4)
    assert_points_at(err, path, 2, "session")


@pytest.mark.parametrize("interval", [0, -4, float("nan"), "four"])
def test_bad_interval_days_is_a_config_error(write_text, interval):
    path = write_text("sessions.csv", "spine_id,session,volume\na,0,1\n")
    with pytest.raises(ConfigError, match="interval_days"):
        read_long_table(path, interval_days=interval)


@pytest.mark.parametrize(
    ("header", "missing", "suggestion"),
    [
        ("spine_id,time_days,volum", "volume", "volum"),
        ("spin_id,time_days,volume", "spine_id", "spin_id"),
        ("spine_id,tme_days,volume", "time_days", "tme_days"),
        ("spine_id,sesion,volume", "time_days", "sesion"),
    ],
)
def test_misspelled_column_suggests_the_closest(write_text, header, missing, suggestion):
    path = write_text("bad.csv", header + "\na,0,1\n")
    with pytest.raises(DataError, match=f"did you mean '{suggestion}'") as err:
        read_long_table(path)
    assert_points_at(err, path, None, missing)


def test_semicolon_tables_with_decimal_commas_are_read_and_noted(write_text):
    """A spreadsheet's CSV in a locale that writes 1,5 for 1.5 (';' between values)."""
    from spinefit.io.read import input_kind
    from spinefit.io.ssem import read_ssem
    from spinefit.io.tables import SEMICOLON_NOTE
    from spinefit.io.wide_matrix import read_wide_matrix

    long = write_text("long.csv", "spine_id;time_days;volume\na;0;1,5\na;2,5;2\nb;0;0,75 um3\n")
    data = read_long_table(long)
    np.testing.assert_allclose(data["time_days"].values, [0.0, 2.5])
    np.testing.assert_allclose(data["volume"].values, [[1.5, 2.0], [0.75, np.nan]])
    assert SEMICOLON_NOTE in report_of(data).notes
    wide = read_wide_matrix(write_text("wide.csv", "spine_id;0;2,5\na;1,5;2\n"))
    np.testing.assert_allclose(wide["time_days"].values, [0.0, 2.5])
    np.testing.assert_allclose(wide["volume"].values, [[1.5, 2.0]])
    assert SEMICOLON_NOTE in report_of(wide).notes
    path = write_text("ssem.csv", "pre_id;post_id;size\n1;2;0,25\n1;3;1,5\n")
    ssem = read_ssem(path, size_cols=["size"])
    np.testing.assert_allclose(ssem["size"].values, [0.25, 1.5])
    assert SEMICOLON_NOTE in report_of(ssem).notes
    assert input_kind(path) == dims.KIND_SNAPSHOT
    assert input_kind(long) == dims.KIND_TIME_SERIES


def test_excel_workbooks_are_read_from_their_first_sheet(tmp_path):
    """An .xlsx long table; other sheets are named in a note; .xls/.ods are refused."""
    pytest.importorskip("openpyxl", reason="openpyxl reads .xlsx")
    from spinefit.io.read import input_kind
    from spinefit.io.ssem import read_ssem

    path = tmp_path / "volumes.xlsx"
    table = pd.DataFrame(
        {"spine_id": ["a", "a", "b"], "time_days": [0, 2.5, 0], "volume": [1.5, 2.0, 0.75]}
    )
    with pd.ExcelWriter(path) as writer:
        table.to_excel(writer, sheet_name="volumes", index=False)
        table.to_excel(writer, sheet_name="old", index=False)
    data = read_long_table(path)
    np.testing.assert_allclose(data["time_days"].values, [0.0, 2.5])
    np.testing.assert_allclose(data["volume"].values, [[1.5, 2.0], [0.75, np.nan]])
    assert any("first sheet 'volumes'; not read: 'old'" in n for n in report_of(data).notes)
    synapses = tmp_path / "synapses.xlsx"
    pd.DataFrame({"pre_id": [1, 1], "post_id": [2, 3], "size": [0.25, 1.5]}).to_excel(
        synapses, index=False
    )
    np.testing.assert_allclose(read_ssem(synapses, size_cols=["size"])["size"].values, [0.25, 1.5])
    # The layout is told from the header, as for CSV.
    assert input_kind(path) == dims.KIND_TIME_SERIES
    assert input_kind(synapses) == dims.KIND_SNAPSHOT
    for suffix in (".xls", ".ods"):
        other = tmp_path / f"volumes{suffix}"
        other.write_bytes(b"not read")
        with pytest.raises(DataError, match=f"{suffix} workbooks are not read"):
            read_long_table(other)
    broken = tmp_path / "broken.xlsx"
    broken.write_text("spine_id,time_days,volume\n")
    with pytest.raises(DataError, match="not a readable table"):
        read_long_table(broken)


def test_empty_file_and_not_a_table(write_text, tmp_path):
    empty = write_text("empty.csv", "")
    with pytest.raises(DataError, match="empty") as err:
        read_long_table(empty)
    assert_points_at(err, empty, None, None)
    one_column = write_text("one.csv", "spine_id\na\nb\n")
    with pytest.raises(DataError, match="not a table"):
        read_long_table(one_column)
    semicolons = write_text("semicolons.csv", "spine_id;time_days;volume\n")
    for reader in (read_long_table, read_two_photon):
        with pytest.raises(DataError, match="not a table|no data rows"):
            reader(semicolons)
    header_only = write_text("header.csv", "spine_id,time_days,volume\n")
    with pytest.raises(DataError):
        read_long_table(header_only)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError):
        read_long_table(binary)
    with pytest.raises(DataError, match="not found"):
        read_long_table(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("big", "non-numeric volume"), ("-0.2", "negative volume"), ("inf", "non-numeric volume")],
)
def test_bad_volume_raises_or_is_dropped(write_text, value, reason):
    path = write_text("bad.csv", f"spine_id,time_days,volume\na,0,1\na,4,{value}\na,8,2\n")
    with pytest.raises(DataError, match="--drop-bad-rows") as err:
        read_long_table(path)
    assert_points_at(err, path, 2, "volume")
    ds = read_long_table(path, drop_bad_rows=True)
    report = report_of(ds)
    assert report.reasons() == {reason: 1}
    assert report.dropped[0].row == 2
    assert (report.rows_read, report.rows_kept) == (3, 2)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 8.0])


def test_bad_time_and_missing_id_raise_or_are_dropped(write_text):
    path = write_text("bad.csv", "spine_id,time_days,volume\na,0,1\na,later,2\n,4,1\nb,0,1\n")
    with pytest.raises(DataError, match="time 'later' is not a finite number") as err:
        read_long_table(path)
    assert_points_at(err, path, 2, "time_days")
    report = report_of(read_long_table(path, drop_bad_rows=True))
    assert report.reasons() == {"non-numeric time": 1, "missing spine_id": 1}


def test_exact_duplicate_raises_or_is_dropped(write_text):
    path = write_text("dup.csv", "spine_id,time_days,volume\na,0,1\na,4,2\na,4,2.0\n")
    with pytest.raises(DataError, match="duplicate row.*repeats row 2") as err:
        read_long_table(path)
    assert_points_at(err, path, 3, "time_days")
    report = report_of(read_long_table(path, drop_bad_rows=True))
    assert report.reasons() == {"duplicate spine/time": 1}
    assert report.dropped[0].row == 3


def test_duplicate_absent_rows_agree(write_text):
    path = write_text("dup.csv", "spine_id,time_days,volume\na,0,1\na,4,0\na,4,\n")
    ds = read_long_table(path, drop_bad_rows=True)
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, np.nan]])
    assert report_of(ds).reasons() == {"duplicate spine/time": 1}


def test_conflicting_duplicate_always_raises(write_text):
    path = write_text("dup.csv", "spine_id,time_days,volume\na,0,1\na,4,2\na,4,3\n")
    for drop in (False, True):
        with pytest.raises(DataError, match="conflicting duplicate") as err:
            read_long_table(path, drop_bad_rows=drop)
        assert_points_at(err, path, 3, "volume")


def test_unsorted_times_always_raise(write_text):
    path = write_text("unsorted.csv", "spine_id,time_days,volume\na,0,1\nb,4,1\na,8,2\na,4,2\n")
    for drop in (False, True):
        with pytest.raises(DataError, match="unsorted times: spine 'a' goes from 8 to 4") as err:
            read_long_table(path, drop_bad_rows=drop)
        assert_points_at(err, path, 4, "time_days")


def test_table_sorted_by_session_then_spine_is_fine(write_text):
    path = write_text("by_time.csv", "spine_id,time_days,volume\na,0,1\nb,0,2\na,4,1\nb,4,2\n")
    assert read_long_table(path).sizes == {dims.SPINE: 2, dims.SESSION: 2}


def test_units_from_column_suffix_or_option(write_text):
    column = write_text("u.csv", "spine_id,time_days,volume,units\na,0,1,um3\na,4,2,um3\n")
    assert read_long_table(column)[dims.VOLUME].attrs["units"] == "um3"
    suffix = write_text("s.csv", "spine_id,time_days,volume\na,0,0.5 µm³\na,4,0.6 um^3\n")
    ds = read_long_table(suffix)
    assert ds[dims.VOLUME].attrs["units"] == "µm³"
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[0.5, 0.6]])
    plain = write_text("p.csv", "spine_id,time_days,volume\na,0,1\n")
    assert read_long_table(plain, volume_units="um3")[dims.VOLUME].attrs["units"] == "um3"
    with pytest.raises(DataError, match="volume_units 'nm3' was given") as err:
        read_long_table(column, volume_units="nm3")
    assert_points_at(err, column, 1, "units")


@pytest.mark.parametrize(
    ("text", "row", "column"),
    [
        ("spine_id,time_days,volume,units\na,0,1,um3\na,4,2,nm3\n", 2, "units"),
        ("spine_id,time_days,volume\na,0,0.5 um3\na,4,300 nm3\n", 2, "volume"),
        ("spine_id,time_days,volume,volume_units\na,0,1,um3\na,4,300 nm3,um3\n", 2, "volume"),
    ],
)
def test_mixed_units_always_raise(write_text, text, row, column):
    path = write_text("mixed.csv", text)
    for drop in (False, True):
        with pytest.raises(DataError, match="mixed units") as err:
            read_long_table(path, drop_bad_rows=drop)
        assert_points_at(err, path, row, column)


def test_never_present_spines_are_dropped_and_reported(write_text):
    path = write_text("never.csv", "spine_id,time_days,volume\na,0,1\nghost,0,0\nghost,4,\na,4,2\n")
    ds = read_long_table(path)
    assert list(ds[dims.SPINE].values) == ["a"]
    report = report_of(ds)
    assert report.reasons() == {"never present": 2}
    assert [d.row for d in report.dropped] == [2, 3]
    with pytest.raises(DataError, match="no spine is present"):
        read_long_table(write_text("none.csv", "spine_id,time_days,volume\na,0,0\nb,0,\n"))


def test_irregular_times_are_the_union_of_sessions(write_text):
    path = write_text(
        "irregular.csv",
        "spine_id,time_days,volume\na,0,1\na,1.5,1.2\na,10,1.1\nb,3,0.4\nb,10,0.5\n",
    )
    ds = read_long_table(path)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 1.5, 3.0, 10.0])
    assert np.isnan(ds[dims.VOLUME].sel(spine="a", session=2))
    assert np.isnan(ds[dims.VOLUME].sel(spine="b", session=0))
    table = transitions(ds)
    np.testing.assert_array_equal(table["dt_days"].values, [1.5, 7.0])


def test_tsv_and_parquet_long_tables(tmp_path):
    frame = pd.DataFrame(
        {
            "spine_id": [1, 1, 2],
            "time_days": [0.0, 4.0, 0.0],
            "volume": [1.0, np.nan, 0.3],
            "dendrite_id": [3, 3, 4],
        }
    )
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.tsv", "t.parquet"):
        ds = read_long_table(tmp_path / name)
        assert list(ds[dims.SPINE].values) == ["1", "2"]
        assert list(ds[dims.DENDRITE_ID].values) == ["3", "4"]
        np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, np.nan], [0.3, np.nan]])


def test_input_file_is_not_modified(write_text):
    path = write_text("long.csv", LONG)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    read_two_photon(path, drop_bad_rows=True)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_netcdf_round_trip(write_text, tmp_path):
    pytest.importorskip("h5py", reason="h5netcdf needs h5py to write files")
    path = write_text(
        "labels.csv",
        "spine_id,time_days,volume,dendrite_id\ns1,0,1.0,d1\ns1,4,0,d1\ns2,0,0.5,d2\ns2,4,0.6,d2\n",
    )
    ds = read_long_table(path)
    out = tmp_path / "ds.nc"
    ds.to_netcdf(out, engine="h5netcdf")
    with xr.open_dataset(out, engine="h5netcdf") as back:
        back.load()
    xr.testing.assert_identical(back, ds)
    assert back.attrs == ds.attrs
    assert back[dims.VOLUME].attrs == ds[dims.VOLUME].attrs
    assert report_of(back).rows_read == 4


# --------------------------------------------------------------------------- dispatch


def test_dispatch(write_text, tmp_path):
    long_path = write_text("long.csv", LONG)
    wide_path = write_text("wide.csv", "spine_id,0,4,8\na,1,0,2\nb,0,0.5,0.6\n")
    assert read_two_photon(long_path).sizes == {dims.SPINE: 3, dims.SESSION: 3}
    assert read_two_photon(wide_path).sizes == {dims.SPINE: 2, dims.SESSION: 3}
    misspelled = write_text("misspelled.csv", "spine_id,time,volume\na,0,1\n")
    with pytest.raises(DataError, match="missing required column 'time_days'"):
        read_two_photon(misspelled)
    with pytest.raises(ConfigError, match="dendrite_map"):
        read_two_photon(long_path, dendrite_map=tmp_path / "map.npy")
    with pytest.raises(ConfigError, match="drop_bad_rows"):
        read_two_photon(wide_path, drop_bad_rows=True)
    assert read_two_photon(wide_path, drop_bad_rows=False).sizes[dims.SPINE] == 2
    with pytest.raises(TypeError):
        read_two_photon(long_path, interval=4)


# --------------------------------------------------------------------------- transitions


def test_count_transitions_and_table(tmp_path):
    matrix = np.array(
        [
            [1.0, 2.0, 0.0, 3.0],  # 1 transition, 1 elimination, 1 formation
            [0.0, 1.0, 1.5, 1.6],  # 1 formation, 2 transitions
            [4.0, 0.0, 0.0, 0.0],  # 1 elimination
        ]
    )
    path = tmp_path / "m.npy"
    np.save(path, matrix)
    ds = read_wide_matrix(path, session_times=[0, 2, 6, 7])
    counts = count_transitions(ds)
    assert counts == {
        "spines": 3,
        "sessions": 4,
        "present": 7,
        "transitions": 3,
        "formations": 2,
        "eliminations": 2,
        "at_risk_formation": 4,
        "at_risk_elimination": 5,
    }
    table = transitions(ds)
    assert table.sizes == {dims.TRANSITION: 3}
    np.testing.assert_array_equal(table["w_start"].values, [1.0, 1.0, 1.5])
    np.testing.assert_array_equal(table["w_end"].values, [2.0, 1.5, 1.6])
    np.testing.assert_array_equal(table["dt_days"].values, [2.0, 4.0, 1.0])
    np.testing.assert_array_equal(table["spine_index"].values, [0, 1, 1])
    assert table["spine_index"].dtype == np.int64
    assert list(table[dims.SPINE_ID].values) == ["s0000", "s0001", "s0001"]
    assert table["w_start"].attrs["units"] == dims.DEFAULT_VOLUME_UNITS
    assert table.attrs[dims.ATTR_CONTENT_HASH] == ds.attrs[dims.ATTR_CONTENT_HASH]


def test_transitions_reject_other_datasets():
    with pytest.raises(DataError, match="volume\\(spine, session\\)"):
        count_transitions(xr.Dataset({"x": ("synapse", [1.0])}))


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("matrix", "dendrite_map", "expected"),
    [
        (
            "quantile_4060_pyr.npy",
            "pyr_map.npy",
            {"spines": 721, "sessions": 8, "present": 3731, "transitions": 3010},
        ),
        (
            "quantile_4060_pv.npy",
            "pv_map.npy",
            {"spines": 461, "sessions": 7, "present": 2893, "transitions": 2432},
        ),
    ],
)
def test_melander_matrices(shared_data, matrix, dendrite_map, expected):
    path = shared_data("melander2021", matrix)
    map_path = shared_data("melander2021", dendrite_map)
    ds = read_two_photon(path, interval_days=4, dendrite_map=map_path)
    counts = count_transitions(ds)
    assert {k: counts[k] for k in expected} == expected
    assert counts["at_risk_elimination"] == counts["transitions"] + counts["eliminations"]
    raw = np.load(path)
    report = report_of(ds)
    assert report.rows_read == raw.shape[0]
    assert report.rows_kept + report.reasons().get("never present", 0) == raw.shape[0]
    assert int(ds[dims.VOLUME].notnull().sum()) == int((raw > 0).sum())
    assert np.all(ds[dims.VOLUME].fillna(1.0).values > 0)
    np.testing.assert_array_equal(np.diff(ds[dims.TIME_DAYS].values), 4.0)
    assert transitions(ds).sizes[dims.TRANSITION] == counts["transitions"]


# --------------------------------------------------------------------------- hypothesis

COLUMN_NAMES = st.sampled_from(
    ["session", "units", "dendrite_id", "animal_id", "condition", "volum", "spine", "extra"]
)
JUNK = st.one_of(
    st.sampled_from(["", "nan", "inf", "-2", "abc", "1e", "0.5 um3", "3 nm3", "1,5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=6),
)
GOOD_CELLS = {
    "spine_id": st.sampled_from(["a", "b", "c", "007"]),
    "time_days": st.sampled_from(["0", "4", "8", "12.5"]),
    "session": st.sampled_from(["0", "1", "2"]),
    "volume": st.sampled_from(["0", "", "1", "1.5", "0.25", "2 um3"]),
    "units": st.sampled_from(["um3", ""]),
    "dendrite_id": st.sampled_from(["d1", "d2"]),
}


def cells_for(column: str) -> st.SearchStrategy[str]:
    good = GOOD_CELLS.get(column, st.sampled_from(["x", "y", ""]))
    return st.one_of(good, good, good, JUNK)


@st.composite
def long_tables(draw):
    base = ["spine_id", draw(st.sampled_from(["time_days", "session"])), "volume"]
    header = base + draw(st.lists(COLUMN_NAMES, max_size=3))
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(1, len(header)))]
    rows = draw(st.lists(st.tuples(*[cells_for(c) for c in header]), min_size=1, max_size=10))
    return header, rows


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=long_tables(),
    drop=st.booleans(),
    interval=st.sampled_from([None, 4.0]),
    suffix=st.sampled_from([".csv", ".tsv"]),
)
def test_malformed_long_tables_raise_data_error_or_account_for_every_row(
    tmp_path, table, drop, interval, suffix
):
    header, rows = table
    path = tmp_path / f"random{suffix}"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="," if suffix == ".csv" else "\t")
        writer.writerow(header)
        writer.writerows(rows)
    try:
        ds = read_long_table(path, interval_days=interval, drop_bad_rows=drop)
    except DataError as err:
        assert str(err)
        event(f"DataError: {str(err).split(': ', 1)[-1][:30]}")
        return
    event("Dataset")
    report = report_of(ds)
    report.check_accounted()
    assert report.rows_read == len(pd.read_csv(path, sep="," if suffix == ".csv" else "\t"))
    assert ds[dims.VOLUME].dims == (dims.SPINE, dims.SESSION)
    assert np.all(ds[dims.VOLUME].fillna(1.0).values > 0)
    assert np.all(np.diff(ds[dims.TIME_DAYS].values) > 0)
    json.loads(ds.attrs[dims.ATTR_INGESTION_REPORT])
