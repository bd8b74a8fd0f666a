"""`ptycho-nl reconstruct` and `ptycho-nl evaluate` end to end on real NPZ files and bundles."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ptycho_nl import physics
from ptycho_nl.cli import app
from ptycho_nl.data.npz import data_to_arrays, save_npz
from ptycho_nl.data.types import PtychoData

runner = CliRunner()
N, SIDE = 32, 64


def _scan() -> PtychoData:
    rr, cc = np.indices((SIDE, SIDE)) / SIDE
    obj = (0.75 + 0.2 * np.sin(6 * rr) * np.cos(5 * cc)) * np.exp(
        1j * 0.5 * np.sin(4 * rr + 3 * cc)
    )
    obj = torch.tensor(obj, dtype=torch.complex64)
    centres = torch.arange(N // 2 + 1, SIDE - N // 2, 4, dtype=torch.float64)
    pos = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    c = np.arange(N) - N / 2 + 0.5
    r = np.hypot(c[:, None], c[None, :])
    probe = torch.tensor(2.0 * (r < 8) * np.exp(0.5j * (r / 8) ** 2), dtype=torch.complex64)
    amp = physics.forward_intensity(obj, probe, pos).sqrt().to(torch.float32)
    return PtychoData(
        diffraction=amp.numpy(),
        probe=probe.numpy(),
        xcoords=pos[:, 1].numpy(),
        ycoords=pos[:, 0].numpy(),
        object=obj.numpy(),
        patches=physics.extract_patches(obj, pos, N).numpy(),
    )


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    return save_npz(_scan(), tmp_path_factory.mktemp("data") / "scan.npz")


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_iterative_reconstruct_then_evaluate_writes_metrics_and_figures(npz, tmp_path):
    recon = tmp_path / "recon"
    out = _ok(
        [
            "reconstruct",
            "--method",
            "rpie",
            "--iterations",
            "40",
            "--batch-size",
            "16",
            "--data",
            str(npz),
            "--out",
            str(recon),
        ]
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["method"] == "rpie" and summary["final_error"] < 1e-3
    record = json.loads((recon / "recon.json").read_text())
    assert record["iterations"] == 40 and len(record["errors"]) == 40
    assert len(record["source_sha256"]) == 64
    assert np.load(recon / "object.npy").dtype == np.complex64

    ev = tmp_path / "eval"
    _ok(["evaluate", "--recon", str(recon), "--truth", str(npz), "--out", str(ev)])
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["model_id"] == "rpie"
    assert metrics["metrics"]["phase_ssim"] > 0.95 and metrics["metrics"]["nrmse"] < 0.05
    for name in ("amplitude", "phase", "difference", "frc"):
        assert (ev / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_solver_options_reach_the_solver_and_its_record(npz, tmp_path):
    recon = tmp_path / "recon"
    args = ["reconstruct", "--method", "epie", "--iterations", "30", "--data", str(npz)]
    out = _ok(
        args + ["--subpixel", "round", "--momentum", "0", "--full-frame", "--out", str(recon)]
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["final_error"] < 1e-2
    options = json.loads((recon / "recon.json").read_text())["options"]
    assert options["subpixel"] == "round" and options["momentum"] == 0
    assert options["probe_box"] is False and options["batch_size"] == 128
    bad = runner.invoke(app, args + ["--momentum", "1.5", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "momentum" in bad.output


def test_bundle_reconstruct_matches_direct_prediction_and_stitching(npz, tmp_path):
    from ptycho_nl.models.registry import build_model
    from ptycho_nl.recon.stitch import stitch_patches
    from ptycho_nl.train.bundle import save_bundle

    torch.manual_seed(0)
    model = build_model("supervised", n=N, channels=[4, 8, 8])
    meta = {"model_name": "supervised", "model_kwargs": model.model_kwargs, "patch_size": N}
    bundle, _, _ = save_bundle(tmp_path / "bundle.zip", model, config={}, meta=meta)
    recon = tmp_path / "net"
    _ok(
        [
            "reconstruct",
            "--bundle",
            str(bundle),
            "--data",
            str(npz),
            "--out",
            str(recon),
            "--chunk",
            "7",
            "--no-phase-sync",
        ]
    )
    data = _scan()
    with torch.no_grad():
        patches = model.eval()(torch.from_numpy(data.diffraction))
    expected, _ = stitch_patches(
        patches,
        torch.from_numpy(data.positions),
        (SIDE, SIDE),
        weights=torch.from_numpy(data.probe).abs().square(),
    )
    np.testing.assert_allclose(np.load(recon / "object.npy"), expected.numpy(), atol=1e-5)
    assert json.loads((recon / "recon.json").read_text())["method"] == "supervised"

    wrong = build_model("supervised", n=16, channels=[4, 8, 8])
    meta16 = {"model_name": "supervised", "model_kwargs": wrong.model_kwargs, "patch_size": 16}
    bundle16, _, _ = save_bundle(tmp_path / "b16.zip", wrong, config={}, meta=meta16)
    result = runner.invoke(
        app,
        [
            "reconstruct",
            "--bundle",
            str(bundle16),
            "--data",
            str(npz),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 1
    assert "error: bundle predicts 16x16 patches" in result.stderr and "32x32" in result.stderr


def test_evaluate_without_ground_truth_fails_clearly(npz, tmp_path):
    recon = tmp_path / "recon"
    _ok(
        [
            "reconstruct",
            "--method",
            "epie",
            "--iterations",
            "2",
            "--data",
            str(npz),
            "--out",
            str(recon),
        ]
    )
    bare = save_npz(replace(_scan(), object=None, patches=None), tmp_path / "bare.npz")
    result = runner.invoke(
        app,
        ["evaluate", "--recon", str(recon), "--truth", str(bare), "--out", str(tmp_path / "ev")],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "objectGuess" in result.stderr
    assert "Traceback" not in result.output


def test_positions_outside_the_object_fail_with_exit_1(tmp_path):
    data = _scan()
    outside = replace(data, xcoords=data.xcoords + 20.0, patches=None)
    # Written raw (save_npz would refuse it): a file produced elsewhere.
    path = tmp_path / "outside.npz"
    np.savez(path, **data_to_arrays(outside))
    result = runner.invoke(
        app,
        [
            "reconstruct",
            "--method",
            "epie",
            "--iterations",
            "1",
            "--data",
            str(path),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and "outside" in result.stderr
    assert "outside.npz" in result.stderr and "Traceback" not in result.output


def test_usage_errors_exit_2(npz, tmp_path):
    neither = runner.invoke(app, ["reconstruct", "--data", str(npz), "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "exactly one of --bundle" in neither.stderr
    bad = runner.invoke(
        app, ["reconstruct", "--method", "dm", "--data", str(npz), "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "method" in bad.stderr


def test_installed_console_script_reports_a_missing_recon_dir(npz, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptycho_nl",
            "evaluate",
            "--recon",
            str(tmp_path / "none"),
            "--truth",
            str(npz),
            "--out",
            str(tmp_path / "ev"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none'}: not a reconstruction directory (recon.json missing)"
    ]
