"""`reproduce_run`: a rerun from the run's own config and seed matches bit for bit on CPU; a run
whose recorded seed is not the one it ran with does not."""

from __future__ import annotations

import json

import pytest

from ptycho_nl.gates.model import GateError
from ptycho_nl.gates.reproduce import REPORT_NAME, reproduce_run


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """The session runs trained on one thread; the rerun must too."""


def test_an_honest_run_reproduces_bit_for_bit(good_run, copy_run):
    run = copy_run(good_run)
    report = reproduce_run(run, epochs=2)
    assert report.passed and report.tolerance == "bit-identical" and report.device == "cpu"
    metrics = json.loads((run / "logs/metrics.json").read_text())["epochs"]
    for pair, original in zip(report.epochs, metrics[:2], strict=True):
        assert pair.original_train == original["train_loss"] == pair.rerun_train
        assert pair.original_val == original["val_loss"] == pair.rerun_val
    rerun = json.loads((next((run / "reproduce").iterdir()) / "logs/metrics.json").read_text())
    assert [e["train_loss"] for e in rerun["epochs"]] == [e.original_train for e in report.epochs]
    saved = json.loads((run / REPORT_NAME).read_text())
    assert saved["passed"] is True and saved["epochs_compared"] == 2


def test_a_changed_seed_does_not_reproduce(good_run, copy_run):
    run = copy_run(good_run)
    config = json.loads((run / "config.json").read_text())
    config["seed"] = config["seed"] + 1
    (run / "config.json").write_text(json.dumps(config))
    report = reproduce_run(run, epochs=1)
    assert not report.passed and report.epochs[0].ok is False
    assert report.epochs[0].max_rel_diff > 0 and "epoch(s) [1] differ" in report.summary


def test_more_epochs_than_recorded_or_no_data_are_errors(stopped_run, copy_run):
    run = copy_run(stopped_run)
    with pytest.raises(GateError, match=r"expected at least 5 recorded epoch\(s\), found 3"):
        reproduce_run(run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["data_path"] = str(run / "gone.npz")
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GateError, match="gone.npz: file not found"):
        reproduce_run(run, epochs=1)


def test_the_cuda_tolerance_is_relative_and_cpu_is_exact():
    from ptycho_nl.gates.reproduce import CUDA_RTOL, _pair

    a = {"train_loss": 1.0, "val_loss": 2.0}
    close = {"train_loss": 1.0 + CUDA_RTOL / 2, "val_loss": 2.0}
    far = {"train_loss": 1.0 + CUDA_RTOL * 2, "val_loss": 2.0}
    assert _pair(1, a, close, CUDA_RTOL).ok and not _pair(1, a, far, CUDA_RTOL).ok
    assert not _pair(1, a, close, 0.0).ok and _pair(1, a, dict(a), 0.0).ok
    assert not _pair(1, a, None, CUDA_RTOL).ok  # an epoch the rerun never reached
    assert not _pair(1, a, {"train_loss": float("nan"), "val_loss": 2.0}, CUDA_RTOL).ok
