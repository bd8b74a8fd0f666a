"""Real tiny training runs for the gate tests, each trained once per session and copied per case.

`good_run` completes 5 epochs; `nan_run` has a NaN injected into its loss at the first step of
epoch 4 (the sentinel stops it); `stopped_run` stops at its epoch budget after epoch 3 of 5 (the
trainer's own stop, `stop_after_epoch`); `flat_run` trains with a learning rate of 1e-12 (the
config refuses 0), so its loss does not move.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

GOOD_EPOCHS = 5
NAN_FAMILY = "pinn_nan_epoch4"


def tiny_config(**updates):
    from ptycho_nl.train import PRESET_CONFIGS, TrainConfig

    raw = PRESET_CONFIGS["tiny"].model_dump()
    raw.update(epochs=GOOD_EPOCHS, device="cpu")
    for key, value in updates.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return TrainConfig.model_validate(raw)


def _train(tmp_path_factory, name: str, config, data, **kwargs) -> Path:
    import torch

    from ptycho_nl.train import train

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = tmp_path_factory.mktemp(name) / "run"
        train(config, data, run, progress=False, **kwargs)
    finally:
        torch.set_num_threads(before)
    return run


@pytest.fixture(scope="session")
def good_run(tmp_path_factory, tiny_npz) -> Path:
    return _train(tmp_path_factory, "good", tiny_config(), tiny_npz)


@pytest.fixture(scope="session")
def stopped_run(tmp_path_factory, tiny_npz) -> Path:
    return _train(tmp_path_factory, "stopped", tiny_config(), tiny_npz, stop_after_epoch=3)


@pytest.fixture(scope="session")
def flat_run(tmp_path_factory, tiny_npz) -> Path:
    return _train(tmp_path_factory, "flat", tiny_config(optimizer={"lr": 1e-12}), tiny_npz)


@pytest.fixture(scope="session")
def nan_run(tmp_path_factory, tiny_npz) -> Path:
    """The pinn family with a NaN multiplied into its training loss from epoch 4 on."""
    from ptycho_nl.models import ModelFamily, StepOutput, model_family, register_family, unregister
    from ptycho_nl.models.patch_task import prepare_patch_task

    steps_per_epoch = {}

    def prepare(inputs):
        task = prepare_patch_task(inputs)
        steps_per_epoch["n"] = task.steps_per_epoch
        calls = {"train": 0}
        inner = task.step

        def step(model, batch, state):
            out = inner(model, batch, state)
            if model.training:
                calls["train"] += 1
                if calls["train"] > 3 * task.steps_per_epoch:
                    return StepOutput(out.loss * float("nan"), out.state, out.logs, out.size)
            return out

        task.step = step
        return task

    register_family(ModelFamily(NAN_FAMILY, build=model_family("pinn").build, prepare=prepare))
    try:
        cfg = tiny_config(model={"name": NAN_FAMILY})
        return _train(tmp_path_factory, "nan", cfg, tiny_npz)
    finally:
        unregister(NAN_FAMILY)


@pytest.fixture
def copy_run(tmp_path):
    """copy_run(run) -> a private copy of a session run (cases may damage it)."""

    def copy(run: Path, name: str = "run") -> Path:
        return Path(shutil.copytree(run, tmp_path / name))

    return copy


@pytest.fixture
def lenient_gate(tmp_path) -> Path:
    """The post-training gate with a loose epoch-time tolerance: the shared test machine's load
    makes epoch times vary far beyond 20 %, and this optional item would decide `optimise`."""
    from ptycho_nl.gates.definitions import definition_path

    text = definition_path("post_training").read_text(encoding="utf-8")
    assert "tolerance = 0.2" in text
    path = tmp_path / "lenient.toml"
    path.write_text(text.replace("tolerance = 0.2", "tolerance = 1000.0"), encoding="utf-8")
    return path
