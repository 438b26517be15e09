"""`spinefit batch`: manifests, task running, and a 2-worker LocalCluster run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinefit.batch.cluster import IN_PROCESS, TaskOutcome, run_tasks
from spinefit.batch.compile_dirs import claim_compile_dir
from spinefit.batch.manifest import read_manifest
from spinefit.cli import app
from spinefit.errors import ConfigError, SpinefitError
from spinefit.options import parse_option_pairs

runner = CliRunner()


def _write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def table(tmp_path):
    return _write(tmp_path / "spines.csv", "spine_id,time_days,volume\ns1,0,1.0\ns1,2,1.1\n")


@pytest.mark.fast
def test_manifest_rows_are_typed_and_inputs_resolved(tmp_path, table):
    manifest = _write(
        tmp_path / "m.csv",
        "Label,Input,options,draws,session_times,labels\n"
        "a,spines.csv,family=power grid_points=32;noise=additive,300,0;2;5,\n"
        "b,spines.csv;spines.csv,,,,WT;KO\n"
        ",,,,,\n",
    )
    rows = read_manifest(manifest)
    assert [r.label for r in rows] == ["a", "b"]
    assert rows[0].inputs == [str(table.resolve())]
    assert rows[0].settings == {
        "options": {"family": "power", "grid_points": 32, "noise": "additive"},
        "draws": 300,
        "session_times": [0.0, 2.0, 5.0],
    }
    assert rows[1].inputs == [str(table.resolve())] * 2
    assert rows[1].settings == {"labels": ["WT", "KO"]}


@pytest.mark.fast
def test_other_labs_column_names_json_options_and_default_labels(tmp_path, table):
    manifest = _write(
        tmp_path / "m.csv",
        'Path,Name,Config,Random_Seed\nspines.csv,,"{""family"": ""power""}",4\n',
    )
    (row,) = read_manifest(manifest)
    assert row.label == "spines"
    assert row.settings == {"options": {"family": "power"}, "seed": 4}


@pytest.mark.fast
def test_fingerprint_follows_settings_and_input_contents(tmp_path, table):
    manifest = _write(tmp_path / "m.csv", "label,input,seed\na,spines.csv,1\n")
    before = read_manifest(manifest)[0].fingerprint()
    assert read_manifest(manifest)[0].fingerprint() == before
    _write(manifest, "label,input,seed\na,spines.csv,2\n")
    assert read_manifest(manifest)[0].fingerprint() != before
    _write(manifest, "label,input,seed\na,spines.csv,1\n")
    _write(table, table.read_text() + "s1,4,1.2\n")
    assert read_manifest(manifest)[0].fingerprint() != before


@pytest.mark.fast
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label,input,wibble\na,spines.csv,1\n", "unknown manifest column(s) wibble"),
        ("label,draws\na,3\n", "needs an input column"),
        ("path,file\nspines.csv,spines.csv\n", "several columns mean input (path, file)"),
        ("label,input,options\na,spines.csv,{1: 2}\n", "options are not a JSON object"),
        ("label,input\na,spines.csv\na,spines.csv\n", "label 'a' already used on line 2"),
        ("label,input\n../x,spines.csv\n", "label '../x' must start"),
        ("label,input\na,missing.csv\n", "missing.csv not found"),
        ("label,input,draws\na,spines.csv,many\n", "draws must be an integer, got 'many'"),
        ("label,input,options\na,spines.csv,family\n", "options takes KEY=VALUE"),
        ("label,input\n", "has no rows"),
    ],
)
def test_bad_manifests_fail_in_one_line(tmp_path, table, text, message):
    manifest = _write(tmp_path / "m.csv", text)
    with pytest.raises(ConfigError, match=None) as err:
        read_manifest(manifest)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.fast
def test_option_pairs_read_json_values():
    assert parse_option_pairs(["a=1", "b-c=x", "d=[1, 2]", "e=true"]) == {
        "a": 1,
        "b_c": "x",
        "d": [1, 2],
        "e": True,
    }


def _square_or_fail(x):
    if x < 0:
        raise SpinefitError(f"negative: {x}")
    if x == 0:
        raise ZeroDivisionError("zero\nsecond line")
    return x * x


@pytest.mark.fast
def test_in_process_tasks_record_failures_and_go_on():
    outcomes = list(
        run_tasks(
            _square_or_fail,
            [("p", {"x": 3}), ("n", {"x": -1}), ("z", {"x": 0})],
            scheduler=IN_PROCESS,
            progress=False,
        )
    )
    by_key = {o.key: o for o in outcomes}
    assert by_key["p"] == TaskOutcome("p", True, 9, None, by_key["p"].seconds)
    assert not by_key["n"].ok and by_key["n"].error == "negative: -1"
    assert by_key["z"].error == "ZeroDivisionError: zero"


@pytest.mark.fast
def test_task_options_are_checked():
    with pytest.raises(ConfigError, match="unique"):
        list(run_tasks(_square_or_fail, [("a", {"x": 1})] * 2, scheduler=IN_PROCESS))
    with pytest.raises(ConfigError, match="cannot be used with --scheduler"):
        list(run_tasks(_square_or_fail, [("a", {"x": 1})], scheduler="tcp://h:1", workers=2))
    with pytest.raises(ConfigError, match=">= 1"):
        list(run_tasks(_square_or_fail, [("a", {"x": 1})], workers=0))


@pytest.mark.fast
def test_a_locked_compile_dir_is_not_shared(tmp_path):
    first, lock = claim_compile_dir("0", tmp_path)
    second, lock2 = claim_compile_dir("0", tmp_path)
    assert first != second and first.name == "worker-0" and second.name == "worker-0-2"
    lock.close()
    third, lock3 = claim_compile_dir("0", tmp_path)
    assert third == first
    lock2.close()
    lock3.close()


@pytest.mark.fast
def test_cli_bad_manifest_is_exit_2_and_writes_nothing(tmp_path, table):
    manifest = _write(tmp_path / "m.csv", "label,input,model\na,spines.csv,nonsense\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(manifest), "--out", str(out)])
    assert result.exit_code == 2
    assert "unknown model 'nonsense'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_batch_on_a_two_worker_cluster_records_failures_and_resumes(tmp_path, small_timeseries):
    """Tiny fits on a LocalCluster: one bad data set, then a re-run that reuses the rest."""
    from spinefit.simulate.synthetic import write_example

    data, truth = small_timeseries
    write_example(data, truth, tmp_path / "good.csv", "test")
    _write(tmp_path / "bad.csv", "spine_id,time_days,volume\ns1,0,x\n")
    manifest = _write(
        tmp_path / "m.csv",
        "label,input,likelihood,seed\n"
        "one,good.csv,moments,1\n"
        "two,good.csv,moments,2\n"
        "broken,bad.csv,moments,3\n",
    )
    out = tmp_path / "out"
    args = ["batch", str(manifest), "--out", str(out), "--draws", "100", "--tune", "100"]
    args += ["--ess-target", "0", "-q"]
    # In a child process: dask leaves threads behind in the process that ran a cluster,
    # and later tests that fork would inherit them.
    first = subprocess.run(
        [sys.executable, "-m", "spinefit", *args, "--workers", "2"],
        capture_output=True,
        text=True,
        env=os.environ | {"SPINEFIT_COMPILE_ROOT": str(tmp_path / "compile")},
    )
    assert first.returncode == 4, first.stderr
    assert "failed: broken:" in first.stderr and "is not a number" in first.stderr
    for name in ("one.nc", "one.html", "two.nc", "two.html", "index.html", "summary.csv"):
        assert (out / name).is_file(), name
    assert not (out / "broken.nc").exists()
    # each worker compiled in a dir of its own
    assert sorted(p.name for p in (tmp_path / "compile").iterdir()) == ["worker-0", "worker-1"]

    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["label"]) == {"one", "two", "broken"}
    fitted = summary[summary["status"] == "ok"]
    assert {"a", "b", "c", "d"} <= set(fitted["parameter"])
    assert (fitted["hdi_low"] <= fitted["hdi_high"]).all()
    failed = summary[summary["label"] == "broken"]
    assert len(failed) == 1 and "is not a number" in failed["error"].iloc[0]
    assert pd.read_parquet(out / "summary.parquet").shape == summary.shape
    index = (out / "index.html").read_text()
    assert 'href="one.html"' in index and "is not a number" in index

    # Resume: the completed rows are reused untouched, the failed one is tried again.
    stamp = os.stat(out / "one.nc").st_mtime_ns
    _write(tmp_path / "bad.csv", (tmp_path / "good.csv").read_text())
    second = runner.invoke(app, [*args, "--scheduler", IN_PROCESS])
    assert second.exit_code == 0, second.output
    assert os.stat(out / "one.nc").st_mtime_ns == stamp
    assert (out / "broken.nc").is_file()
    record = json.loads((out / "records" / "broken.json").read_text())
    assert record["status"] == "ok"


def _compile_dir_of_worker():
    return os.environ.get("PYTENSOR_FLAGS", "")


SCHEDULER_SCRIPT = """
import json, os, sys
from distributed import LocalCluster
from spinefit.batch.cluster import run_tasks
sys.path.insert(0, sys.argv[1])
from test_batch import _compile_dir_of_worker, _square_or_fail

if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        items = [("p", {"x": 2}), ("n", {"x": -2})]
        out = {o.key: [o.value, o.error] for o in run_tasks(
            _square_or_fail, items, scheduler=cluster.scheduler_address, progress=False)}
        (flags,) = [o.value for o in run_tasks(
            _compile_dir_of_worker, [("f", {})], scheduler=cluster.scheduler_address,
            progress=False)]
    print(json.dumps({"outcomes": out, "flags": flags}))
"""


@pytest.mark.fast
def test_tasks_run_on_a_running_scheduler_with_isolated_compile_dirs(tmp_path):
    """The --scheduler path: a cluster started elsewhere, reached by its address.

    Run in a child process, so that no dask threads stay behind in the test process.
    """
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=os.environ | {"SPINEFIT_COMPILE_ROOT": str(tmp_path / "compile")},
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout.strip().splitlines()[-1])
    assert body["outcomes"]["p"] == [4, None]
    assert body["outcomes"]["n"] == [None, "negative: -2"]
    assert f"compiledir={tmp_path / 'compile'}/worker-" in body["flags"]


@pytest.mark.fast
def test_an_unreachable_scheduler_is_a_one_line_error(monkeypatch):
    import spinefit.batch.cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ConfigError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        list(run_tasks(_square_or_fail, [("a", {"x": 1})], scheduler="tcp://127.0.0.1:9"))
