"""Shared fixtures: one tiny simulated dataset per session (real simulation, < 1 s)."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory) -> Path:
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    return simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("tiny") / "tiny.npz")


@pytest.fixture
def tiny_arrays(tiny_file) -> dict[str, np.ndarray]:
    """A fresh, writable copy of every array of the tiny file."""
    with np.load(tiny_file, allow_pickle=False) as archive:
        return {key: archive[key].copy() for key in archive.files}
