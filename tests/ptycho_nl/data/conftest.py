"""Shared fixtures: one tiny simulated dataset per session (real simulation, < 1 s)."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_file(tiny_npz) -> Path:
    """The shared tiny data file (`tiny_npz`, tests/ptycho_nl/conftest.py)."""
    return tiny_npz


@pytest.fixture
def tiny_arrays(tiny_file) -> dict[str, np.ndarray]:
    """A fresh, writable copy of every array of the tiny file."""
    with np.load(tiny_file, allow_pickle=False) as archive:
        return {key: archive[key].copy() for key in archive.files}
