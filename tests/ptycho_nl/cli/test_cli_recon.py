"""`ptycho-nl reconstruct` and `ptycho-nl evaluate` end to end on real NPZ files and bundles."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.data.npz import data_to_arrays, save_npz

runner = CliRunner()


@pytest.fixture(scope="module")
def npz(scan, tmp_path_factory):
    return save_npz(scan, tmp_path_factory.mktemp("data") / "scan.npz")


def _summary(result) -> dict:
    """The `data` of the one `--json` envelope on stdout (ok, no error)."""
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["error"] is None
    return payload["data"]


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
            "--json",
        ]
    )
    summary = _summary(out)
    assert summary["method"] == "rpie" and summary["final_error"] < 1e-3
    record = json.loads((recon / "recon.json").read_text())
    assert record["iterations"] == 40 and len(record["errors"]) == 40
    assert len(record["source_sha256"]) == 64
    assert np.load(recon / "object.npy").dtype == np.complex64

    ev = tmp_path / "eval"
    scored = _ok(
        ["evaluate", "--recon", str(recon), "--truth", str(npz), "--out", str(ev), "--json"]
    )
    metrics = json.loads((ev / "metrics.json").read_text())
    assert _summary(scored) == {"model_id": "rpie", "out": str(ev), "metrics": metrics["metrics"]}
    assert metrics["model_id"] == "rpie"
    assert metrics["metrics"]["phase_ssim"] > 0.95 and metrics["metrics"]["nrmse"] < 0.05
    for name in ("amplitude", "phase", "difference", "frc"):
        assert (ev / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_solver_options_reach_the_solver_and_its_record(npz, tmp_path):
    recon = tmp_path / "recon"
    args = ["reconstruct", "--method", "epie", "--iterations", "30", "--data", str(npz)]
    out = _ok(
        args
        + ["--subpixel", "round", "--momentum", "0", "--full-frame", "--out", str(recon), "--json"]
    )
    assert _summary(out)["final_error"] < 1e-2
    options = json.loads((recon / "recon.json").read_text())["options"]
    assert options["subpixel"] == "round" and options["momentum"] == 0
    assert options["probe_box"] is False and options["batch_size"] == 128
    bad = runner.invoke(app, args + ["--momentum", "1.5", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "momentum" in bad.output


def test_set_reaches_the_fields_without_a_flag_and_left_out_ones_keep_the_model_default(
    npz, tmp_path
):
    from ptycho_nl.recon.options import IterativeOptions

    recon = tmp_path / "recon"
    sets = ["probe_beta=0.5", "probe_update_start=2", "preconditioner_tolerance=0.1"]
    args = ["reconstruct", "--method", "rpie", "--iterations", "3", "--update-probe"]
    _ok(args + [x for s in sets for x in ("--set", s)] + ["--data", str(npz), "--out", str(recon)])
    options = json.loads((recon / "recon.json").read_text())["options"]
    expected = IterativeOptions(
        method="rpie",
        iterations=3,
        update_probe=True,
        probe_beta=0.5,
        probe_update_start=2,
        preconditioner_tolerance=0.1,
    )
    assert options == expected.model_dump(mode="json")  # every other field: the model's default


def test_set_errors_are_one_line_usage_errors_naming_the_valid_keys(npz, tmp_path):
    out = tmp_path / "x"
    base = ["reconstruct", "--method", "epie", "--data", str(npz), "--out", str(out)]
    unknown = runner.invoke(app, base + ["--set", "probe_bta=0.5"])
    assert unknown.exit_code == 2
    (line,) = unknown.stderr.splitlines()
    assert line.startswith("error: ") and "unknown key 'probe_bta'" in line
    assert "probe_beta" in line and "preconditioner_tolerance" in line
    malformed = runner.invoke(app, base + ["--set", "probe_beta"])
    assert malformed.exit_code == 2 and "expected KEY=VALUE" in malformed.stderr
    invalid = runner.invoke(app, base + ["--set", "probe_beta=3", "--json"])
    assert invalid.exit_code == 2
    payload = json.loads(invalid.stdout)
    assert payload["ok"] is False and "probe_beta" in payload["error"]
    network = ["reconstruct", "--bundle", str(tmp_path / "b.zip"), "--data", str(npz)]
    with_bundle = runner.invoke(app, network + ["--out", str(out), "--set", "alpha=0.5"])
    assert with_bundle.exit_code == 2 and "--set" in with_bundle.stderr
    assert not out.exists()


def test_help_lists_every_solver_field_and_the_network_defaults():
    import inspect

    from ptycho_nl.config import override_fields
    from ptycho_nl.recon.jobs import reconstruct_network_to_dir
    from ptycho_nl.recon.options import IterativeOptions

    result = runner.invoke(app, ["reconstruct", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # rich wraps long lines
    for field in override_fields(IterativeOptions):
        assert f"{field.key} ({json.dumps(field.default)})" in text, field.key
    params = inspect.signature(reconstruct_network_to_dir).parameters
    for key in ("chunk", "batch_size", "device", "phase_sync"):
        assert f"{key}={params[key].default!r}" in text, key


def test_network_options_left_out_are_the_librarys_defaults(npz, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import ptycho_nl.recon.jobs as jobs

    calls = []

    def fake(bundle, data, out, **kwargs):  # records what the command passes, reconstructs nothing
        calls.append(kwargs)
        return SimpleNamespace(method="stub", total_seconds=0.0, errors=[], options={})

    monkeypatch.setattr(jobs, "reconstruct_network_to_dir", fake)
    base = ["reconstruct", "--bundle", "b.zip", "--data", str(npz), "--out", str(tmp_path)]
    _ok(base)
    _ok(base + ["--batch-size", "8", "--chunk", "5", "--no-phase-sync", "--device", "cpu"])
    assert calls == [{}, {"batch_size": 8, "chunk": 5, "phase_sync": False, "device": "cpu"}]


def test_bundle_reconstruct_matches_direct_prediction_and_stitching(scan, npz, tmp_path):
    from ptycho_nl.models.registry import build_model
    from ptycho_nl.recon.stitch import stitch_patches
    from ptycho_nl.train.bundle import save_bundle

    n = scan.patch_size
    torch.manual_seed(0)
    model = build_model("supervised", n=n, channels=[4, 8, 8])
    meta = {"model_name": "supervised", "model_kwargs": model.model_kwargs, "patch_size": n}
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
    with torch.no_grad():
        patches = model.eval()(torch.from_numpy(scan.diffraction))
    expected, _ = stitch_patches(
        patches,
        torch.from_numpy(scan.positions),
        scan.object.shape,
        weights=torch.from_numpy(scan.probe).abs().square(),
    )
    # float32 convolutions in another memory layout (predict runs channels-last): sums reorder.
    np.testing.assert_allclose(
        np.load(recon / "object.npy"), expected.numpy(), rtol=1e-4, atol=1e-5
    )
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


def test_evaluate_without_ground_truth_fails_clearly(scan, npz, tmp_path):
    recon = tmp_path / "recon"
    done = _ok(
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
    assert done.stdout.startswith(f"wrote {recon}: epie in ")  # text mode: one human line
    bare = save_npz(replace(scan, object=None, patches=None), tmp_path / "bare.npz")
    result = runner.invoke(
        app,
        ["evaluate", "--recon", str(recon), "--truth", str(bare), "--out", str(tmp_path / "ev")],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "objectGuess" in result.stderr
    assert "Traceback" not in result.output


def test_positions_outside_the_object_fail_with_exit_1(scan, tmp_path):
    outside = replace(scan, xcoords=scan.xcoords + 20.0, patches=None)
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


def test_hybrid_refines_the_network_object_and_records_stages_and_quality(scan, npz, tmp_path):
    from ptycho_nl.models.registry import build_model
    from ptycho_nl.train.bundle import save_bundle

    n = scan.patch_size
    torch.manual_seed(0)
    model = build_model("supervised", n=n, channels=[4, 8, 8])
    meta = {"model_name": "supervised", "model_kwargs": model.model_kwargs, "patch_size": n}
    bundle, _, _ = save_bundle(tmp_path / "bundle.zip", model, config={}, meta=meta)
    base = ["reconstruct", "--bundle", str(bundle), "--data", str(npz), "--refine", "epie"]
    _ok(base + ["--iterations", "6", "--out", str(tmp_path / "hybrid"), "--json"])
    record = json.loads((tmp_path / "hybrid" / "recon.json").read_text())
    assert record["method"] == "supervised+epie" and record["iterations"] == 6
    assert set(record["stages"]) == {"network", "epie"} and len(record["errors"]) == 6
    assert record["total_seconds"] == pytest.approx(sum(record["stages"].values()))
    quality = record["quality"]
    assert quality[0]["stage"] == "network" and quality[-1]["iteration"] == 6
    assert [p["seconds"] for p in quality] == sorted(p["seconds"] for p in quality)
    # The data are noiseless: refining an untrained network's object can only improve it.
    assert quality[-1]["nrmse"] < quality[0]["nrmse"]
    # The start leaves out the network phase's coarse part (2 probe diameters by default);
    # --phase-highpass 0 starts from the whole network object, so the refinement differs.
    assert record["options"]["phase_highpass"] == 2.0
    # Then one moment round (noiseless data, a dense scan: it runs unless it fits worse).
    assert record["options"]["moment_rounds"] == 1
    assert record["options"]["moment_rounds_kept"] in (0, 1)
    assert (record["options"]["moment_rounds_note"] is None) == (
        record["options"]["moment_rounds_kept"] == 1
    )
    _ok(base + ["--iterations", "6", "--phase-highpass", "0", "--out", str(tmp_path / "whole")])
    whole = json.loads((tmp_path / "whole" / "recon.json").read_text())
    assert whole["options"]["phase_highpass"] == 0.0
    assert whole["quality"][0]["nrmse"] == quality[0]["nrmse"]  # the same network object
    assert whole["quality"][-1]["nrmse"] != quality[-1]["nrmse"]
    # --iterations 0: the network's object as is.
    _ok(base + ["--iterations", "0", "--out", str(tmp_path / "k0")])
    k0 = json.loads((tmp_path / "k0" / "recon.json").read_text())
    assert k0["method"] == "supervised" and k0["iterations"] == 0 and len(k0["quality"]) == 1
    refused = runner.invoke(app, base + ["--iterations", "0", "--moment-rounds", "2",
                                         "--out", str(tmp_path / "k0m")])  # fmt: skip
    assert refused.exit_code == 2 and "the network's object as is" in refused.stderr
    assert not (tmp_path / "k0m").exists()
    refused = runner.invoke(app, ["reconstruct", "--method", "epie", "--refine", "epie",
                                  "--data", str(npz), "--out", str(tmp_path / "x")])  # fmt: skip
    assert refused.exit_code == 2 and "--refine refines a network" in refused.stderr
    for extra in (["--refine", "epie", "--phase-highpass", "-1"], ["--phase-highpass", "1"]):
        refused = runner.invoke(app, ["reconstruct", "--bundle", str(bundle), "--data", str(npz),
                                      "--out", str(tmp_path / "y"), *extra])  # fmt: skip
        assert refused.exit_code == 2 and "--phase-highpass takes probe diameters" in refused.stderr
        assert not (tmp_path / "y").exists()
    for source in (["--bundle", str(bundle)], ["--method", "epie"]):
        refused = runner.invoke(app, ["reconstruct", *source, "--data", str(npz), "--out",
                                      str(tmp_path / "y"), "--moment-rounds", "-1"])  # fmt: skip
        assert refused.exit_code == 2 and "--moment-rounds takes a count" in refused.stderr
        assert not (tmp_path / "y").exists()
    refused = runner.invoke(app, ["reconstruct", "--method", "epie", "--data", str(npz), "--out",
                                  str(tmp_path / "y"), "--moment-rounds", "1"])  # fmt: skip
    assert refused.exit_code == 2 and "with --method epie" in refused.stderr
    # The network's object alone, after moment rounds: timed and recorded as a stage.
    said = _ok(["reconstruct", "--bundle", str(bundle), "--data", str(npz), "--moment-rounds",
                "2", "--out", str(tmp_path / "moments"), "--json"])  # fmt: skip
    moments = json.loads((tmp_path / "moments" / "recon.json").read_text())
    summary = json.loads(said.stdout)["data"]
    for key in ("moment_rounds", "moment_rounds_kept", "moment_rounds_note"):
        assert summary[key] == moments["options"][key]
    assert moments["method"] == "supervised" and moments["options"]["moment_rounds"] == 2
    kept = moments["options"]["moment_rounds_kept"]
    assert kept in (0, 1, 2) and (moments["options"]["moment_rounds_note"] is None) == (kept == 2)
    assert moments["stages"]["moments"] > 0
    assert moments["quality"][0]["seconds"] >= moments["stages"]["network"]
