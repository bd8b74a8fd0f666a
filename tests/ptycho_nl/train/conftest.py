"""Real data for the training tests: the simulator's `tiny` preset, written once per session."""

from pathlib import Path

import pytest

from ptycho_nl.train import PRESET_CONFIGS, TrainConfig


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny trainings run fastest on one thread; the test machine's 2 cores are shared, and two
    spinning threads per process under load slow every step several times over."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    return simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("data") / "tiny.npz")


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
