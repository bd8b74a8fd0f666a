"""Fixtures shared by every test package under tests/ptycho_nl.

The synthetic-scan builders live in recon/recon_scans.py (next to the solver tests that own
them); their directory goes on sys.path here so other packages, such as cli/, import the same
module instead of keeping a copy. (pytest puts it there too, but only when recon/ is collected.)
"""

import sys
from pathlib import Path

import pytest

RECON_TESTS = str(Path(__file__).parent / "recon")
if RECON_TESTS not in sys.path:
    sys.path.insert(0, RECON_TESTS)

from recon_scans import make_scan  # noqa: E402

from ptycho_nl.data.types import PtychoData  # noqa: E402


@pytest.fixture(scope="session")
def scan() -> PtychoData:
    """A noiseless raster scan with its truth (object, patches): `recon_scans.make_scan()`."""
    return make_scan()


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """The simulator's `tiny` preset (64 patterns of 32x32), written once per session, with the
    data gate's QC record beside it (`tiny.qc.json`): `ptycho-nl train` refuses data without one."""
    from ptycho_nl.gates.data_qc import run_data_qc
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    path = simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("data") / "tiny.npz")
    report, _ = run_data_qc(path)
    assert report.passed, report.failing()
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a tiny training: on a shared 2-core machine two spinning threads per
    process slow every step several times over."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
