"""The reconstruction record keeps a mixed-state run's modes and a corrected run's positions,
and `reconstruct --probe-modes K --position-correction` reaches the solver."""

import json

import numpy as np
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.data.npz import save_npz
from ptycho_nl.recon.result import ReconRecord, load_recon, save_recon


def _record(**extra):
    return ReconRecord(
        method="epie", total_seconds=1.0, source_data="x.npz", source_sha256="0" * 64,
        n_patterns=3, object_shape=(8, 8), **extra,
    )  # fmt: skip


def test_modes_and_positions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    modes = (rng.normal(size=(2, 4, 4)) + 1j * rng.normal(size=(2, 4, 4))).astype(np.complex64)
    positions = rng.uniform(2, 6, size=(3, 2))
    arrays = dict(object=np.ones((8, 8), np.complex64), probe=modes[0], coverage=np.ones((8, 8)))
    out = save_recon(
        tmp_path / "r", _record(mode_powers=[0.7, 0.3], refined_positions=True),
        probe_modes=modes, positions=positions, **arrays,
    )  # fmt: skip
    record, loaded = load_recon(out)
    assert record.mode_powers == [0.7, 0.3] and record.refined_positions
    np.testing.assert_array_equal(loaded["probe_modes"], modes)
    np.testing.assert_array_equal(loaded["positions"], positions)
    # A single-mode record has neither file, and loads as before.
    plain = save_recon(tmp_path / "p", _record(), **arrays)
    assert not (plain / "probe_modes.npy").exists()
    assert set(load_recon(plain)[1]) == {"object", "probe", "coverage"}


def test_reconstruct_flags_reach_the_solver_options(scan, tmp_path):
    npz = save_npz(scan, tmp_path / "scan.npz")
    out = tmp_path / "recon"
    args = [
        "reconstruct", "--method", "epie", "--iterations", "2", "--batch-size", "16",
        "--probe-modes", "2", "--position-correction", "--data", str(npz), "--out", str(out),
        "--quality", "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    options = json.loads((out / "recon.json").read_text())["options"]
    assert options["probe_modes"] == 2 and options["position_correction"] is True
    # ... and the record keeps what they produced: the modes, their powers, the positions.
    record = json.loads((out / "recon.json").read_text())
    assert record["refined_positions"] is True and len(record["mode_powers"]) == 2
    assert np.load(out / "probe_modes.npy").shape == (2, scan.patch_size, scan.patch_size)
    assert np.load(out / "positions.npy").shape == (scan.n_patterns, 2)
    # The reconstruction report shows them: the modes with their power, the positions moved.
    for name in ("probe_modes.png", "positions.png", "object.png", "datafit.png"):
        assert (out / "quality" / name).stat().st_size > 0, name
