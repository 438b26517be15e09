"""Other labs' long-table layouts: column names, header units, mappings and dates (fast)."""

from __future__ import annotations

import csv
import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reader_checks import assert_points_at, report_of

from spinefit import dims
from spinefit.errors import ConfigError, DataError
from spinefit.io.tables import header_name_and_unit
from spinefit.io.time_series import ATTR_TIME_ORIGIN
from spinefit.io.two_photon import read_long_table, read_two_photon

pytestmark = pytest.mark.fast

NEW_USER = "Spine,Day,Volume (um3)\ns1,0,0.5\ns1,2,0.6\ns1,4,0\ns2,0,0.3\ns2,4,0.35\n"
CANONICAL = "spine_id,time_days,volume\ns1,0,0.5\ns1,2,0.6\ns1,4,0\ns2,0,0.3\ns2,4,0.35\n"
VOLUMES = [[0.5, 0.6, np.nan], [0.3, np.nan, 0.35]]


def assert_same_data(ds, ids=("s1", "s2"), times=(0.0, 2.0, 4.0), volumes=VOLUMES):
    assert ds[dims.VOLUME].dims == (dims.SPINE, dims.SESSION)
    assert list(ds[dims.SPINE].values) == list(ids)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, times)
    np.testing.assert_array_equal(ds[dims.VOLUME].values, volumes)
    assert ds.attrs[dims.ATTR_DATA_KIND] == dims.KIND_TIME_SERIES


def test_spine_day_volume_with_units_is_a_long_table(write_text):
    path = write_text("new_user.csv", NEW_USER)
    ds = read_two_photon(path)
    assert_same_data(ds)
    assert ds[dims.VOLUME].attrs["units"] == "um3"
    report = report_of(ds)
    report.check_accounted()
    assert (report.rows_read, report.rows_kept, report.dropped) == (5, 5, [])
    assert "spine ids from 'Spine', times from 'Day', volumes from 'Volume (um3)'" in report.notes
    assert not any(note.startswith("ignored") for note in report.notes)


@pytest.mark.parametrize(
    "header",
    [
        "SPINE_ID,TIME_DAYS,VOLUME",
        "Spine_Id,Time_Days,Volume",
        "spine,days,vol",
        "Spine ID,Time (days),Spine Volume",
        "SpineID,time_d,head_volume",
        "spine,Day,VOLUME",
    ],
)
def test_upper_and_lower_case_column_names(write_text, header):
    text = CANONICAL.replace("spine_id,time_days,volume", header)
    assert_same_data(read_two_photon(write_text("case.csv", text)))


HEADER = "spine_id,time_days,volume"


@given(upper=st.lists(st.booleans(), min_size=len(HEADER), max_size=len(HEADER)))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_capitalisation_of_the_canonical_names_reads_the_same(write_text, upper):
    header = "".join(c.upper() if up else c for c, up in zip(HEADER, upper, strict=True))
    assert_same_data(read_two_photon(write_text("caps.csv", CANONICAL.replace(HEADER, header))))


@pytest.mark.parametrize(
    ("header", "name", "unit"),
    [
        ("Volume (um3)", "Volume", "um3"),
        ("volume (um^3)", "volume", "um^3"),
        ("volume [µm³]", "volume", "µm³"),
        ("volume_um3", "volume", "um3"),
        ("VOLUME_UM3", "VOLUME", "um3"),
        ("Time (h)", "Time", "h"),
        ("time_days", "time", "days"),
        ("spine_id", "spine_id", ""),
        ("volume_se", "volume_se", ""),
        ("dendrite id", "dendrite id", ""),
    ],
)
def test_header_name_and_unit(header, name, unit):
    assert header_name_and_unit(header) == (name, unit)


@pytest.mark.parametrize(
    ("header", "units"),
    [("volume_um3", "um3"), ("volume (um^3)", "um^3"), ("Volume [µm³]", "µm³")],
)
def test_units_from_the_volume_header(write_text, header, units):
    ds = read_two_photon(write_text("u.csv", CANONICAL.replace("volume", header, 1)))
    assert ds[dims.VOLUME].attrs["units"] == units
    assert_same_data(ds)


def test_header_unit_must_agree_with_cells_and_option(write_text):
    agree = write_text("agree.csv", "spine,day,volume_um3\na,0,0.5 um^3\na,4,0.6\n")
    assert read_two_photon(agree, volume_units="µm³")[dims.VOLUME].attrs["units"] == "µm³"
    cells = write_text("cells.csv", "spine,day,volume_um3\na,0,0.5\na,4,600 nm3\n")
    with pytest.raises(DataError, match="mixed units: 'nm3' here but 'um3' in the header") as err:
        read_two_photon(cells)
    assert_points_at(err, cells, 2, "volume_um3")
    with pytest.raises(DataError, match="volume_units 'nm3' was given") as err:
        read_two_photon(agree, volume_units="nm3")
    assert_points_at(err, agree, None, "volume_um3")


def test_column_mapping(write_text):
    path = write_text(
        "other_lab.csv",
        "Cell,Imaged at,Head size,Note\ns1,0,0.5,x\ns1,2,0.6,\ns1,4,0,\ns2,0,0.3,\ns2,4,0.35,\n",
    )
    ds = read_two_photon(path, spine_col="cell", time_col="IMAGED AT", volume_col="Head size")
    assert_same_data(ds)
    notes = report_of(ds).notes
    assert "spine ids from 'Cell', times from 'Imaged at', volumes from 'Head size'" in notes
    assert "ignored columns: Note" in notes


def test_mapping_overrides_the_recognised_names(write_text):
    path = write_text("two.csv", "spine,day,volume,corrected\na,0,1,2\na,4,1,3\n")
    ds = read_two_photon(path, volume_col="corrected")
    np.testing.assert_array_equal(ds[dims.VOLUME].values, [[2.0, 3.0]])
    assert "ignored columns: volume" in report_of(ds).notes


@pytest.mark.parametrize(
    ("option", "name", "suggestion"),
    [("spine_col", "Spne", "Spine"), ("time_col", "Dya", "Day"), ("volume_col", "Volum", "Volume")],
)
def test_bad_mapping_name_suggests_the_closest_column(write_text, option, name, suggestion):
    path = write_text("new_user.csv", NEW_USER)
    flag = "--" + option.replace("_", "-")
    with pytest.raises(DataError, match=f"no column '{name}' \\(given with {flag}\\)") as err:
        read_two_photon(path, **{option: name})
    assert f"did you mean '{suggestion}" in str(err.value)
    assert_points_at(err, path, None, name)


@pytest.mark.parametrize(
    ("header", "missing", "option"),
    [
        ("cell,Day,Volume", "spine_id", "--spine-col"),
        ("Spine,when,Volume", "time_days", "--time-col"),
        ("Spine,Day,size", "volume", "--volume-col"),
    ],
)
def test_missing_column_names_the_mapping_option(write_text, header, missing, option):
    path = write_text("missing.csv", header + "\na,0,1\n")
    with pytest.raises(DataError, match=f"missing required column '{missing}'") as err:
        read_two_photon(path)
    assert option in str(err.value)
    assert_points_at(err, path, None, missing)


def test_unrecognisable_layout_is_one_line_naming_the_mapping_options(write_text):
    path = write_text("unknown.csv", "cell,when,size\na,1,2\n")
    with pytest.raises(DataError, match="cannot tell the layout") as err:
        read_two_photon(path)
    for flag in ("--spine-col", "--time-col", "--volume-col", "--interval-days"):
        assert flag in str(err.value)
    assert_points_at(err, path, None, None)
    # The same header with session spacing is a matrix with named session columns.
    matrix = write_text("matrix.csv", "cell,first,second\na,1,2\nb,0,3\n")
    ds = read_two_photon(matrix, interval_days=4)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 4.0])


def test_date_column_is_days_since_the_first_session(write_text):
    path = write_text(
        "dates.csv",
        "Spine,Date,Volume\ns1,2024-03-01,0.5\ns1,2024-03-03,0.6\ns1,2024-03-05,0\n"
        "s2,2024-03-01,0.3\ns2,2024-03-05,0.35\n",
    )
    ds = read_two_photon(path)
    assert_same_data(ds)
    assert ds.attrs[ATTR_TIME_ORIGIN] == "2024-03-01"
    assert "time_days = days since 2024-03-01 (the first date in 'Date')" in report_of(ds).notes


def test_datetime_column_gives_fractional_days(write_text):
    path = write_text(
        "datetimes.csv",
        "spine_id,imaging_date,volume\n"
        "a,2024-03-01 10:00,1.0\na,2024-03-01 22:00,1.1\na,2024-03-03T16:00:00,1.2\n",
    )
    ds = read_two_photon(path)
    np.testing.assert_allclose(ds[dims.TIME_DAYS].values, [0.0, 0.5, 2.25])
    assert ds.attrs[ATTR_TIME_ORIGIN] == "2024-03-01 10:00:00"


def test_dates_in_a_days_column_or_a_mapped_column(write_text):
    for header in ("spine,day,volume", "spine_id,time_days,volume"):
        text = f"{header}\na,2024-02-28,1\na,2024-03-01,2\n"  # 2024 is a leap year
        ds = read_two_photon(write_text("leap.csv", text))
        np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 2.0])
    mapped = write_text("mapped.csv", "spine,when,volume\na,2024-03-01,1\na,2024-03-08,2\n")
    ds = read_two_photon(mapped, time_col="When")
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 7.0])
    assert ds.attrs[ATTR_TIME_ORIGIN] == "2024-03-01"


def test_bad_date_raises_or_is_dropped_and_reported(write_text):
    path = write_text(
        "bad_date.csv", "spine,date,volume\na,2024-03-01,1\na,03/04/2024,2\na,2024-03-09,3\n"
    )
    with pytest.raises(DataError, match="'03/04/2024' is not a date like 2024-03-01") as err:
        read_two_photon(path)
    assert_points_at(err, path, 2, "date")
    ds = read_two_photon(path, drop_bad_rows=True)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 8.0])
    report = report_of(ds)
    report.check_accounted()
    assert report.reasons() == {"unreadable date": 1}
    assert [d.row for d in report.dropped] == [2]


def test_dates_in_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "spine": ["a", "a", "b"],
            "date": [datetime.date(2024, 3, day) for day in (1, 5, 1)],
            "stamp": pd.to_datetime(["2024-03-01 06:00", "2024-03-02 00:00", "2024-03-01 06:00"]),
            "volume": [1.0, 2.0, 3.0],
        }
    )
    frame.to_parquet(tmp_path / "dates.parquet")
    by_date = read_two_photon(tmp_path / "dates.parquet", time_col="date")
    np.testing.assert_array_equal(by_date[dims.TIME_DAYS].values, [0.0, 4.0])
    by_stamp = read_two_photon(tmp_path / "dates.parquet", time_col="stamp")
    np.testing.assert_array_equal(by_stamp[dims.TIME_DAYS].values, [0.0, 0.75])
    assert by_stamp.attrs[ATTR_TIME_ORIGIN] == "2024-03-01 06:00:00"


def test_time_units_in_the_header(write_text):
    hours = write_text("hours.csv", "spine,Time (h),volume\na,0,1\na,36,2\n")
    ds = read_two_photon(hours)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 1.5])
    assert "times in 'Time (h)' converted from h to days" in report_of(ds).notes
    weeks = write_text("weeks.csv", "spine,time_weeks,volume\na,0,1\na,2,2\n")
    np.testing.assert_array_equal(read_two_photon(weeks)[dims.TIME_DAYS].values, [0.0, 14.0])
    seconds = write_text("seconds.csv", "spine,Time (s),volume\na,0,1\na,36,2\n")
    with pytest.raises(DataError, match="states the unit 's'") as err:
        read_two_photon(seconds, time_col="time (s)")
    assert_points_at(err, seconds, None, "Time (s)")


def test_session_numbers_in_any_case(write_text):
    path = write_text("sessions.csv", "Spine,Session,Volume\na,0,1\na,1,2\n")
    with pytest.raises(DataError, match="--interval-days"):
        read_two_photon(path)
    ds = read_two_photon(path, interval_days=4)
    np.testing.assert_array_equal(ds[dims.TIME_DAYS].values, [0.0, 4.0])
    assert "time_days = Session x 4" in report_of(ds).notes


def test_interval_days_with_a_days_column_is_noted(write_text):
    ds = read_two_photon(write_text("n.csv", NEW_USER), interval_days=3)
    assert "interval_days ignored: times come from column 'Day'" in report_of(ds).notes


def test_labels_and_standard_errors_in_any_case(write_text):
    path = write_text(
        "labels.csv",
        "Spine,Day,Volume,Volume_SE,Condition,Animal_ID,Region\n"
        "a,0,1,0.1,WT,m1,CA1\na,4,2,0.2,WT,m1,CA1\nb,0,3,,KO,m2,CA3\n",
    )
    ds = read_long_table(path, label_columns=["region"])
    assert list(ds[dims.CONDITION_LABEL].values) == ["WT", "KO"]
    assert list(ds[dims.ANIMAL_ID].values) == ["m1", "m2"]
    assert list(ds["region"].values) == ["CA1", "CA3"]
    np.testing.assert_array_equal(ds[dims.VOLUME_SE].values, [[0.1, 0.2], [np.nan, np.nan]])
    assert not any(note.startswith("ignored") for note in report_of(ds).notes)
    with pytest.raises(ConfigError, match="read as the spine id, time or volume"):
        read_long_table(path, label_columns=["day"])


def test_columns_differing_only_in_case_are_ambiguous(write_text):
    path = write_text("twice.csv", "spine,day,Volume,VOLUME\na,0,1,2\n")
    with pytest.raises(DataError, match="differ only in case"):
        read_two_photon(path, volume_col="volume")
    exact = write_text("exact.csv", "spine,day,volume,Volume\na,0,1,2\n")
    np.testing.assert_array_equal(read_two_photon(exact)[dims.VOLUME].values, [[1.0]])


def test_bundled_data_reads_as_before():
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "data"
    for name in ("demo_timeseries.csv", "wt_ko_timeseries.csv"):
        ds = read_two_photon(data / name)
        frame = pd.read_csv(data / name)
        report = report_of(ds)
        report.check_accounted()
        assert report.rows_read == len(frame)
        assert ds.sizes[dims.SPINE] == frame["spine_id"].nunique()
        assert not any(note.startswith("spine ids from") for note in report.notes)


HEADERS = {
    "spine": ["Spine", "SPINE_ID", "spine id", "cell"],
    "time": ["Day", "Date", "Time (h)", "Session", "when"],
    "volume": ["Volume (um3)", "VOLUME", "volume_nm3", "size"],
}
MAPPED = {"cell": "spine_col", "when": "time_col", "size": "volume_col"}
JUNK = st.sampled_from(["", "x", "-1", "inf", "2024-02-30", "03/01/2024", "7 nm3", "2.5"])
DATES = st.sampled_from(["2024-03-01", "2024-03-02 10:00", "2024-03-05"])
GOOD = {
    "spine": st.sampled_from(["s1", "s2", "s3"]),
    "time": st.sampled_from(["0", "1", "4"]),
    "volume": st.sampled_from(["0", "", "1", "2.5", "0.5 um3"]),
}


@st.composite
def layouts(draw):
    names = {role: draw(st.sampled_from(choices)) for role, choices in HEADERS.items()}
    dated = names["time"] in ("Date", "when")
    good = GOOD | ({"time": DATES} if dated else {})
    roles = draw(st.permutations(list(names)))
    rows = draw(
        st.lists(
            st.tuples(*[st.one_of(good[r], good[r], good[r], JUNK) for r in roles]),
            min_size=1,
            max_size=8,
        )
    )
    options = {MAPPED[n]: n.upper() for n in names.values() if n in MAPPED}
    return [names[r] for r in roles], rows, options


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(layout=layouts(), drop=st.booleans(), interval=st.sampled_from([None, 2.0]))
def test_other_layouts_raise_one_line_or_account_for_every_row(tmp_path, layout, drop, interval):
    header, rows, options = layout
    path = tmp_path / "layout.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    try:
        ds = read_two_photon(path, interval_days=interval, drop_bad_rows=drop, **options)
    except DataError as err:
        assert str(err) and "\n" not in str(err)
        event(f"DataError: {str(err).split(': ', 1)[-1][:30]}")
        return
    event("Dataset")
    report = report_of(ds)
    report.check_accounted()
    assert report.rows_read == len(rows)
    assert np.all(ds[dims.VOLUME].fillna(1.0).values > 0)
    assert np.all(np.diff(ds[dims.TIME_DAYS].values) > 0)
