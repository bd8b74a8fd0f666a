"""`python -m ptycho_nl.train`: a library entry point that sets the process up itself and does
not go through the command line package (dependencies point one way: cli -> train)."""

import json
import os
import subprocess
import sys

import pytest

from ptycho_nl.runtime import configure_threads
from ptycho_nl.train.__main__ import main


def test_importing_the_entry_point_loads_neither_the_cli_nor_torch():
    probe = (
        "import sys, ptycho_nl.train.__main__; "
        "print('ptycho_nl.cli' in sys.modules, 'torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_entry_point_sets_the_thread_policy_first(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_configure_threads_keeps_a_policy_the_caller_chose(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_missing_data_option_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "--data" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_failed_job_exits_1_with_one_error_line(missing_key_npz, tmp_path, capsys):
    code = main(["--data", str(missing_key_npz), "--out", str(tmp_path / "run"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("error: training failed:") and "probeGuess" in captured.err
    assert '"status": "failed"' in captured.out.strip().splitlines()[-1]


def test_set_overrides_a_field_and_a_bad_key_is_a_usage_error(tiny_npz, tmp_path, capsys):
    run = tmp_path / "run"
    sets = ["--set", "epochs=1", "--set", "data.max_groups=8", "--set", "batch_size=4"]
    code = main(["--data", str(tiny_npz), "--out", str(run), "--no-progress", *sets])
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 1 and config["data"]["max_groups"] == 8
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    capsys.readouterr()
    code = main(["--data", str(tiny_npz), "--out", str(tmp_path / "bad"), "--set", "epoch=2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "epoch" in err
    assert not (tmp_path / "bad").exists()
