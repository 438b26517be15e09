"""Stack and ROI readers: sessions, memory mapping, one-line errors on bad input."""

import numpy as np
import pytest
import tifffile

from spinefit.errors import ConfigError, DataError
from spinefit.io.images import find_sessions, open_stack, read_rois

pytestmark = pytest.mark.fast

SHAPE = (4, 16, 16)


def write_folder(tmp_path, times=(0, 2), shape=SHAPE):
    for k, _ in enumerate(times):
        tifffile.imwrite(
            tmp_path / f"s{k}.tif", np.full(shape, k + 1, dtype=np.uint16), photometric="minisblack"
        )
    lines = ["file,time_days"] + [f"s{k}.tif,{t}" for k, t in enumerate(times)]
    (tmp_path / "sessions.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def write_rois(tmp_path, rows):
    path = tmp_path / "rois.csv"
    path.write_text("roi_id,kind,x,y,z\n" + "\n".join(rows) + "\n")
    return path


def test_folder_sessions_are_sorted_by_time(tmp_path):
    write_folder(tmp_path, times=(4, 0))
    sessions = find_sessions([tmp_path])
    assert [s.time_days for s in sessions] == [0.0, 4.0]
    assert sessions[0].path.name == "s1.tif"
    assert find_sessions([tmp_path / "sessions.csv"]) == sessions


def test_listed_stacks_need_times(tmp_path):
    write_folder(tmp_path)
    files = [tmp_path / "s0.tif", tmp_path / "s1.tif"]
    with pytest.raises(ConfigError, match="--session-times"):
        find_sessions(files)
    assert [s.time_days for s in find_sessions(files, interval_days=3)] == [0.0, 3.0]
    assert [s.time_days for s in find_sessions(files, session_times=[1, 5])] == [1.0, 5.0]
    with pytest.raises(ConfigError, match="2 stacks but 3"):
        find_sessions(files, session_times=[1, 2, 3])


def test_missing_session_file_and_table(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "s1.tif").unlink()
    with pytest.raises(DataError, match="s1.tif: stack file not found"):
        find_sessions([tmp_path])
    (tmp_path / "sessions.csv").unlink()
    with pytest.raises(DataError, match="no sessions.csv"):
        find_sessions([tmp_path])


def test_repeated_time_is_an_error(tmp_path):
    write_folder(tmp_path, times=(0, 0))
    with pytest.raises(DataError, match="two sessions at time 0"):
        find_sessions([tmp_path])


def test_uncompressed_stack_is_memory_mapped(tmp_path):
    data = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="minisblack")
    stack = open_stack(tmp_path / "a.tif")
    assert isinstance(stack, np.memmap)
    np.testing.assert_array_equal(stack, data)


def test_compressed_stack_is_read(tmp_path):
    data = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    tifffile.imwrite(tmp_path / "a.tif", data, compression="zlib", photometric="minisblack")
    np.testing.assert_array_equal(open_stack(tmp_path / "a.tif"), data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((16, 16), dtype=np.uint16), "expected one channel"),
        (np.zeros((2, 4, 16, 16), dtype=np.uint16), "expected one channel"),
        (np.zeros(SHAPE, dtype=np.complex64), "not real numbers"),
    ],
)
def test_bad_stacks(tmp_path, data, message):
    tifffile.imwrite(tmp_path / "bad.tif", data, photometric="minisblack")
    with pytest.raises(DataError, match=message):
        open_stack(tmp_path / "bad.tif")


def test_rgb_tiff_is_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 16, 16), dtype=np.uint8), photometric="rgb")
    with pytest.raises(DataError, match="colour"):
        open_stack(tmp_path / "rgb.tif")


def test_not_a_tiff(tmp_path):
    (tmp_path / "bad.tif").write_text("hello")
    with pytest.raises(DataError, match="not a readable TIFF"):
        open_stack(tmp_path / "bad.tif")


def test_rois_are_split_by_kind(tmp_path):
    path = write_rois(tmp_path, ["a,spine,3,4,1", "b,shaft,5,6,2", "c,Spine,7,8,0"])
    rois = read_rois(path, SHAPE)
    assert rois.spine_ids == ["a", "c"]
    np.testing.assert_array_equal(rois.spine_zyx, [[1, 4, 3], [0, 8, 7]])
    np.testing.assert_array_equal(rois.shaft_zyx, [[2, 6, 5]])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["a,spine,3,4,1", "b,dendrite,5,6,2"], "row 2, column 'kind'"),
        (["a,spine,3,4,1", "b,shaft,x5,6,2"], "column 'x': x = 'x5' is not a number"),
        (["a,spine,3,4,1", "b,shaft,5,16,2"], "lies outside the volume"),
        (["a,spine,3,4,1", "b,shaft,5,6,-1"], "column 'z'"),
        (["a,spine,3,4,1", "a,shaft,5,6,2"], "repeats"),
        (["a,spine,3,4,1"], "no shaft ROIs"),
        (["b,shaft,5,6,2"], "no spine ROIs"),
    ],
)
def test_bad_rois(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        read_rois(write_rois(tmp_path, rows), SHAPE)


def test_roi_table_missing_column(tmp_path):
    path = tmp_path / "rois.csv"
    path.write_text("roi_id,kind,x,y\na,spine,1,2\n")
    with pytest.raises(DataError, match="'z'"):
        read_rois(path, SHAPE)
