"""The nested family through the unchanged trainer: bundles, evaluation, the teach-scale
stability runs (the sentinel and the stability report name the step of a divergence), anomaly
mode, the CLI presets, and DDP under torchrun."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.models.nested.stability_report import stability_report
from ptycho_nl.train import PRESET_CONFIGS, TrainConfig, load_bundle, train

runner = CliRunner()

TINY = {
    "dim": 16,
    "heads": 2,
    "layers": 1,
    "window": 4,
    "memory_hidden": 16,
    "mlp_hidden": 16,
    "chunk": 8,
    "cms_periods": [8, 16],
    "seq_len": 32,
    "train_sequences": 32,
    "val_sequences": 8,
    "recall_pairs": 2,
    "recall_keys": 4,
    "recall_values": 4,
}


def config(kind="titan", epochs=2, batch_size=4, **nested) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "model": {"name": "nested", "type": kind, "nested": {**TINY, **nested}},
            "epochs": epochs,
            "batch_size": batch_size,
            "device": "cpu",
            "optimizer": {"lr": 3e-3},
            "telemetry": {"log_every_steps": 2},
        }
    )


def step_events(run_dir):
    lines = (run_dir / "logs/events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == "step"]


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("nested")
    return train(config("hope"), root / "recall.npz", root / "run", progress=False), root


def test_a_hope_model_trains_and_its_bundle_reloads_to_identical_outputs(recall_run):
    result, root = recall_run
    assert result.status == "completed", result.error
    assert int(result.model.teach_step) == 2 * 8  # one count per training step
    bundle = load_bundle(result.bundle_path)
    assert bundle.meta["model_type"] == "hope" and bundle.meta["task"] == "recall"
    with np.load(root / "recall.npz", allow_pickle=False) as f:
        x = torch.from_numpy(f["val_x"])
    with torch.no_grad():
        expected, _, _ = result.model(x)
        reloaded, _, _ = bundle.model(x)
    assert torch.equal(expected, reloaded)
    events = step_events(result.run_dir)
    assert {"accuracy", "teach_factor", "memory_clipped", "cms1_grad_max"} <= set(events[0])


# Teach scale 0.2 with a large inner rate (max_lr 20, warm-up 100 steps): unclipped, the memory
# runs away once the warm-up has raised the teach factor far enough.
UNSTABLE = {"max_lr": 20.0, "teach_scale": 0.2, "teach_warmup_steps": 100, "train_sequences": 400}


@pytest.mark.slow
def test_teach_scale_0_2_is_stable_with_clipping_and_the_sentinel_names_the_divergence(
    tmp_path, one_torch_thread
):
    stable = train(
        config("titan", epochs=5, clip=True, **UNSTABLE),
        tmp_path / "d.npz",
        tmp_path / "clip",
        progress=False,
    )
    assert stable.status == "completed", stable.error
    events = step_events(stable.run_dir)
    assert events[-1]["step"] == 500 and all(math.isfinite(e["loss"]) for e in events)
    assert sum(e["memory_clipped"] for e in events) > 0  # the clip did work
    free = train(
        config("titan", epochs=5, clip=False, **UNSTABLE),
        tmp_path / "d.npz",
        tmp_path / "free",
        progress=False,
    )
    assert free.status == "failed"
    (failure_file,) = (free.run_dir / "failures").glob("*.jsonl")
    first = json.loads(failure_file.read_text().splitlines()[0])
    assert first["kind"] in ("nan_loss", "nan_gradient") and 1 < first["step"] < 500
    paths = stability_report([stable.run_dir, free.run_dir], tmp_path / "report")
    report = json.loads(paths["json"].read_text())
    assert [r["diverged_at_step"] for r in report["runs"]] == [None, first["step"]]
    assert [r["clip"] for r in report["runs"]] == [True, False]
    row = next(line for line in paths["markdown"].read_text().splitlines() if "| free |" in line)
    assert f"| {first['step']} |" in row and paths["plot"].stat().st_size > 0


def test_anomaly_mode_names_the_module_and_step(tmp_path, one_torch_thread):
    cfg = config("titan", epochs=1, clip=False, max_lr=200.0, teach_warmup_steps=0)
    path = tmp_path / "c.json"
    path.write_text(cfg.model_dump_json())
    argv = ["train", "--config", str(path), "--data", str(tmp_path / "d.npz"), "--skip-qc"]
    result = runner.invoke(app, [*argv, "--out", str(tmp_path / "run"), "--detect-anomaly"])
    assert result.exit_code == 1, result.output
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert "fast weights in blocks.0.memory at step" in manifest["error"]
    report = stability_report([tmp_path / "run"], tmp_path / "report")
    record = json.loads(report["json"].read_text())["runs"][0]
    assert record["diverged_at_step"] == int(manifest["error"].rsplit(" ", 1)[1])


def test_the_cli_trains_a_preset_with_a_model_type(tmp_path, one_torch_thread):
    sets = [f"model.nested.{k}={json.dumps(v)}" for k, v in TINY.items()]
    argv = ["train", "--preset", "nl-recall", "--model-type", "attention", "--epochs", "1"]
    argv += ["--batch-size", "8", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r")]
    argv += ["--no-progress", "--json"]  # no --skip-qc: the data gate does not apply here
    for item in sets:
        argv += ["--set", item]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r/config.json").read_text())
    assert saved["model"]["type"] == "attention" and saved["model"]["name"] == "nested"
    assert json.loads((tmp_path / "r/manifest.json").read_text()).get("data_qc") is None
    out = runner.invoke(
        app, ["report", "stability", str(tmp_path / "r"), "--out", str(tmp_path / "s"), "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["data"]["markdown"].endswith("stability.md")
    bad = runner.invoke(app, [*argv[:2], "nl-nope", *argv[3:]])
    assert bad.exit_code == 2 and "unknown preset 'nl-nope'" in bad.output


@pytest.mark.slow
def test_torchrun_two_gloo_processes_match_the_single_process_digest(tmp_path):
    raw = PRESET_CONFIGS["nl-recall"].model_dump()
    raw["epochs"], raw["batch_size"] = 1, 8
    raw["model"]["nested"].update(train_sequences=64, val_sequences=8)
    cfg = TrainConfig.model_validate(raw)
    path = tmp_path / "c.json"
    path.write_text(cfg.model_dump_json())
    single = train(cfg, tmp_path / "d.npz", tmp_path / "single", progress=False)
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    proc = subprocess.run(
        [
            *launcher,
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "ptycho_nl.train",
            "--config",
            str(path),
            "--data",
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "ddp"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert sorted(s["rank"] for s in summaries) == [0, 1]
    assert {s["config_digest"] for s in summaries} == {single.config_digest, cfg.digest}
    assert all(s["status"] == "completed" for s in summaries)
    epochs = json.loads((tmp_path / "ddp/logs/metrics.json").read_text())["epochs"]
    assert epochs[0]["steps"] == 64 // 2 // 8  # each rank trains its half of the sequences
    assert all(math.isfinite(e["train_loss"]) and math.isfinite(e["val_loss"]) for e in epochs)


def test_bad_jobs_fail_with_one_line(tmp_path, one_torch_thread):
    wrong_type = train(config("transformer"), tmp_path / "d.npz", tmp_path / "a", progress=False)
    assert wrong_type.status == "failed"
    assert wrong_type.error == (
        "config model.type: expected one of titan, hope, attention, found 'transformer'"
    )
    made = train(config("attention", epochs=1), tmp_path / "d.npz", tmp_path / "b", progress=False)
    assert made.status == "completed", made.error
    other_seed = config("attention", epochs=1).model_copy(update={"seed": 7})
    mismatch = train(other_seed, tmp_path / "d.npz", tmp_path / "c", progress=False)
    assert mismatch.status == "failed" and "\n" not in mismatch.error
    assert mismatch.error == f"{tmp_path / 'd.npz'}: key 'spec': expected the run's seed=7, found 0"


def test_text_segments_carry_the_fast_state_and_recall_sequences_do_not(tmp_path):
    from ptycho_nl.models.nested.task import prepare_nested
    from ptycho_nl.models.registry import TaskInputs

    cpu = torch.device("cpu")
    char = config(batch_size=2, task="char", char_max_chars=4000)
    task = prepare_nested(TaskInputs(char, tmp_path / "c.npz", cpu))
    first, second = list(task.train_batches(1))[:2]
    assert torch.equal(first["x"][:, 1:], first["y"][:, :-1])  # next-character targets
    assert torch.equal(first["y"][:, -1], second["x"][:, 0])  # the stream continues
    out = task.step(task.model, first, None)
    memory = out.state.blocks[0].memory
    assert memory.updates == 32 // 8 and not memory.read.w1.requires_grad  # carried, detached
    task.model.eval()  # no step counted: both calls see the same teach factor
    carried = task.step(task.model, second, out.state)
    fresh = task.step(task.model, second, None)
    assert not torch.isclose(carried.loss, fresh.loss)  # what was written is read
    recall = prepare_nested(TaskInputs(config(), tmp_path / "r.npz", cpu))
    assert recall.step(recall.model, next(iter(recall.train_batches(1))), None).state is None


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, one_torch_thread):
    cfg = config("hope", epochs=2)
    whole = train(cfg, tmp_path / "d.npz", tmp_path / "whole", progress=False)
    first = train(cfg, tmp_path / "d.npz", tmp_path / "parts", progress=False, stop_after_epoch=1)
    assert first.status == "stopped_budget"
    resumed = train(cfg, tmp_path / "d.npz", tmp_path / "parts", progress=False, resume=True)
    assert resumed.status == "completed", resumed.error
    assert [e["val_loss"] for e in resumed.epochs] == [e["val_loss"] for e in whole.epochs]
    assert int(resumed.model.teach_step) == int(whole.model.teach_step) == 16
