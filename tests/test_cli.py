"""Command line: exit codes, one-line errors, JSON output, atomic writes."""

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinefit.cli import app
from spinefit.results import load_result

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, code=2, *fragments):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spinefit: error:")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_commands_with_examples():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("fit", "summary", "report", "demo"):
        assert command in result.output
    result = run("fit", "--help")
    assert result.exit_code == 0 and "Example" in result.output
    from spinefit.models import model_names

    flat = " ".join(result.output.split())
    for name in model_names():
        assert name in flat, name


def test_shim_behaves_like_console_script():
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "summary" in result.stdout


def test_missing_column_is_one_line_exit_2_and_writes_nothing(tmp_path):
    table = tmp_path / "spines.csv"
    table.write_text("spine_id,time_days,volum\ns1,0,1.0\ns1,2,1.1\n")
    before = table.read_bytes()
    out = tmp_path / "fit.nc"
    result = run("fit", table, "--out", out, "--quiet")
    assert_one_line_error(result, 2, "spines.csv", "volume", "volum")
    assert not out.exists()
    assert table.read_bytes() == before
    assert list(tmp_path.iterdir()) == [table]


def test_missing_input_file(tmp_path):
    result = run("fit", tmp_path / "nope.csv", "--out", tmp_path / "x.nc", "--quiet")
    assert_one_line_error(result, 2, "not found")


def test_unknown_model(tmp_path):
    result = run("fit", REPO / "data" / "demo_timeseries.csv", "--model", "nonsense", "--quiet")
    assert_one_line_error(result, 2, "unknown model")


def test_summary_rejects_a_non_result(tmp_path):
    bogus = tmp_path / "bogus.nc"
    bogus.write_text("not netcdf")
    assert_one_line_error(run("summary", bogus), 2, "not a readable")


def test_summary_json_is_one_object(small_fit_path):
    result = run("summary", small_fit_path, "--json", "--grid", "0.5,1,1.5")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["model"] == "drift-diffusion"
    assert body["curves"]["drift"]["w"] == [0.5, 1.0, 1.5]


def test_summary_table(small_fit_path):
    result = run("summary", small_fit_path)
    assert result.exit_code == 0
    assert "elimination_per_day" in result.stdout and "max_r_hat" in result.stdout


def test_bad_grid_is_one_line_error(small_fit_path):
    assert_one_line_error(run("summary", small_fit_path, "--grid", "a,b"), 2, "--grid")


def test_report_is_self_contained(small_fit_path, tmp_path):
    out = tmp_path / "r.html"
    result = run("report", small_fit_path, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    for anchor in ("data", "model", "diagnostics", "results", "provenance"):
        assert f'href="#{anchor}"' in page and f'id="{anchor}"' in page
    assert "<svg" in page
    assert 'src="http' not in page and 'href="http' not in page and "@import" not in page
    assert "Drift and diffusion" in page


def test_fit_end_to_end_with_strict(tmp_path):
    out = tmp_path / "fit.nc"
    result = run(
        "fit",
        REPO / "data" / "demo_timeseries.csv",
        "--out",
        out,
        "--draws",
        "150",
        "--tune",
        "150",
        "--seed",
        "3",
        "--ess-target",
        "0",
        "--quiet",
        "--strict",
    )
    # 150 draws give a bulk ESS below 400, so --strict must report non-convergence (3),
    # after saving the complete result.
    assert result.exit_code == 3, result.output
    assert "did not converge" in result.stderr
    assert out.exists()
    assert json.loads(run("summary", out, "--json").stdout)["provenance"]["random_seed"] == 3


@pytest.mark.parametrize(
    "args", [["--draws", "0"], ["--sampler", "metropolis"], ["--retry-target-accept", "1.0"]]
)
def test_bad_sampler_settings(args, tmp_path):
    result = run("fit", REPO / "data" / "demo_timeseries.csv", "--out", tmp_path / "x.nc", *args)
    assert_one_line_error(result, 2)


def test_outputs_get_ordinary_permissions(small_fit_path, tmp_path):
    import os
    import stat

    out = tmp_path / "perm.html"
    assert run("report", small_fit_path, "--out", out, "--quiet").exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_check_stores_the_ppc_that_the_report_reads(small_fit_path, tmp_path):
    fit = tmp_path / "fit.nc"
    shutil.copy(small_fit_path, fit)
    before = run("report", fit, "--out", tmp_path / "before.html", "--quiet")
    assert before.exit_code == 0, before.output
    assert f"spinefit check {fit}" in html.unescape((tmp_path / "before.html").read_text())

    out = tmp_path / "ppc.nc"
    result = run("check", fit, "--draws", "30", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"stationary", "turnover"} <= set(body)
    assert 0.0 <= body["stationary"]["ks"]["p_value"] <= 1.0
    assert body["stored"] == str(fit)
    assert out.exists()
    stored = load_result(fit)["ppc"].to_dataset()
    assert stored.sizes["draw"] == 30
    assert float(stored["ks_p_value"]) == pytest.approx(body["stationary"]["ks"]["p_value"])

    after = run("report", fit, "--out", tmp_path / "after.html", "--quiet")
    assert after.exit_code == 0, after.output
    page = (tmp_path / "after.html").read_text()
    assert "Distance and bimodality statistics" in page
    assert "spinefit check" not in html.unescape(page)


def test_simulate_is_an_alias_of_check(small_fit_path, tmp_path):
    fit = tmp_path / "fit.nc"
    shutil.copy(small_fit_path, fit)
    result = run("simulate", fit, "--draws", "20", "--json")
    assert result.exit_code == 0, result.output
    assert "'simulate' is now 'spinefit check'" in result.stderr
    assert json.loads(result.stdout)["stored"] == str(fit)
    assert "ppc" in load_result(fit).children


def test_check_refuses_to_write_its_table_over_the_result(small_fit_path, tmp_path):
    fit = tmp_path / "fit.nc"
    shutil.copy(small_fit_path, fit)
    before = fit.read_bytes()
    assert_one_line_error(run("check", fit, "--out", fit), 2, "overwrite")
    assert fit.read_bytes() == before


@pytest.mark.parametrize("command", ["check", "simulate"])
def test_check_rejects_a_non_result(tmp_path, command):
    bogus = tmp_path / "x.nc"
    bogus.write_bytes(b"\x89HDF\r\n")
    assert_one_line_error(run(command, bogus), 2)


def test_compare_needs_a_condition_result(small_fit_path):
    assert_one_line_error(run("compare", small_fit_path), 2, "condition")


def _split_wt_ko(tmp_path, n_spines_per_genotype=60):
    """Write the WT and KO halves of the bundled example as two files (days 0/4/.. each)."""
    import pandas as pd

    table = pd.read_csv(REPO / "data" / "wt_ko_timeseries.csv")
    paths = []
    for genotype in ("WT", "KO"):
        part = table[table["condition"] == genotype].drop(columns="condition")
        keep = part["spine_id"].drop_duplicates().iloc[:n_spines_per_genotype]
        path = tmp_path / f"{genotype.lower()}.csv"
        part[part["spine_id"].isin(keep)].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_fit_labelled_files_compares_conditions(tmp_path):
    wt, ko = _split_wt_ko(tmp_path)
    before = wt.read_bytes()
    out = tmp_path / "wtko.nc"
    args = ("--out", out, "--draws", "100", "--tune", "100", "--ess-target", "0", "-q")
    args += ("-o", "loo=false", "--retry-target-accept", "0")
    result = run("fit", ko, wt, "--label", "KO", "--label", "WT", *args)
    assert result.exit_code == 0, result.output
    settings = json.loads(load_result(out).attrs["sampler_settings"])
    assert settings["retry_target_accept"] == 0
    assert wt.read_bytes() == before
    compared = json.loads(
        run("compare", out, "--json", "--rope", "a=0.01", "--rope-ratio", "1.2").stdout
    )
    assert compared["reference"] == "WT"
    assert set(compared["contrasts"]["d"]) == {"KO"}
    assert set(compared["curves"]) == {"drift", "diffusion", "stationary"}
    assert compared["contrasts"]["a"]["KO"]["rope"] == {"kind": "difference", "value": 0.01}
    assert compared["contrasts"]["d"]["KO"]["rope"] == {"kind": "ratio", "value": 1.2}
    text = run("compare", out).stdout
    assert "Findings (primary contrasts, judged jointly):" in text
    assert "contrasts were examined" in text
    # One half-width for quantities in different units is refused in one line.
    assert_one_line_error(run("compare", out, "--rope", "0.005"), 2, "NAME=VALUE")


def test_fit_label_count_must_match_files(tmp_path):
    wt, ko = _split_wt_ko(tmp_path, 5)
    result = run("fit", wt, ko, "--label", "WT", "--out", tmp_path / "x.nc", "--quiet")
    assert_one_line_error(result, 2, "--label")
    assert not (tmp_path / "x.nc").exists()


def test_fit_by_none_ignores_condition_column(tmp_path, monkeypatch):
    import pandas as pd

    from spinefit.models.drift_diffusion import DriftDiffusion

    table = pd.read_csv(REPO / "data" / "wt_ko_timeseries.csv")
    small = tmp_path / "small.csv"
    table[table["spine_id"].isin(table["spine_id"].unique()[::8])].to_csv(small, index=False)
    out = tmp_path / "pooled.nc"
    args = ("--out", out, "--draws", "60", "--tune", "60", "--ess-target", "0", "-q")
    args += ("--by", "none")
    # The model's own warnings about the result (e.g. the grid check) travel the same way.
    monkeypatch.setattr(DriftDiffusion, "result_warnings", lambda self, tree: ["model line"])
    result = run("fit", small, *args)
    assert result.exit_code == 0
    assert "warning: model line" in result.stderr
    # 60 draws cannot reach a bulk ESS of 400: the fit says so even with --quiet, and the
    # result carries the same line for the report.
    assert "warning: min bulk ESS" in result.stderr
    stored = json.loads(load_result(out).attrs["convergence_warnings"])
    assert any("bulk ESS" in w for w in stored) and "model line" in stored
    summary = json.loads(run("summary", out, "--json").stdout)
    assert summary["model"] == "drift-diffusion"
    result = run("fit", small, "--out", tmp_path / "g.nc", "--by", "genotype", "--quiet")
    assert_one_line_error(result, 2, "genotype")


def test_fit_takes_the_detection_limit_of_the_table_and_says_so(tmp_path):
    import pandas as pd

    from spinefit.workflow import data_choices

    table = pd.read_csv(REPO / "data" / "demo_timeseries.csv")
    table = table[table["spine_id"].isin(table["spine_id"].unique()[::6])]
    limit = 0.9 * table["volume"][table["volume"] > 0].min()
    small = tmp_path / "limited.csv"
    table.assign(detection_limit=limit).to_csv(small, index=False)
    out = tmp_path / "limited.nc"
    args = ("--draws", "40", "--tune", "40", "--ess-target", "0", "--seed", "1")
    result = run("fit", small, "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert f"detection limit {limit:.4g} " in result.stderr
    config = json.loads(load_result(out).attrs["spinefit_config"])
    assert config["detection_limit"] == pytest.approx(limit)
    # "-o detection_limit=none" turns it off (tests/models/test_latent_op.py), silently.
    assert data_choices(load_result(out), {"detection_limit": "none"}) == []


def test_by_keeps_any_ssem_column(tmp_path):
    table = tmp_path / "syn.csv"
    rows = ["id,pre_root_id,post_root_id,spine_vol_um3,dendrite_id"]
    rows += [f"{i},{100 + i % 7},{200 + i % 5},{0.05 + 0.01 * i},d1" for i in range(40)]
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "x.nc"
    result = run("fit", table, "--model", "mixture", "--by", "dendrite_id", "--out", out, "-q")
    # The column was read (a missing one says "no per-synapse 'dendrite_id' column"): the
    # fit stops because it has a single value.
    assert_one_line_error(result, 2, "'dendrite_id' has one value")
    assert not out.exists()


OTHER_LAB = "Cell,Imaged at,Head size\ns1,2024-03-01,0.5\ns1,2024-03-03,0.6\ns2,2024-03-01,0.3\n"


@pytest.mark.fast
def test_fit_maps_the_columns_of_other_labs(tmp_path, monkeypatch):
    """--spine-col, --time-col and --volume-col reach the reader (the fit itself is faked)."""
    import xarray as xr

    import spinefit.workflow as workflow

    read = {}

    def fake_fit_file(inputs, model, out, *, input_options, **kwargs):
        read["data"] = workflow.load_input(inputs[0], None, input_options)
        return xr.DataTree()

    monkeypatch.setattr(workflow, "fit_file", fake_fit_file)
    table = tmp_path / "other_lab.csv"
    table.write_text(OTHER_LAB)
    mapping = ("--spine-col", "CELL", "--time-col", "imaged at", "--volume-col", "Head size")
    result = run("fit", table, *mapping, "--out", tmp_path / "x.nc", "--quiet")
    assert result.exit_code == 0, result.output
    data = read["data"]
    assert list(data["spine"].values) == ["s1", "s2"]
    assert list(data["time_days"].values) == [0.0, 2.0]
    assert data.attrs["time_origin"] == "2024-03-01"


@pytest.mark.fast
@pytest.mark.parametrize(
    ("flag", "name", "suggestion"),
    [("--spine-col", "Cel", "Cell"), ("--time-col", "imaged", "Imaged at")],
)
def test_fit_bad_mapping_name_is_one_line_exit_2(tmp_path, flag, name, suggestion):
    table = tmp_path / "other_lab.csv"
    table.write_text(OTHER_LAB)
    out = tmp_path / "x.nc"
    result = run("fit", table, flag, name, "--out", out, "--quiet")
    assert_one_line_error(result, 2, "other_lab.csv", flag, f"did you mean '{suggestion}'")
    assert not out.exists()


@pytest.mark.fast
def test_fit_unrecognised_layout_names_the_mapping_options(tmp_path):
    table = tmp_path / "other_lab.csv"
    table.write_text(OTHER_LAB)
    out = tmp_path / "x.nc"
    result = run("fit", table, "--out", out, "--quiet")
    assert_one_line_error(result, 2, "--spine-col", "--time-col", "--volume-col")
    assert not out.exists()


@pytest.mark.fast
def test_help_imports_no_numerical_stack():
    """`spinefit --help` stays fast (< 1 s): building the CLI imports neither xarray nor PyMC."""
    code = "import sys, spinefit.cli; print(sorted({'xarray', 'pymc', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.fast
def test_the_analysis_modules_import_no_plotting():
    """Statistics come from arviz-stats, not the arviz umbrella, which imports arviz-plots
    and matplotlib.pyplot (about 0.4 s); only the report needs plotting."""
    code = (
        "import sys, spinefit.workflow, spinefit.stats, spinefit.models.drift_diffusion; "
        "print(sorted({'arviz', 'arviz_plots', 'matplotlib.pyplot'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
