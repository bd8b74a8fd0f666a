"""`ptycho-nl train` refuses data whose QC record is missing, failed or of other data, as a
failed job naming why; `--skip-qc` trains and records the override in the manifest."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.gates.data_qc import run_data_qc
from ptycho_nl.simulate import PRESETS, simulate_train_test
from ptycho_nl.simulate.shards import write_shard_set

runner = CliRunner()
SMALL = [
    "--model",
    "pinn",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--set",
    "model.channels=[4,8,8]",
]


def _train(data, run, *extra):
    argv = ["train", *SMALL, "--data", str(data), "--out", str(run), "--no-progress", *extra]
    return runner.invoke(app, argv)


def _refused(result, run, *words):
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert line.startswith("error: training failed:") and "\n" not in line, result.stderr
    assert all(w in line for w in words), line
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and all(w in manifest["error"] for w in words)
    assert manifest["data_qc"] is None and manifest["compute"]["wall_s"] >= 0  # counted too
    assert not (run / "bundle.zip").exists() and not (run / "checkpoints").exists()


def test_data_without_a_qc_record_is_refused(tiny_npz, tmp_path):
    data = shutil.copy(tiny_npz, tmp_path / "unchecked.npz")
    _refused(_train(data, tmp_path / "run"), tmp_path / "run", "no QC record", "tools gate data")


def test_data_whose_qc_failed_is_refused_naming_the_items(tmp_path):
    pilot = tmp_path / "pilot"
    simulate_train_test(PRESETS["tiny"], pilot)
    shutil.copy(pilot / "train.npz", pilot / "test.npz")  # test region = training region
    report, _ = run_data_qc(pilot)
    assert not report.passed
    run = tmp_path / "run"
    _refused(_train(pilot / "train.npz", run), run, "failed", "split_disjoint")


def test_data_changed_after_its_qc_record_is_refused(tiny_npz, tmp_path):
    data = shutil.copy(tiny_npz, tmp_path / "tiny.npz")
    shutil.copy(tiny_npz.with_name("tiny.qc.json"), tmp_path / "tiny.qc.json")
    with np.load(data, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["diffraction"] = arrays["diffraction"][::-1].copy()  # same values, other order
    np.savez(data, **arrays)
    run = tmp_path / "run"
    _refused(_train(data, run), run, "is of other data")


@pytest.mark.slow  # one real epoch
def test_skip_qc_trains_and_records_the_override(tiny_npz, tmp_path):
    data = shutil.copy(tiny_npz, tmp_path / "unchecked.npz")
    run = tmp_path / "run"
    result = _train(data, run, "--skip-qc")
    assert result.exit_code == 0, result.output
    qc = json.loads((run / "manifest.json").read_text())["data_qc"]
    assert qc["status"] == "skipped" and qc["override"] == "--skip-qc"
    assert "no QC record" in qc["found"]


@pytest.mark.slow  # one real epoch
def test_a_checked_shard_set_trains_and_the_manifest_names_its_record(tmp_path):
    shards = tmp_path / "set"
    write_shard_set(PRESETS["tiny"], shards, 2)
    report, record = run_data_qc(shards)
    assert report.passed, report.failing()
    run = tmp_path / "run"
    result = _train(shards, run)
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    qc = manifest["data_qc"]
    assert qc["status"] == "passed" and qc["record"] == str(record)
    assert qc["record_sha256"] == json.loads(record.read_text())["record_sha256"]
