"""Fixtures of the reconstruction tests (helpers live in recon_scans.py)."""

import pytest
from recon_scans import make_scan

from ptycho_nl.data.types import PtychoData


@pytest.fixture(scope="session")
def scan() -> PtychoData:
    return make_scan()
