"""Scans shared by the operator tests: `recon_scans.make_scan()` (sub-pixel jitter, 72 x 72)."""

import pytest
import torch
from recon_scans import make_scan


@pytest.fixture(scope="session")
def positions() -> torch.Tensor:
    return torch.from_numpy(make_scan().positions)
