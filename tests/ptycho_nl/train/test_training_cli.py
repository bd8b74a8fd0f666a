"""`ptycho-nl train` and `python -m ptycho_nl.train`: job summary, exit codes, failed jobs.

Selected by `pytest -k training_cli` (the gate evidence agents run).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from train_runs import summary_line, train_args
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.io_utils import sha256_file

runner = CliRunner()
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny jobs on a shared 2-core machine


@pytest.fixture
def config_file(tmp_path, tiny_config):
    path = tmp_path / "train.json"
    path.write_text(tiny_config(epochs=2).model_dump_json())
    return path


def test_train_command_completes_and_prints_the_job_summary(config_file, tiny_npz, tmp_path):
    run = tmp_path / "run"
    argv = ["train", *train_args(config_file, tiny_npz, run)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    summary = summary_line(result.stdout)
    assert summary["status"] == "completed" and summary["error"] is None
    assert summary["bundle_path"] == "bundle.zip"  # relative to the run directory
    assert summary["bundle_sha256"] == sha256_file(run / "bundle.zip")
    assert summary["bundle_size_bytes"] == (run / "bundle.zip").stat().st_size
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["bundle_sha256"] == summary["bundle_sha256"]
    again = runner.invoke(app, argv)
    assert again.exit_code == 0 and summary_line(again.stdout)["status"] == "skipped"


def test_missing_key_is_a_failed_job_with_the_contract_message(
    config_file, missing_key_npz, tmp_path
):
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config_file),
            "--data",
            str(missing_key_npz),
            "--out",
            str(run),
            "--no-progress",
            "--skip-qc",  # past the QC refusal, to the loader's contract check
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: training failed:") and "probeGuess" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert summary_line(result.stdout)["status"] == "failed"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "probeGuess" in manifest["error"]


def test_invalid_config_is_a_failed_job_naming_the_field(tiny_npz, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": 2, "batchsize": 8}))
    result = runner.invoke(
        app, ["train", "--config", str(bad), "--data", str(tiny_npz), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1
    assert "batchsize" in result.stderr and str(bad) in result.stderr
    assert json.loads((tmp_path / "r/manifest.json").read_text())["status"] == "failed"


def test_missing_option_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert not (tmp_path / "r").exists()


def test_help_documents_every_option():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--config", "--data", "--out", "--resume", "--log-gpu-stats"):
        assert option in result.output


@pytest.mark.slow
def test_python_dash_m_entry_point_runs_a_real_job(config_file, tiny_npz, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "ptycho_nl.train", *train_args(config_file, tiny_npz, run)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ONE_THREAD,
    )
    assert proc.returncode == 0, proc.stderr
    summary = summary_line(proc.stdout)
    assert summary["status"] == "completed"
    assert summary["bundle_sha256"] == sha256_file(run / summary["bundle_path"])


def test_console_script_fails_in_one_line_without_traceback(config_file, missing_key_npz, tmp_path):
    exe = shutil.which("ptycho-nl")
    assert exe is not None, "the ptycho-nl console script is not installed"
    proc = subprocess.run(
        [
            exe,
            "train",
            "--config",
            str(config_file),
            "--data",
            str(missing_key_npz),
            "--out",
            str(tmp_path / "run"),
            "--skip-qc",  # past the QC refusal, to the loader's contract check
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ONE_THREAD,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "probeGuess" in error_lines[0]


def test_log_gpu_stats_without_a_gpu_says_so_once(tiny_npz, tiny_config, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the fields are logged instead")
    config = tmp_path / "one.json"
    config.write_text(tiny_config(epochs=1, telemetry={"log_every_steps": 1}).model_dump_json())
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--data",
            str(tiny_npz),
            "--out",
            str(run),
            "--log-gpu-stats",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (run / "logs/training.log").read_text().count("GPU telemetry unavailable") == 1
    events = [json.loads(x) for x in (run / "logs/events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["kind"] == "telemetry_unavailable"]
    assert not any("gpu_mem_mb" in e for e in events)
    assert json.loads((run / "config.json").read_text())["telemetry"]["log_gpu_stats"] is True
