"""End-to-end training runs on the simulator's tiny preset: outputs, learning, resume, failures."""

import copy
import json

import pytest
import torch

from ptycho_nl.train import load_bundle, train
from ptycho_nl.train.checkpoint import CHECKPOINT_KEYS, load_checkpoint

RUN_FILES = {
    "config.json",
    "manifest.json",
    "bundle.zip",
    "logs/training.log",
    "logs/events.jsonl",
    "logs/metrics.json",
    "checkpoints/best_model.pt",
    "checkpoints/last_model.pt",
    "checkpoints/checkpoint_epoch_1.pt",
    "checkpoints/checkpoint_epoch_2.pt",
    "checkpoints/checkpoint_epoch_3.pt",
}


@pytest.fixture(scope="module")
def tiny_run(tiny_npz, tmp_path_factory, tiny_config):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    return train(tiny_config(), tiny_npz, run_dir, progress=False)


def test_tiny_run_writes_every_output(tiny_run):
    assert tiny_run.status == "completed", tiny_run.error
    files = {p.relative_to(tiny_run.run_dir).as_posix() for p in tiny_run.run_dir.rglob("*")}
    assert files >= RUN_FILES
    assert not (tiny_run.run_dir / "failures").exists()


def test_loss_falls_by_more_than_half(tiny_run):
    losses = [e["train_loss"] for e in tiny_run.epochs]
    assert len(losses) == 3
    assert losses[-1] < 0.5 * losses[0], losses
    assert tiny_run.epochs[-1]["val_loss"] < 0.5 * tiny_run.epochs[0]["train_loss"]


def test_digest_is_on_every_log_line_checkpoint_and_bundle(tiny_run):
    run, digest = tiny_run.run_dir, tiny_run.config_digest
    assert json.loads((run / "config.json").read_text())["config_digest"] == digest
    log_lines = (run / "logs/training.log").read_text().splitlines()
    assert all(f"config_digest={digest}" in line for line in log_lines)
    assert "Training complete" in log_lines[-1]
    events = [json.loads(x) for x in (run / "logs/events.jsonl").read_text().splitlines()]
    assert events and all(e["config_digest"] == digest for e in events)
    assert [e["num"] for e in events if e["kind"] == "epoch"] == [1, 2, 3]
    metrics = json.loads((run / "logs/metrics.json").read_text())
    assert metrics["config_digest"] == digest
    assert {"num", "train_loss", "val_loss", "duration_s"} <= set(metrics["epochs"][0])
    assert metrics["best"]["val_loss"] == pytest.approx(tiny_run.best_val_loss)
    assert metrics["environment"]["torch"] == torch.__version__
    for ckpt in (run / "checkpoints").glob("*.pt"):
        state = torch.load(ckpt, weights_only=True)
        assert set(CHECKPOINT_KEYS) <= set(state) and state["config_digest"] == digest
    assert load_bundle(tiny_run.bundle_path).meta["config_digest"] == digest


def test_manifest_records_bundle_hash_and_size(tiny_run):
    from ptycho_nl.io_utils import sha256_file

    manifest = json.loads((tiny_run.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["error"] is None
    assert manifest["bundle_path"] == "bundle.zip"
    bundle = tiny_run.run_dir / manifest["bundle_path"]
    assert manifest["bundle_sha256"] == sha256_file(bundle)
    assert manifest["bundle_size_bytes"] == bundle.stat().st_size
    assert manifest["metrics"]["best_val_loss"] == pytest.approx(tiny_run.best_val_loss)


def test_bundle_predicts_like_the_in_memory_model(tiny_run, tiny_npz):
    from ptycho_nl.data.npz import load_npz

    data = load_npz(tiny_npz)
    x = torch.from_numpy(data.diffraction[:20].copy())
    bundle = load_bundle(tiny_run.bundle_path, expected_sha256=tiny_run.manifest["bundle_sha256"])
    assert bundle.meta["normalisation"]["intensity_scale"] == pytest.approx(data.intensity_scale)
    # predict runs channels-last under inference mode: the same layout gives the same bits.
    with torch.inference_mode():
        twin = copy.deepcopy(tiny_run.model)  # the fixture's model stays as it is
        expected = twin.to(memory_format=torch.channels_last)(x)
    assert torch.equal(bundle.predict(x, batch_size=7), expected)
    # best_model.pt holds the same weights as the bundle
    best = torch.load(tiny_run.run_dir / "checkpoints/best_model.pt", weights_only=True)
    for key, value in bundle.model.state_dict().items():
        assert torch.equal(best["model_state_dict"][key], value)


def test_same_config_again_is_skipped(tiny_run, tiny_npz, tiny_config):
    again = train(tiny_config(), tiny_npz, tiny_run.run_dir, progress=False)
    assert again.status == "skipped"
    assert again.manifest["bundle_sha256"] == tiny_run.manifest["bundle_sha256"]


def test_resumed_run_matches_the_uninterrupted_one(tiny_npz, tmp_path, tiny_config):
    cfg = tiny_config(epochs=4)
    whole = train(cfg, tiny_npz, tmp_path / "whole", progress=False)
    first = train(cfg, tiny_npz, tmp_path / "split", progress=False, stop_after_epoch=2)
    # A session ended by its epoch budget is resumable, not failed.
    assert first.status == "stopped_budget" and "resume to continue" in first.error
    manifest = json.loads((tmp_path / "split/manifest.json").read_text())
    assert manifest["status"] == "stopped_budget" and manifest["epochs_completed"] == 2
    assert not (tmp_path / "split/bundle.zip").exists()
    resumed = train(cfg, tiny_npz, tmp_path / "split", resume=True, progress=False)
    assert resumed.status == "completed"
    assert [e["train_loss"] for e in resumed.epochs] == [e["train_loss"] for e in whole.epochs]
    assert [e["val_loss"] for e in resumed.epochs] == [e["val_loss"] for e in whole.epochs]
    a = torch.load(tmp_path / "whole/checkpoints/last_model.pt", weights_only=True)
    b = torch.load(tmp_path / "split/checkpoints/last_model.pt", weights_only=True)
    for key, value in a["model_state_dict"].items():
        assert torch.equal(b["model_state_dict"][key], value)
    assert resumed.manifest["bundle_sha256"] == whole.manifest["bundle_sha256"]
    # Resuming a finished run trains nothing more and rebuilds the same best-model bundle.
    again = train(cfg, tiny_npz, tmp_path / "split", resume=True, progress=False)
    assert again.status == "completed" and len(again.epochs) == 4
    assert again.manifest["bundle_sha256"] == whole.manifest["bundle_sha256"]


def test_resume_refuses_a_different_config(tiny_npz, tmp_path, tiny_config):
    train(tiny_config(epochs=2), tiny_npz, tmp_path / "run", progress=False, stop_after_epoch=1)
    other = train(
        tiny_config(epochs=2, seed=5), tiny_npz, tmp_path / "run", resume=True, progress=False
    )
    assert other.status == "failed" and "cannot resume" in other.error


def test_diverging_run_stops_with_a_failure_record(tiny_npz, tmp_path, tiny_config):
    # A learning rate of 1e30 blows the weights up for real: the next loss is NaN.
    result = train(tiny_config(optimizer={"lr": 1e30}), tiny_npz, tmp_path / "nan", progress=False)
    assert result.status == "failed" and result.error.startswith("nan_")
    (record_file,) = (tmp_path / "nan/failures").glob("*.jsonl")
    record = json.loads(record_file.read_text().splitlines()[-1])
    assert record["kind"].startswith("nan_") and record["step"] >= 1
    assert record["config_digest"] == result.config_digest
    manifest = json.loads((tmp_path / "nan/manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == result.error
    assert not (tmp_path / "nan/bundle.zip").exists()


def test_data_failing_the_contract_is_a_failed_job(missing_key_npz, tmp_path, tiny_config):
    result = train(tiny_config(), missing_key_npz, tmp_path / "bad", progress=False)
    assert result.status == "failed" and "probeGuess" in result.error
    manifest = json.loads((tmp_path / "bad/manifest.json").read_text())
    assert manifest["status"] == "failed" and "probeGuess" in manifest["error"]


def test_supervised_model_learns(tiny_npz, tmp_path, tiny_config):
    result = train(
        tiny_config(model={"name": "supervised"}, epochs=4),
        tiny_npz,
        tmp_path / "sup",
        progress=False,
    )
    assert result.status == "completed", result.error
    losses = [e["train_loss"] for e in result.epochs]
    assert losses[-1] < 0.7 * losses[0], losses
    assert load_bundle(result.bundle_path).model_name == "supervised"


def test_a_dense_bottleneck_network_trains_and_its_bundle_rebuilds_it(
    tiny_npz, tmp_path, tiny_config
):
    cfg = tiny_config(
        model={"name": "supervised", "global_features": 16, "input_transform": "log1p"}, epochs=4
    )
    result = train(cfg, tiny_npz, tmp_path / "dense", progress=False)
    assert result.status == "completed", result.error
    losses = [e["train_loss"] for e in result.epochs]
    assert losses[-1] < 0.7 * losses[0], losses
    bundle = load_bundle(result.bundle_path)
    assert bundle.model.model_kwargs["global_features"] == 16
    assert bundle.model.model_kwargs["input_transform"] == "log1p"
    assert bundle.model.mixer is not None


def test_gridsize_2_logs_the_overlap_term(tiny_npz, tmp_path, tiny_config):
    cfg = tiny_config(data={"gridsize": 2}, telemetry={"log_every_steps": 1}, epochs=2)
    result = train(cfg, tiny_npz, tmp_path / "g2", progress=False)
    assert result.status == "completed", result.error
    steps = [json.loads(x) for x in (tmp_path / "g2/logs/events.jsonl").read_text().splitlines()]
    steps = [e for e in steps if e["kind"] == "step"]
    assert steps and all(e["overlap"] >= 0 and "data" in e for e in steps)
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


def test_gpu_telemetry_is_absent_without_a_gpu_and_said_once(tiny_npz, tmp_path, tiny_config):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the fields are present (see test_telemetry)")
    cfg = tiny_config(telemetry={"log_gpu_stats": True, "log_every_steps": 1}, epochs=1)
    result = train(cfg, tiny_npz, tmp_path / "tel", progress=False)
    assert result.status == "completed"
    log = (tmp_path / "tel/logs/training.log").read_text()
    assert log.count("GPU telemetry unavailable") == 1
    events = [json.loads(x) for x in (tmp_path / "tel/logs/events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["kind"] == "step"]
    assert steps and not any("gpu_mem_mb" in e or "gpu_util_pct" in e for e in steps)


def test_trained_pinn_explains_the_counts_better_than_any_constant_object(tiny_run, tiny_npz):
    from ptycho_nl import physics
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.models.pinn import poisson_deviance, predicted_rate

    data = load_npz(tiny_npz)
    s = data.intensity_scale
    amplitude = torch.from_numpy(data.diffraction[:].copy())
    probe = torch.from_numpy(data.probe)
    counts = physics.amplitude_to_counts(amplitude, s).float()
    # Best constant object: the Poisson optimum of rate = c^2 * r0 is c^2 = sum k / sum r0.
    unit = predicted_rate(torch.ones(amplitude.shape, dtype=torch.complex64), probe, s)
    flat = poisson_deviance(unit * (counts.sum() / unit.sum()), counts)
    truth = poisson_deviance(predicted_rate(torch.from_numpy(data.patches[:]), probe, s), counts)
    predicted = load_bundle(tiny_run.bundle_path).predict(amplitude)
    trained = poisson_deviance(predicted_rate(predicted, probe, s), counts)
    assert float(truth) < float(trained) < 0.9 * float(flat), (truth, trained, flat)


def test_supervised_training_on_data_without_ground_truth_is_a_failed_job(
    tiny_npz, tmp_path, tiny_config
):
    from ptycho_nl.data.npz import read_npz_arrays, write_npz_deterministic

    arrays = read_npz_arrays(tiny_npz)
    del arrays["Y"]
    bare = write_npz_deterministic(tmp_path / "no_truth.npz", arrays)
    result = train(
        tiny_config(model={"name": "supervised"}), bare, tmp_path / "run", progress=False
    )
    assert result.status == "failed" and "key 'Y'" in result.error
    assert json.loads((tmp_path / "run/manifest.json").read_text())["status"] == "failed"


def test_local_batches_train_a_gridsize_2_pinn_in_as_many_steps(tiny_npz, tmp_path, tiny_config):
    """Local batches cover the same groups in the same number of steps (that the network then
    predicts each shared pattern once is test_canvas_merge's)."""
    rows = {}
    for order in ("shuffled", "local"):
        cfg = tiny_config(
            data={"gridsize": 2, "batch_order": order}, telemetry={"log_every_steps": 1}, epochs=3
        )
        result = train(cfg, tiny_npz, tmp_path / order, progress=False)
        assert result.status == "completed", result.error
        assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]
        events = (tmp_path / order / "logs/events.jsonl").read_text().splitlines()
        rows[order] = [json.loads(x) for x in events]
    steps = {k: sum(e["kind"] == "step" for e in v) for k, v in rows.items()}
    assert steps["local"] == steps["shuffled"] > 0


def test_the_optimizer_steps_all_parameters_at_once_with_the_loops_arithmetic():
    # make_optimizer asks for torch's multi-tensor (foreach) Adam for speed; it must compute
    # exactly what the per-tensor loop computes, so a run's numbers do not depend on the choice.
    from ptycho_nl.models.registry import build_model
    from ptycho_nl.train.config import TrainConfig
    from ptycho_nl.train.setup import make_optimizer

    torch.manual_seed(0)
    model = build_model("pinn", n=16, channels=[4, 8, 16], global_features=32)
    for name in ("adam", "adamw"):
        cfg = TrainConfig.model_validate(
            {
                "model": {"name": "pinn"},
                "optimizer": {"name": name, "lr": 3e-3, "weight_decay": 0.01},
            }
        )
        ours, loop = copy.deepcopy(model), copy.deepcopy(model)
        fast = make_optimizer(ours, cfg)
        cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        slow = cls(loop.parameters(), lr=3e-3, weight_decay=0.01, foreach=False)
        assert fast.param_groups[0]["foreach"] is True
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            for a, b in zip(ours.parameters(), loop.parameters(), strict=True):
                a.grad = torch.randn(a.shape, generator=gen)
                b.grad = a.grad.clone()
            fast.step()
            slow.step()
        moved = 0
        for a, b, start in zip(
            ours.parameters(), loop.parameters(), model.parameters(), strict=True
        ):
            assert torch.equal(a, b)
            moved += not torch.equal(a, start)
        assert moved == len(list(model.parameters()))  # every tensor took the steps


def test_early_stopping_ends_where_the_validation_history_says_and_keeps_the_best_weights(
    tiny_npz, tmp_path, tiny_config
):
    from ptycho_nl.gates.post_training import post_training_gate

    updates = {"epochs": 8, "optimizer": {"lr": 3e-2}}  # at this rate val_loss turns up by epoch 8
    whole = train(tiny_config(**updates), tiny_npz, tmp_path / "whole", progress=False)
    vals = [e["val_loss"] for e in whole.epochs]
    # Patience 1, computed directly: the first epoch whose val_loss is not below every earlier one.
    stop = next((k for k in range(2, 8) if vals[k - 1] >= min(vals[: k - 1])), None)
    cfg = tiny_config(**updates, early_stop_patience=1)
    early = train(cfg, tiny_npz, tmp_path / "early", progress=False)
    assert early.status == "completed"
    assert [e["val_loss"] for e in early.epochs] == vals[: stop or 8]
    manifest = json.loads((tmp_path / "early/manifest.json").read_text())
    assert manifest["epochs_completed"] == (stop or 8)
    assert manifest["metrics"]["stopped_early_at"] == stop
    assert stop is not None, f"the validation loss never turned up: {vals}"  # the case tested
    # With patience 1 the best epoch so far is the one just before the stop. Which epoch that is
    # depends on the CPU's rounding, so the reference is the same uninterrupted config paused by
    # its budget after `stop` epochs: its best checkpoint holds the weights the bundle must hold.
    assert vals.index(min(vals[:stop])) + 1 == stop - 1
    cut = train(
        tiny_config(**updates), tiny_npz, tmp_path / "cut", progress=False, stop_after_epoch=stop
    )
    assert cut.status == "stopped_budget"
    best = load_checkpoint(tmp_path / "cut/checkpoints/best_model.pt")
    assert best["epoch"] == stop - 1 and best["val_loss"] == min(vals[:stop])
    ours = load_bundle(tmp_path / "early/bundle.zip").model.state_dict()
    assert ours.keys() == best["model_state_dict"].keys()
    for name, a in ours.items():
        assert torch.equal(a, best["model_state_dict"][name]), name
    # Resuming the stopped run trains no further epoch; the post-training gate accepts the stop.
    again = train(cfg, tiny_npz, tmp_path / "early", resume=True, progress=False)
    assert again.status == "completed" and len(again.epochs) == stop
    report = post_training_gate(tmp_path / "early")
    item = report.item("final_epoch_reached")
    assert item.verdict == "pass" and "stopped early" in item.note
    # The run cut short by its epoch budget, its manifest edited to claim the same early stop,
    # does not pass: its config set no patience.
    forged = json.loads((tmp_path / "cut/manifest.json").read_text())
    forged.update(status="completed", epochs_completed=stop)
    forged["metrics"] = {**(forged["metrics"] or {}), "stopped_early_at": stop}
    (tmp_path / "cut/manifest.json").write_text(json.dumps(forged))
    assert post_training_gate(tmp_path / "cut").item("final_epoch_reached").verdict == "fail"
