"""Tests of transitions and turnover counts with an ``imaged`` mask (fast, no MCMC)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spinefit import dims
from spinefit.errors import DataError
from spinefit.io.combine import combine_labelled
from spinefit.io.transitions import count_transitions, transitions, turnover_intervals
from spinefit.io.two_photon import read_two_photon

pytestmark = pytest.mark.fast

# Imaged at days 0, 4, 8: both spines always present.
EVERY_FOURTH_DAY = """spine_id,time_days,volume
a1,0,1.0
a1,4,1.1
a1,8,1.2
"""
# Imaged at days 0, 2, 4.
EVERY_SECOND_DAY = """spine_id,time_days,volume
b1,0,3.0
b1,2,3.1
b1,4,3.2
"""
# As above, but a2 is eliminated at day 4 and re-forms at day 8, b1 is eliminated at day 4.
WITH_TURNOVER_A = EVERY_FOURTH_DAY + "a2,0,2.0\na2,4,0\na2,8,2.2\n"
WITH_TURNOVER_B = """spine_id,time_days,volume
b1,0,3.0
b1,2,3.1
b1,4,0
b2,0,4.0
b2,2,4.1
b2,4,4.2
"""


def read_pair(write_text, first: str, second: str) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Read two long tables and return them with their combination (labels A and B)."""
    a = read_two_photon(write_text("a.csv", first))
    b = read_two_photon(write_text("b.csv", second))
    return a, b, combine_labelled([a, b], ["A", "B"])


def transition_multiset(table: xr.Dataset, prefix: str = "") -> Counter:
    """Return the transitions as a multiset of (spine id, w_start, w_end, dt_days)."""
    return Counter(
        zip(
            [prefix + str(s) for s in table[dims.SPINE_ID].values],
            table["w_start"].values.tolist(),
            table["w_end"].values.tolist(),
            table["dt_days"].values.tolist(),
            strict=True,
        )
    )


# --------------------------------------------------------------------------- combine


def test_combined_files_with_different_sessions_get_an_imaged_mask(write_text):
    _, _, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_SECOND_DAY)
    np.testing.assert_array_equal(both[dims.TIME_DAYS].values, [0.0, 2.0, 4.0, 8.0])
    imaged = both[dims.IMAGED]
    assert imaged.dims == (dims.SPINE, dims.SESSION)
    assert imaged.dtype == bool
    np.testing.assert_array_equal(imaged.values, [[1, 0, 1, 1], [1, 1, 1, 0]])
    assert dims.IMAGED not in both.data_vars


def test_files_with_the_same_sessions_get_no_imaged_mask(write_text):
    _, _, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_FOURTH_DAY.replace("a1", "b1"))
    assert dims.IMAGED not in both.variables
    assert count_transitions(both)["transitions"] == 4


def test_recombining_keeps_each_spines_imaged_sessions(write_text):
    a, b, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_SECOND_DAY)
    c = read_two_photon(write_text("c.csv", "spine_id,time_days,volume\nc1,1,5\nc1,2,6\n"))
    again = combine_labelled([both, c], ["AB", "C"], by="batch")
    np.testing.assert_array_equal(again[dims.TIME_DAYS].values, [0.0, 1.0, 2.0, 4.0, 8.0])
    np.testing.assert_array_equal(
        again[dims.IMAGED].values, [[1, 0, 0, 1, 1], [1, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
    )
    assert transitions(again).sizes[dims.TRANSITION] == 5


# --------------------------------------------------------------------------- transitions


def test_transitions_are_the_union_of_each_files_own(write_text):
    a, b, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_SECOND_DAY)
    table = transitions(both)
    assert table.sizes == {dims.TRANSITION: 4}
    own = transition_multiset(transitions(a), "A/") + transition_multiset(transitions(b), "B/")
    assert transition_multiset(table) == own
    # Ordered by spine then session; session_start counts sessions of the union of times.
    assert list(table[dims.SPINE_ID].values) == ["A/a1", "A/a1", "B/b1", "B/b1"]
    np.testing.assert_array_equal(table["session_start"].values, [0, 2, 0, 1])
    np.testing.assert_array_equal(table["dt_days"].values, [4.0, 4.0, 2.0, 2.0])
    np.testing.assert_array_equal(table["spine_index"].values, [0, 0, 1, 1])
    np.testing.assert_array_equal(table[dims.TRANSITION].values, [0, 1, 2, 3])


def test_sessions_not_imaged_are_not_absence(write_text):
    _, _, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_SECOND_DAY)
    assert count_transitions(both) == {
        "spines": 2,
        "sessions": 4,
        "present": 6,
        "transitions": 4,
        "formations": 0,
        "eliminations": 0,
        "at_risk_formation": 0,
        "at_risk_elimination": 4,
    }
    # Without the mask the NaN padding reads as turnover: the case the mask exists for.
    unmasked = count_transitions(both.drop_vars(dims.IMAGED))
    # A1 "leaves" at day 2 and "returns" at day 4; b1 "leaves" at day 8.
    assert (unmasked["eliminations"], unmasked["formations"]) == (2, 1)


def test_turnover_intervals_are_per_file_with_their_own_gaps(write_text):
    a, b, both = read_pair(write_text, EVERY_FOURTH_DAY, EVERY_SECOND_DAY)
    table = turnover_intervals(both)
    assert table.sizes == {"interval": 4}
    np.testing.assert_array_equal(table["interval"].values, [0, 1, 2, 3])
    np.testing.assert_array_equal(table["dt_days"].values, [4.0, 4.0, 2.0, 2.0])
    np.testing.assert_array_equal(table["present_start"].values, [1, 1, 1, 1])
    np.testing.assert_array_equal(table["eliminated"].values, [0, 0, 0, 0])
    np.testing.assert_array_equal(table["formed"].values, [0, 0, 0, 0])
    for name in ("present_start", "eliminated", "formed"):
        assert table[name].dtype == np.int64
    own = xr.concat([turnover_intervals(a), turnover_intervals(b)], dim="interval")
    np.testing.assert_array_equal(table["dt_days"].values, own["dt_days"].values)


def test_absence_at_an_imaged_session_still_counts(write_text):
    a, b, both = read_pair(write_text, WITH_TURNOVER_A, WITH_TURNOVER_B)
    counts = count_transitions(both)
    assert counts == {
        "spines": 4,
        "sessions": 4,
        "present": 10,
        "transitions": 5,
        "formations": 1,
        "eliminations": 2,
        "at_risk_formation": 1,
        "at_risk_elimination": 7,
    }
    for key in counts.keys() - {"sessions"}:
        assert counts[key] == count_transitions(a)[key] + count_transitions(b)[key], key
    table = turnover_intervals(both)
    np.testing.assert_array_equal(table["dt_days"].values, [4.0, 4.0, 2.0, 2.0])
    np.testing.assert_array_equal(table["present_start"].values, [2, 1, 2, 2])
    np.testing.assert_array_equal(table["eliminated"].values, [1, 0, 0, 1])
    np.testing.assert_array_equal(table["formed"].values, [0, 1, 0, 0])
    own = xr.concat([turnover_intervals(a), turnover_intervals(b)], dim="interval")
    for name in ("dt_days", "present_start", "eliminated", "formed"):
        np.testing.assert_array_equal(table[name].values, own[name].values, err_msg=name)
    trans = transitions(both)
    own_trans = transition_multiset(transitions(a), "A/") + transition_multiset(
        transitions(b), "B/"
    )
    assert transition_multiset(trans) == own_trans


def test_mask_is_sorted_with_the_sessions():
    # Sessions stored out of time order (days 4, 0, 8); the second spine skips day 0.
    ds = _series(
        [[1.0, 2.0, 3.0], [4.0, np.nan, 5.0]],
        times=[4.0, 0.0, 8.0],
        imaged=[[True, True, True], [True, False, True]],
    )
    table = transitions(ds)
    np.testing.assert_array_equal(table["w_start"].values, [2.0, 1.0, 4.0])
    np.testing.assert_array_equal(table["w_end"].values, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(table["dt_days"].values, [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(table["session_start"].values, [0, 1, 1])
    assert count_transitions(ds)["eliminations"] == 0


def test_a_mask_imaging_everything_changes_nothing():
    volume = [[1.0, np.nan, 2.0, 0.5], [np.nan, 3.0, 3.5, np.nan], [1.0, 1.0, np.nan, 1.0]]
    plain = _series(volume, times=[0.0, 3.0, 1.0, 9.0])
    masked = plain.assign_coords({dims.IMAGED: (plain[dims.VOLUME].dims, np.ones((3, 4), bool))})
    xr.testing.assert_identical(transitions(masked), transitions(plain))
    xr.testing.assert_identical(turnover_intervals(masked), turnover_intervals(plain))
    assert count_transitions(masked) == count_transitions(plain)


def test_a_malformed_mask_is_a_data_error():
    ds = _series([[1.0, 2.0]], times=[0.0, 1.0])
    per_session = ds.assign_coords({dims.IMAGED: (dims.SESSION, [True, False])})
    with pytest.raises(DataError, match="imaged"):
        transitions(per_session)
    as_numbers = ds.assign_coords({dims.IMAGED: ((dims.SPINE, dims.SESSION), [[1.0, 0.0]])})
    with pytest.raises(DataError, match="imaged"):
        count_transitions(as_numbers)


# --------------------------------------------------------------------------- property


def _series(volume, times, imaged=None) -> xr.Dataset:
    """Return a minimal time series Dataset, with an ``imaged`` coord if one is given."""
    volume = np.asarray(volume, dtype=float)
    coords = {
        dims.SPINE: [f"s{i}" for i in range(volume.shape[0])],
        dims.TIME_DAYS: (dims.SESSION, np.asarray(times, dtype=float)),
    }
    if imaged is not None:
        coords[dims.IMAGED] = ((dims.SPINE, dims.SESSION), np.asarray(imaged, dtype=bool))
    return xr.Dataset({dims.VOLUME: ((dims.SPINE, dims.SESSION), volume)}, coords=coords)


def _reference(volume: np.ndarray, times: np.ndarray, imaged: np.ndarray):
    """Walk each spine's imaged sessions in time order, one spine at a time."""
    order = np.argsort(times, kind="stable")
    volume, times, imaged = volume[:, order], times[order], imaged[:, order]
    present = np.isfinite(volume) & (volume > 0) & imaged
    rows, counts = [], Counter()
    for spine in range(volume.shape[0]):
        columns = np.flatnonzero(imaged[spine])
        counts["present"] += int(present[spine].sum())
        for start, end in zip(columns[:-1], columns[1:], strict=True):
            was, now = present[spine, start], present[spine, end]
            counts["transitions"] += int(was and now)
            counts["formations"] += int(not was and now)
            counts["eliminations"] += int(was and not now)
            counts["at_risk_formation"] += int(not was)
            counts["at_risk_elimination"] += int(was)
            counts["spine_days_at_risk"] += float(times[end] - times[start]) * was
            if was and now:
                rows.append((spine, start, volume[spine, start], volume[spine, end]))
    return rows, counts, times


@st.composite
def masked_series(draw):
    n_spines = draw(st.integers(1, 6))
    n_sessions = draw(st.integers(1, 5))
    cells = st.sampled_from([np.nan, 0.0, 0.5, 1.0, 2.0])
    volume = draw(hnp.arrays(float, (n_spines, n_sessions), elements=cells))
    imaged = draw(hnp.arrays(bool, (n_spines, n_sessions)))
    times = draw(st.permutations([0.0, 1.0, 2.5, 4.0, 7.0][:n_sessions]))
    return volume, np.asarray(times), imaged


@settings(max_examples=150, deadline=None)
@given(masked_series())
def test_masked_counts_match_a_spine_by_spine_walk(case):
    volume, times, imaged = case
    rows, expected, sorted_times = _reference(volume, times, imaged)
    ds = _series(volume, times, imaged)
    counts = count_transitions(ds)
    assert (counts["spines"], counts["sessions"]) == volume.shape
    for key in ("present", "transitions", "formations", "eliminations"):
        assert counts[key] == expected[key], key
    assert counts["at_risk_formation"] == expected["at_risk_formation"]
    assert counts["at_risk_elimination"] == expected["at_risk_elimination"]

    table = transitions(ds)
    spine, start, w_start, w_end = (
        (np.array(c) for c in zip(*rows, strict=True)) if rows else [[]] * 4
    )
    np.testing.assert_array_equal(table["spine_index"].values, spine)
    np.testing.assert_array_equal(table["session_start"].values, start)
    np.testing.assert_array_equal(table["w_start"].values, w_start)
    np.testing.assert_array_equal(table["w_end"].values, w_end)
    later = [np.flatnonzero(imaged[s][np.argsort(times, kind="stable")]) for s in spine]
    ends = [cols[np.searchsorted(cols, s0) + 1] for cols, s0 in zip(later, start, strict=True)]
    np.testing.assert_array_equal(
        table["dt_days"].values, sorted_times[np.asarray(ends, int)] - sorted_times[start]
    )

    intervals = turnover_intervals(ds)
    np.testing.assert_array_equal(
        intervals["interval"].values, np.arange(intervals.sizes["interval"])
    )
    assert int(intervals["present_start"].sum()) == expected["at_risk_elimination"]
    assert int(intervals["eliminated"].sum()) == expected["eliminations"]
    assert int(intervals["formed"].sum()) == expected["formations"]
    spine_days = float((intervals["present_start"] * intervals["dt_days"]).sum())
    assert spine_days == pytest.approx(expected["spine_days_at_risk"])
    assert np.all(intervals["dt_days"].values > 0)


def test_imaged_by_group_marks_sessions_a_group_did_not_image():
    from spinefit.io.transitions import imaged_by_group

    # One table, two conditions imaged on different days: A at 0/4/8, B at 0/2/4.
    volume = np.array(
        [
            [1.0, np.nan, 1.1, 1.2],  # A
            [2.0, np.nan, 2.1, np.nan],  # A, eliminated after day 4
            [1.0, 1.05, 1.1, np.nan],  # B
        ]
    )
    ds = xr.Dataset(
        {dims.VOLUME: ((dims.SPINE, dims.SESSION), volume)},
        coords={dims.TIME_DAYS: (dims.SESSION, [0.0, 2.0, 4.0, 8.0])},
    )
    labels = np.array(["A", "A", "B"])
    assert count_transitions(ds)["transitions"] == 3  # A's 0->4 transitions are lost
    marked = imaged_by_group(ds, labels)
    np.testing.assert_array_equal(
        marked[dims.IMAGED].values,
        [[True, False, True, True], [True, False, True, True], [True, True, True, False]],
    )
    counts = count_transitions(marked)
    assert (counts["transitions"], counts["eliminations"], counts["formations"]) == (5, 1, 0)
    np.testing.assert_allclose(sorted(transitions(marked)["dt_days"].values), [2, 2, 4, 4, 4])
    same_days = ds.isel({dims.SESSION: [0, 2]})  # both groups imaged days 0 and 4
    assert dims.IMAGED not in imaged_by_group(same_days, labels).coords
