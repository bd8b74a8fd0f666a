"""Training-test fixtures on the shared `tiny_npz` (tests/ptycho_nl/conftest.py)."""

from pathlib import Path

import pytest

from ptycho_nl.train import PRESET_CONFIGS, TrainConfig


@pytest.fixture(scope="module", autouse=True)
def _one_thread_for_tiny_trainings(one_torch_thread):
    """Every training test runs on one torch thread (`one_torch_thread`, tests/ptycho_nl)."""


@pytest.fixture(scope="session")
def missing_key_npz(tiny_npz, tmp_path_factory) -> Path:
    """The tiny file without its `probeGuess` key: fails the data contract."""
    from ptycho_nl.data.npz import read_npz_arrays, write_npz_deterministic

    arrays = read_npz_arrays(tiny_npz)
    del arrays["probeGuess"]
    return write_npz_deterministic(tmp_path_factory.mktemp("bad") / "no_probe.npz", arrays)


def make_tiny_config(**updates) -> TrainConfig:
    """The `tiny` training preset with nested updates applied (validated)."""
    raw = PRESET_CONFIGS["tiny"].model_dump()
    for key, value in updates.items():
        if isinstance(value, dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return TrainConfig.model_validate(raw)


@pytest.fixture(scope="session")
def tiny_config():
    """Factory: `tiny_config(epochs=4, optimizer={"lr": 1e-2})` -> TrainConfig."""
    return make_tiny_config
