"""`ptycho-nl train` flags: `--model/--epochs/--batch-size/--lr/--seed` and `--set key.path=value`
build the run's TrainConfig together with an optional `--config` file; `--json` prints the
`{ok, data, error}` envelope. (The job itself: tests/ptycho_nl/train/test_training_cli.py.)"""

import json

import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.cli.train_cmds import resolve_job_config
from ptycho_nl.config import override_fields
from ptycho_nl.io_utils import sha256_file
from ptycho_nl.train.config import TrainConfig

runner = CliRunner()
SMALL_NET = ["--set", "model.channels=[4,8,8]"]  # a tiny network: the run takes a few seconds


@pytest.mark.slow  # the first optimiser step of a process loads torch's compiler stack: ~5 s
@pytest.mark.usefixtures("one_torch_thread")
def test_flags_alone_train_a_real_model_without_a_config_file(tiny_npz, tmp_path):
    run = tmp_path / "run"
    argv = ["train", "--model", "pinn", "--epochs", "1", "--batch-size", "16", "--lr", "0.003"]
    argv += ["--seed", "2", *SMALL_NET, "--data", str(tiny_npz), "--out", str(run)]
    result = runner.invoke(app, [*argv, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["error"] is None
    summary = payload["data"]
    assert summary["status"] == "completed"
    assert summary["bundle_sha256"] == sha256_file(run / summary["bundle_path"])
    written = json.loads((run / "config.json").read_text())
    assert written.pop("config_digest") == summary["config_digest"]
    expected = TrainConfig.model_validate(
        {
            "model": {"name": "pinn", "channels": [4, 8, 8]},
            "epochs": 1,
            "batch_size": 16,
            "optimizer": {"lr": 0.003},
            "seed": 2,
        }
    )
    assert TrainConfig.model_validate(written) == expected  # fields not given: the defaults
    assert summary["config_digest"] == expected.digest


def test_config_file_then_flags_then_set(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"epochs": 4, "batch_size": 8, "optimizer": {"weight_decay": 0.1}}))
    flags = {"epochs": 2, "optimizer.lr": None, "model.name": "supervised"}
    sets = ["epochs=3", "data.max_groups=null", "loss.kind=amplitude_mae", "model.amp_max=1.5"]
    cfg = resolve_job_config(path, flags, sets)
    assert cfg.epochs == 3  # --set comes last
    assert cfg.batch_size == 8 and cfg.optimizer.weight_decay == 0.1  # kept from the file
    assert cfg.optimizer.lr == TrainConfig().optimizer.lr  # a flag not given changes nothing
    assert cfg.model.name == "supervised" and cfg.model.amp_max == 1.5
    assert cfg.data.max_groups is None and cfg.loss.kind == "amplitude_mae"
    assert resolve_job_config(None, {}, []) == TrainConfig()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"batchsize": 8}))
    assert resolve_job_config(bad, {"epochs": 2}, []) == bad  # train() records the failed job


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "model.nme=pinn"], ["unknown key 'model.nme'", "under 'model'", "amp_max"]),
        (["--set", "epoch=2"], ["unknown key 'epoch'", "epochs", "optimizer"]),
        (["--set", "epochs"], ["expected KEY=VALUE"]),
        (["--epochs", "0"], ["epochs", "greater than or equal to 1"]),
        (["--lr", "-1"], ["optimizer.lr"]),
    ],
)
def test_bad_flags_and_overrides_are_usage_errors_before_any_work(tiny_npz, tmp_path, args, words):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", *args, "--data", str(tiny_npz), "--out", str(run)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and all(w in line for w in words), line
    assert not run.exists()


def test_json_envelope_of_a_failed_job(tiny_npz, tmp_path):
    from ptycho_nl.data.npz import read_npz_arrays, write_npz_deterministic

    arrays = read_npz_arrays(tiny_npz)
    del arrays["probeGuess"]
    bad = write_npz_deterministic(tmp_path / "no_probe.npz", arrays)
    argv = ["train", *SMALL_NET, "--data", str(bad), "--out", str(tmp_path / "run"), "--json"]
    argv.append("--skip-qc")  # past the QC refusal, to the contract check of the loader
    result = runner.invoke(app, [*argv, "--no-progress"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["data"]["status"] == "failed"
    assert payload["error"].startswith("training failed:") and "probeGuess" in payload["error"]


def test_help_names_the_flags_and_every_config_field():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # rich wraps long lines
    for option in ("--model", "--epochs", "--batch-size", "--lr", "--seed", "--set", "--json"):
        assert option in text
    for field in override_fields(TrainConfig):
        assert f"{field.key} ({json.dumps(field.default)})" in text, field.key
