"""Tests of the wide-matrix reader: .npy/CSV/Parquet matrices, session times, dendrite maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reader_checks import assert_points_at, report_of

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.tables import combined_hash, file_hash
from spinefit.io.two_photon import read_two_photon
from spinefit.io.wide_matrix import read_wide_matrix

pytestmark = pytest.mark.fast

MATRIX = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, np.nan], [np.nan, 0.5, 0.6]])


def test_npy_matrix(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, MATRIX)
    ds = read_wide_matrix(path, interval_days=2)
    assert list(ds[dims.SPINE].values) == ["s0000", "s0002"]
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, np.nan, 2.0], [np.nan, 0.5, 0.6]])
    report = report_of(ds)
    assert (report.rows_read, report.rows_kept) == (3, 2)
    assert report.reasons() == {"never present": 1}
    assert report.dropped[0].row == 2
    assert ds.attrs[dims.ATTR_CONTENT_HASH] == file_hash(path)


def test_npy_session_times_and_their_errors(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, MATRIX)
    ds = read_wide_matrix(path, session_times=[0, 1, 7])
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 1.0, 7.0])
    with pytest.raises(DataError, match="no session times.*--interval-days") as err:
        read_wide_matrix(path)
    assert_points_at(err, path, None, None)
    with pytest.raises(DataError, match="not strictly increasing") as err:
        read_wide_matrix(path, session_times=[0, 4, 4])
    assert_points_at(err, path, None, "3")
    with pytest.raises(DataError, match="session_times has 2 values"):
        read_wide_matrix(path, session_times=[0, 4])
    with pytest.raises(ConfigError, match="not both"):
        read_wide_matrix(path, session_times=[0, 4, 8], interval_days=4)


@pytest.mark.parametrize(
    "array",
    [np.ones(4), np.ones((2, 2, 2)), np.array([["a", "b"]]), np.zeros((0, 3)), np.ones((2, 2)) > 0],
)
def test_npy_that_is_not_a_2d_numeric_array(tmp_path, array):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(DataError, match="2-D numeric array") as err:
        read_wide_matrix(path, interval_days=4)
    assert_points_at(err, path, None, None)


def test_npy_unreadable(tmp_path):
    pickled = tmp_path / "object.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    text = tmp_path / "text.npy"
    text.write_text("not an array")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    for path in (pickled, text, empty):
        with pytest.raises(DataError) as err:
            read_two_photon(path, interval_days=4)
        assert_points_at(err, path, None, None)


@pytest.mark.parametrize(
    ("value", "match"), [(-1.0, "volume -1.0 is negative"), (np.inf, "volume inf is not a number")]
)
def test_npy_bad_cell_names_row_and_column(tmp_path, value, match):
    matrix = MATRIX.copy()
    matrix[2, 1] = value
    path = tmp_path / "m.npy"
    np.save(path, matrix)
    with pytest.raises(DataError, match=match) as err:
        read_wide_matrix(path, interval_days=4)
    assert_points_at(err, path, 3, "2")


def test_dendrite_map(tmp_path):
    path, map_path = tmp_path / "m.npy", tmp_path / "map.npy"
    np.save(path, MATRIX)
    np.save(map_path, np.array([0.0, 1.0, 12.0]))
    ds = read_wide_matrix(path, interval_days=4, dendrite_map=map_path)
    assert list(ds[dims.DENDRITE_ID].values) == ["0", "12"]
    assert ds.attrs[dims.ATTR_CONTENT_HASH] == combined_hash([path, map_path])
    assert ds.attrs[dims.ATTR_CONTENT_HASH] != file_hash(path)
    np.save(map_path, np.array([0, 1]))
    with pytest.raises(DataError, match="2 entries but .* has 3 spine rows") as err:
        read_wide_matrix(path, interval_days=4, dendrite_map=map_path)
    assert_points_at(err, map_path, None, None)
    np.save(map_path, np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DataError, match="not a finite number") as err:
        read_wide_matrix(path, interval_days=4, dendrite_map=map_path)
    assert_points_at(err, map_path, 2, None)


@pytest.mark.parametrize(
    ("text", "options", "ids", "times"),
    [
        ("1,0,2\n0,0,\n,0.5,0.6\n", {"interval_days": 4}, ["s0000", "s0002"], [0, 4, 8]),
        ("0,4,8\n1,0,2\n0,0,\n,0.5,0.6\n", {}, ["s0000", "s0002"], [0, 4, 8]),
        ("0,4,8\n1,0,2\n0,0,\n,0.5,0.6\n", {"interval_days": 4}, ["s0000", "s0002"], [0, 4, 8]),
        (",0,1,2\n0,1,0,2\n1,0,0,\n2,,0.5,0.6\n", {"interval_days": 3}, ["0", "2"], [0, 3, 6]),
        ("spine_id,day0,day 2,5d\na,1,0,2\nb,0,0,\nc,,0.5,0.6\n", {}, ["a", "c"], [0, 2, 5]),
        ("a,1,0,2\nb,0,0,\nc,,0.5,0.6\n", {"session_times": [0, 1, 3]}, ["a", "c"], [0, 1, 3]),
        ("x,y,z\n1,0,2\n0,0,\n,0.5,0.6\n", {"interval_days": 1}, ["s0000", "s0002"], [0, 1, 2]),
    ],
)
def test_wide_csv_layouts(write_text, text, options, ids, times):
    path = write_text("wide.csv", text)
    ds = read_two_photon(path, **options)
    assert list(ds[dims.SPINE].values) == ids
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, times)
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, np.nan, 2.0], [np.nan, 0.5, 0.6]])
    assert report_of(ds).reasons() == {"never present": 1}


def test_wide_csv_errors(write_text):
    column_numbers = write_text("numbers.csv", "0,1,2\n1,0,2\n0.5,0.6,0.7\n")
    with pytest.raises(DataError, match="looks like column numbers"):
        read_wide_matrix(column_numbers)
    assert read_wide_matrix(column_numbers, interval_days=4).sizes[dims.SPINE] == 2
    conflict = write_text("conflict.csv", "day0,day4,day8\n1,0,2\n")
    with pytest.raises(DataError, match=r"header gives session times \[0, 4, 8\]"):
        read_wide_matrix(conflict, interval_days=3)
    bad_cell = write_text("cell.csv", "spine_id,day0,day4\na,1,0\nb,oops,1\n")
    with pytest.raises(DataError, match="volume 'oops' is not a number") as err:
        read_wide_matrix(bad_cell)
    assert_points_at(err, bad_cell, 2, "day0")
    unsorted = write_text("unsorted.csv", "0,8,4\n1,0,2\n")
    with pytest.raises(DataError, match="no session times"):
        read_wide_matrix(unsorted)
    header_unsorted = write_text("hunsorted.csv", "day0,day8,day4\n1,0,2\n")
    with pytest.raises(DataError, match="not strictly increasing") as err:
        read_wide_matrix(header_unsorted)
    assert_points_at(err, header_unsorted, None, "day4")
    mixed = write_text("mixed.csv", "day0,day4\n1 um3,2 um3\n3 um3,300 nm3\n")
    with pytest.raises(DataError, match="mixed units") as err:
        read_wide_matrix(mixed)
    assert_points_at(err, mixed, 2, "day4")
    repeated = write_text("repeated.csv", "spine_id,day0,day4\na,1,0\na,1,1\n")
    with pytest.raises(DataError, match="repeats row 1") as err:
        read_wide_matrix(repeated)
    assert_points_at(err, repeated, 2, "spine_id")


def test_parquet_wide_matrix(tmp_path):
    path = tmp_path / "wide.parquet"
    pd.DataFrame({"spine_id": ["a", "b"], "0": [1.0, 0.0], "4": [np.nan, 2.0]}).to_parquet(path)
    ds = read_two_photon(path)
    assert list(ds[dims.SPINE].values) == ["a", "b"]
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 4.0])
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, np.nan], [np.nan, 2.0]])


def test_wide_csv_units(write_text):
    path = write_text("units.csv", "day0,day4\n1 um3,2um3\n3 µm^3,\n")
    ds = read_wide_matrix(path)
    assert ds[dims.VOLUME].attrs["units"] == "um3"
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[1.0, 2.0], [3.0, np.nan]])
