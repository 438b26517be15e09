"""Tests of the ssEM synapse-table reader (fast, no MCMC)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reader_checks import report_of

from spinefit import dims
from spinefit._version import __version__
from spinefit.errors import ConfigError, DataError
from spinefit.io.ssem import (
    ATTR_SIZE_VARIABLE,
    MULTIPLICITY,
    POST_ID,
    PRE_ID,
    multiplicity_counts,
    read_ssem,
    write_ssem,
)
from spinefit.simulate.mixtures import simulate_paired_mixture

pytestmark = pytest.mark.fast

MICRONS = ("microns_l23", "soma_subgraph_synapses_spines_v185.csv")

HEADER = "id,pre_root_id,post_root_id,cleft_vx,spine_vol_um3\n"


def write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the real MICrONS table ----------------------------------------------------------------
@functools.cache
def _read_once(path: str):
    return read_ssem(path)


@pytest.fixture
def microns(shared_data):
    return _read_once(str(shared_data(*MICRONS)))


def test_microns_self_connections_reported_and_excluded(microns):
    report = report_of(microns)
    assert report.rows_read == 1961
    assert report.rows_kept == 1959 == microns.sizes[dims.SYNAPSE]
    assert report.reasons() == {"self-connection": 2}
    assert sorted(d.row for d in report.dropped) == [628, 977]
    report.check_accounted()
    assert not np.any(microns[PRE_ID].values == microns[POST_ID].values)


def test_microns_connections_and_multiplicities(microns):
    assert len(np.unique(microns[dims.CONNECTION].values)) == 1734
    assert multiplicity_counts(microns) == {1: 1545, 2: 160, 3: 24, 4: 3, 5: 2}
    per_connection = pd.Series(microns[dims.CONNECTION].values).value_counts()
    expected = per_connection.loc[microns[dims.CONNECTION].values].to_numpy()
    np.testing.assert_array_equal(microns[MULTIPLICITY].values, expected)


def test_microns_layout_units_and_provenance(microns, shared_data):
    assert microns.attrs[dims.ATTR_DATA_KIND] == dims.KIND_SNAPSHOT
    assert microns.attrs[ATTR_SIZE_VARIABLE] == "spine_vol_um3"
    assert microns.attrs[dims.ATTR_VERSION] == __version__
    assert microns.attrs[dims.ATTR_CONTENT_HASH].startswith("sha256:")
    assert microns["spine_vol_um3"].attrs["units"] == "um^3"
    assert microns["cleft_vx"].attrs["units"] == "voxel"
    assert microns["spine_vol_um3"].dtype == np.float64
    for name in (PRE_ID, POST_ID, dims.CONNECTION, MULTIPLICITY, "ctr_pt_x_nm"):
        assert microns[name].dims == (dims.SYNAPSE,)
    assert microns["ctr_pt_z_nm"].attrs["units"] == "nm"
    # Root ids exceed 2**53: they must be read exactly, not through floats.
    raw = pd.read_csv(shared_data(*MICRONS), dtype=str)
    first = raw.iloc[0]
    assert microns[dims.SYNAPSE].values[0] == int(first["id"])
    assert microns[PRE_ID].values[0] == int(first["pre_root_id"])
    assert microns[dims.CONNECTION].values[0] == f"{first['pre_root_id']}->{first['post_root_id']}"


def test_microns_keep_self_connections(shared_data):
    dataset = read_ssem(shared_data(*MICRONS), keep_self_connections=True)
    report = report_of(dataset)
    assert dataset.sizes[dims.SYNAPSE] == 1961
    assert report.dropped == []
    assert any("self-connection" in note for note in report.notes)


# -- quirks and exclusions on small tables ------------------------------------------------------
def test_missing_and_non_positive_sizes_dropped_with_reasons(tmp_path):
    path = write(
        tmp_path,
        HEADER + "1,10,20,5,0.1\n2,10,20,5,\n3,10,21,5,0\n4,11,20,5,-0.2\n5,10,10,5,0.3\n"
        "6,12,20,,0.1\n7,12,20,5,inf\n",
    )
    dataset = read_ssem(path)
    report = report_of(dataset)
    report.check_accounted()
    assert list(dataset[dims.SYNAPSE].values) == [1]
    reasons = {d.row: d.reason for d in report.dropped}
    assert reasons == {
        2: "missing size",
        3: "non-positive size",
        4: "non-positive size",
        5: "self-connection",
        6: "missing size",
        7: "non-finite size",
    }
    assert "cleft_vx" in next(d.detail for d in report.dropped if d.row == 6)


def test_multiplicity_counts_after_exclusions(tmp_path):
    path = write(tmp_path, HEADER + "1,10,20,5,0.1\n2,10,20,5,\n3,10,20,5,0.2\n4,11,20,5,0.3\n")
    dataset = read_ssem(path)
    np.testing.assert_array_equal(dataset[MULTIPLICITY].values, [2, 2, 1])
    assert list(dataset[dims.CONNECTION].values) == ["10->20", "10->20", "11->20"]


def test_missing_cell_id_dropped_and_big_ids_stay_exact(tmp_path):
    big = 648518346349539437
    path = write(tmp_path, HEADER + f"1,{big},{big + 1},5,0.1\n2,,{big + 1},5,0.2\n")
    dataset = read_ssem(path)
    assert report_of(dataset).reasons() == {"missing cell id": 1}
    assert dataset[PRE_ID].values[0] == big
    assert dataset[dims.CONNECTION].values[0] == f"{big}->{big + 1}"


def test_custom_columns_units_tsv_and_row_ids(tmp_path):
    path = write(tmp_path, "axon\tcell\tvolume\n a1\tc1\t0.5\na1\tc1\t0.7\na2\tc1\t0.1\n", "t.tsv")
    dataset = read_ssem(
        path, size_cols=["volume"], pre_col="axon", post_col="cell", size_units={"volume": "um^3"}
    )
    assert list(dataset[dims.SYNAPSE].values) == [1, 2, 3]
    assert dataset["volume"].attrs["units"] == "um^3"
    assert list(dataset[dims.CONNECTION].values) == ["a1->c1", "a1->c1", "a2->c1"]
    assert any("row number" in note for note in report_of(dataset).notes)


def test_units_from_suffix_and_default(tmp_path):
    path = write(tmp_path, "pre_id,post_id,head_um3,psd\n1,2,0.1,3\n")
    dataset = read_ssem(path, size_cols=["head_um3", "psd"])
    assert dataset["head_um3"].attrs["units"] == "um^3"
    assert dataset["psd"].attrs["units"] == dims.DEFAULT_VOLUME_UNITS
    assert dataset.attrs[ATTR_SIZE_VARIABLE] == "head_um3"


def test_parquet_and_round_trip_of_simulated_table(tmp_path):
    simulated, _ = simulate_paired_mixture({1: 5, 2: 3, 3: 1}, random_seed=1)
    for name in ("sim.csv", "sim.parquet"):
        path = write_ssem(simulated, tmp_path / name)
        back = read_ssem(path)
        np.testing.assert_array_equal(back[dims.SYNAPSE].values, simulated[dims.SYNAPSE].values)
        np.testing.assert_allclose(back["spine_vol_um3"].values, simulated["spine_vol_um3"].values)
        np.testing.assert_array_equal(back[MULTIPLICITY].values, simulated[MULTIPLICITY].values)
        assert multiplicity_counts(back) == {1: 5, 2: 3, 3: 1}


LABELLED = (
    "id,pre_root_id,post_root_id,spine_vol_um3,condition,layer,comment\n"
    "1,10,20,0.1,ctrl,007,a\n"
    "2,10,10,0.2,ctrl,2/3,b\n"
    "3,11,20,0.3,,5,c\n"
)


def test_condition_and_label_columns_are_synapse_coords(tmp_path):
    path = write(tmp_path, LABELLED)
    dataset = read_ssem(path, label_columns=["layer"])
    assert list(dataset[dims.SYNAPSE].values) == [1, 3]  # the self-connection is dropped
    assert list(dataset[dims.CONDITION_LABEL].values) == ["ctrl", ""]
    assert list(dataset["layer"].values) == ["007", "5"]
    for name in (dims.CONDITION_LABEL, "layer"):
        assert dataset[name].dims == (dims.SYNAPSE,)
        assert dataset[name].dtype.kind == "U"
    assert "comment" not in dataset.coords
    notes = report_of(dataset).notes
    assert "ignored columns: comment" in notes
    assert "label columns kept: condition, layer" in notes


def test_condition_is_kept_without_label_columns(tmp_path):
    dataset = read_ssem(write(tmp_path, LABELLED))
    assert list(dataset[dims.CONDITION_LABEL].values) == ["ctrl", ""]
    assert "layer" not in dataset.coords
    assert "ignored columns: layer, comment" in report_of(dataset).notes
    plain = read_ssem(write(tmp_path, HEADER + "1,10,20,5,0.1\n", "plain.csv"))
    assert dims.CONDITION_LABEL not in plain.coords
    assert not any(note.startswith(("ignored", "label")) for note in report_of(plain).notes)


def test_labels_of_a_parquet_table(tmp_path):
    frame = pd.DataFrame({"pre_id": [1, 2], "post_id": [3, 3], "size": [0.1, 0.2], "layer": [4, 5]})
    frame.to_parquet(tmp_path / "t.parquet")
    dataset = read_ssem(tmp_path / "t.parquet", size_cols=["size"], label_columns=["layer"])
    assert list(dataset["layer"].values) == ["4", "5"]


def test_write_ssem_keeps_label_coords(tmp_path):
    dataset = read_ssem(write(tmp_path, LABELLED), label_columns=["layer"])
    back = read_ssem(write_ssem(dataset, tmp_path / "back.csv"), label_columns=["layer"])
    assert list(back[dims.CONDITION_LABEL].values) == ["ctrl", ""]
    assert list(back["layer"].values) == ["007", "5"]


def test_missing_label_column_lists_the_columns(tmp_path):
    path = write(tmp_path, LABELLED)
    with pytest.raises(DataError, match="no label column 'layers'") as error:
        read_ssem(path, label_columns=["layers"])
    message = one_line(error)
    assert "did you mean 'layer'?" in message and str(path) in message
    assert "columns are id, pre_root_id, post_root_id, spine_vol_um3, condition" in message
    assert error.value.column == "layers"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("spine_vol_um3", "read as an id or size column"),
        ("pre_root_id", "read as an id or size column"),
        ("id", "read as an id or size column"),
        ("connection", "already uses that name"),
        ("pre_id", "already uses that name"),
        ("", "non-empty"),
    ],
)
def test_label_column_with_another_role(tmp_path, name, match):
    text = LABELLED.replace("comment", "connection")
    with pytest.raises(ConfigError, match=match):
        read_ssem(write(tmp_path, text), label_columns=[name])


# -- bad input: one-line DataErrors naming file, row and column ---------------------------------
def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_column_suggests_closest(tmp_path):
    path = write(tmp_path, "id,pre_root_id,post_root_ids,spine_vol_um3\n1,2,3,0.1\n")
    with pytest.raises(DataError) as error:
        read_ssem(path)
    message = one_line(error)
    assert "post_root_id" in message and "did you mean 'post_root_ids'" in message
    assert str(path) in message


def test_missing_size_column_suggests_and_mentions_size_cols(tmp_path):
    path = write(tmp_path, "id,pre_root_id,post_root_id,spine_volume_um3\n1,2,3,0.1\n")
    with pytest.raises(DataError) as error:
        read_ssem(path)
    message = one_line(error)
    assert "spine_volume_um3" in message and "size_cols" in message


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_ssem(write(tmp_path, ""))


def test_header_only_and_not_a_table(tmp_path):
    with pytest.raises(DataError, match="not a table"):
        read_ssem(write(tmp_path, HEADER))
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError) as error:
        read_ssem(binary)
    one_line(error)


def test_non_numeric_size_names_row_and_column(tmp_path):
    path = write(tmp_path, HEADER + "1,10,20,5,0.1\n2,10,20,5,big\n")
    with pytest.raises(DataError) as error:
        read_ssem(path)
    assert error.value.row == 2 and error.value.column == "spine_vol_um3"
    assert "'big'" in one_line(error)


def test_duplicate_synapse_id(tmp_path):
    path = write(tmp_path, HEADER + "7,10,20,5,0.1\n8,10,20,5,0.2\n7,11,20,5,0.3\n")
    with pytest.raises(DataError) as error:
        read_ssem(path)
    assert error.value.row == 3 and error.value.column == "id"
    assert "duplicate synapse id 7 (first seen in row 1)" in one_line(error)


def test_missing_synapse_id(tmp_path):
    path = write(tmp_path, HEADER + "7,10,20,5,0.1\n,10,20,5,0.2\n")
    with pytest.raises(DataError) as error:
        read_ssem(path)
    assert error.value.row == 2
    assert "missing synapse id" in one_line(error)


def test_nothing_left(tmp_path):
    path = write(tmp_path, HEADER + "1,10,10,5,0.1\n2,10,20,5,-1\n")
    with pytest.raises(DataError, match="no synapses left"):
        read_ssem(path)


def test_ingestion_report_is_json(tmp_path):
    dataset = read_ssem(write(tmp_path, HEADER + "1,10,20,5,0.1\n"))
    raw = json.loads(dataset.attrs[dims.ATTR_INGESTION_REPORT])
    assert raw["rows_read"] == raw["rows_kept"] == 1


# -- column names in any case ---------------------------------------------------------------
def test_microns_columns_in_upper_case_read_as_lower_case(tmp_path):
    text = HEADER + "1,10,20,5,0.1\n2,10,20,6,0.2\n3,11,21,7,0.3\n"
    lower = read_ssem(write(tmp_path, text, "lower.csv"))
    mixed = read_ssem(write(tmp_path, text.upper().replace("_ROOT_", "_root_"), "mixed.csv"))
    upper = read_ssem(write(tmp_path, HEADER.upper() + text.split("\n", 1)[1], "upper.csv"))
    for dataset in (mixed, upper):
        assert list(dataset.data_vars) == ["spine_vol_um3", "cleft_vx"]
        assert dataset.attrs[ATTR_SIZE_VARIABLE] == "spine_vol_um3"
        assert dataset["spine_vol_um3"].attrs["units"] == "um^3"
        np.testing.assert_array_equal(dataset["spine_vol_um3"].values, lower["spine_vol_um3"])
        assert list(dataset[PRE_ID].values) == list(lower[PRE_ID].values)


def test_mapping_names_match_ignoring_case_and_suggest_the_closest(tmp_path):
    path = write(tmp_path, "Presyn,Postsyn,Head Volume,Condition\n1,2,0.5,WT\n1,3,0.6,KO\n")
    dataset = read_ssem(path, pre_col="PRESYN", post_col="postsyn", size_cols=["head volume"])
    assert list(dataset.data_vars) == ["Head Volume"]
    assert list(dataset[dims.CONDITION_LABEL].values) == ["WT", "KO"]
    with pytest.raises(DataError) as error:
        read_ssem(path, pre_col="Presyn", post_col="Postsin", size_cols=["Head Volume"])
    message = one_line(error)
    assert "no column 'Postsin' (given with --post-col); did you mean 'Postsyn'" in message
    assert error.value.column == "Postsin"
    with pytest.raises(DataError, match=r"missing required column 'pre_root_id'.*--pre-col"):
        read_ssem(path)
