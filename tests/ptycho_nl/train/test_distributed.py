"""DDP under torchrun: 2 gloo processes on CPU, rank-0-only writes, one digest on every rank."""

import json
import shutil
import subprocess
import sys

import pytest
from train_runs import train_args


def _two_ranks(cfg, data, tmp_path):
    """`ptycho_nl.train` with `cfg` in 2 gloo processes; both must complete. Returns the run
    directory and each rank's JSON summary."""
    config, run = tmp_path / "train.json", tmp_path / "run"
    config.write_text(cfg.model_dump_json())
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    argv = [*launcher, "--standalone", "--nproc_per_node=2", "-m", "ptycho_nl.train"]
    args = train_args(config, data, run)
    proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert sorted(s["rank"] for s in summaries) == [0, 1]
    assert all(s["status"] == "completed" for s in summaries)
    return run, summaries


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tiny_npz, tiny_config, tmp_path):
    run, summaries = _two_ranks(tiny_config(epochs=2), tiny_npz, tmp_path)
    digest = tiny_config(epochs=2).digest
    assert {s["config_digest"] for s in summaries} == {digest}
    # rank 0 alone wrote: one start line, one line per epoch, one bundle in the manifest
    log = (run / "logs/training.log").read_text().splitlines()
    assert sum("Training started" in line for line in log) == 1
    assert "world_size=2" in log[0]
    events = [json.loads(x) for x in (run / "logs/events.jsonl").read_text().splitlines()]
    assert [e["num"] for e in events if e["kind"] == "epoch"] == [1, 2]
    assert all(e["config_digest"] == digest for e in events)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["config_digest"] == digest
    assert [s["bundle_path"] for s in summaries if s["rank"] == 1] == [None]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best_model.pt",
        "checkpoint_epoch_1.pt",
        "checkpoint_epoch_2.pt",
        "last_model.pt",
    ]


@pytest.mark.slow
def test_torchrun_ranks_stop_early_together(tiny_npz, tiny_config, tmp_path):
    # At this rate the tiny network saturates at once, so its validation loss never falls after
    # epoch 1: patience 1 stops the run after epoch 2, and every rank must stop there with it
    # (a rank left in the next epoch's collectives would hang the job until its timeout).
    cfg = tiny_config(epochs=6, optimizer={"lr": 0.1}, early_stop_patience=1)
    run, _ = _two_ranks(cfg, tiny_npz, tmp_path)
    metrics = json.loads((run / "logs/metrics.json").read_text())
    vals = [e["val_loss"] for e in metrics["epochs"]]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["metrics"]["stopped_early_at"] == manifest["epochs_completed"] == len(vals)
    assert len(vals) < 6 and vals[-1] >= min(vals[:-1])  # stopped where patience ran out
