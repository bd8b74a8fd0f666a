"""`ptycho-nl import / inspect / reconstruct --half-split / resolution / export` end to end on
files written here with numpy and h5py: a measured-looking scan with no ground truth."""

import json

import h5py
import numpy as np
import pytest
from recon_scans import make_scan
from typer.testing import CliRunner

from ptycho_nl.cli import app

runner = CliRunner()
PIXEL = 20e-9


def _run(args, code=0):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is (code == 0)
    return payload["data"] if code == 0 else payload["error"]


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    """A beamline-style HDF5: counts with the DC at the corner, (x, y) positions in metres, a
    probe with a singleton mode axis, one hot pixel, no object."""
    scan = make_scan(side=56, step=5)
    intensity = np.square(scan.diffraction.astype(np.float64))
    counts = np.random.default_rng(0).poisson(intensity * 1e6 / intensity.sum(axis=(1, 2)).mean())
    counts[:, 2, 5] = 10 * counts.max()  # hot, in the centred layout
    path = tmp_path_factory.mktemp("raw") / "scan.h5"
    with h5py.File(path, "w") as f:
        f["entry/frames"] = np.fft.ifftshift(counts, axes=(-2, -1)).astype(np.uint32)
        f["entry/xy"] = scan.positions[:, ::-1] * PIXEL
        f["entry/probe"] = scan.probe[None]
    return path, scan


@pytest.mark.slow
def test_import_inspect_reconstruct_half_split_resolution_export(raw_file, tmp_path):
    src, scan = raw_file
    data = tmp_path / "data.npz"
    imported = _run(["import", str(src), "--out", str(data), "--format", "generic",
                     "--diffraction", "entry/frames", "--positions", "entry/xy", "--dc", "corner",
                     "--probe", "entry/probe",
                     "--axis-order", "xy", "--units", "m", "--pixel-size", str(PIXEL)])  # fmt: skip
    assert imported["n_patterns"] == scan.n_patterns and imported["sample_pixel_size_m"] == PIXEL
    masked = tmp_path / "masked.npz"
    found = _run(["inspect", str(data), "--plot", str(tmp_path / "plots"),
                  "--write-mask", str(masked)])  # fmt: skip
    assert [tuple(p) for p in found["hot_pixels"]] == [(2, 5)]
    assert (tmp_path / "plots" / "inspect.png").stat().st_size > 0
    out = tmp_path / "recon"
    summary = _run(["reconstruct", "--data", str(masked), "--out", str(out), "--method", "rpie",
                    "--iterations", "30", "--batch-size", "16", "--half-split"])  # fmt: skip
    assert summary["resolution_px"] < 4 and summary["mean_r_factor"] < 0.2
    for name in ("datafit.json", "object.png", "probe.png", "errors.png", "datafit.png"):
        assert (out / "quality" / name).is_file(), name
    record = json.loads((out / "half_split" / "resolution.json").read_text())
    assert record["resolution_m"] == pytest.approx(record["resolution_px"] * PIXEL)
    again = _run(["resolution", str(out / "half_split" / "a"), str(out / "half_split" / "b")])
    assert again["resolution_px"] == pytest.approx(record["resolution_px"])
    product = tmp_path / "product.h5"
    exported = _run(["export", str(out), "--product", str(product)])
    assert exported["pixel_size_m"] == PIXEL
    with h5py.File(product, "r") as f:
        assert f["probe_position_x_m"].shape == (scan.n_patterns,)
        assert f["object"].attrs["pixel_width_m"] == PIXEL


def test_bad_input_is_one_line_and_writes_nothing(raw_file, tmp_path):
    src, _ = raw_file
    out = tmp_path / "never.npz"
    error = _run(["import", str(src), "--out", str(out), "--format", "generic",
                  "--diffraction", "entry/patterns", "--positions", "entry/xy"], code=1)  # fmt: skip
    assert "'entry/patterns'" in error and "found missing" in error and "\n" not in error
    usage = _run(["import", str(src), "--out", str(out), "--format", "generic",
                  "--diffraction", "entry/frames"], code=2)  # fmt: skip
    assert "positions" in usage
    assert not out.exists()
