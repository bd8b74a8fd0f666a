"""`ptycho-nl simulate` and `ptycho-nl validate`: exit codes, one-line errors, --json."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.data.npz import write_npz_deterministic
from ptycho_nl.io_utils import sha256_file

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny.npz"
    result = runner.invoke(
        app, ["simulate", "--preset", "tiny", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return out


def _arrays(path):
    with np.load(path) as archive:
        return {k: archive[k].copy() for k in archive.files}


def test_simulate_then_validate_passes(tiny_npz):
    result = runner.invoke(app, ["validate", str(tiny_npz)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"ok: {tiny_npz}: 64 patterns of 32x32"


def test_simulate_json_reports_files_and_hashes(tmp_path):
    out = tmp_path / "a.npz"
    result = runner.invoke(
        app, ["simulate", "--preset", "tiny", "--seed", "3", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["error"] is None
    assert payload["data"]["files"]["data"] == {"path": str(out), "sha256": sha256_file(out)}
    assert _arrays(out)["metadata"].item().count('"seed":3') == 2  # config and seeds record it


def test_simulate_split_writes_train_and_test(tmp_path):
    result = runner.invoke(app, ["simulate", "--preset", "tiny", "--split", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.npz", "train.npz"]
    for name in ("train", "test"):
        assert runner.invoke(app, ["validate", str(tmp_path / f"{name}.npz")]).exit_code == 0


def test_simulate_from_config_file_and_bad_config(tmp_path):
    config = tmp_path / "sim.json"
    config.write_text(
        json.dumps(
            {
                "probe": {"size": 16, "kind": "gaussian", "sigma": 2.0},
                "scan": {"n_positions": 9, "view": "sparse"},
            }
        )
    )
    result = runner.invoke(
        app, ["simulate", "--config", str(config), "--out", str(tmp_path / "c.npz")]
    )
    assert result.exit_code == 0, result.output
    assert _arrays(tmp_path / "c.npz")["diffraction"].shape == (9, 16, 16)
    config.write_text(json.dumps({"scan": {"view": "medium"}}))
    bad = runner.invoke(
        app, ["simulate", "--config", str(config), "--out", str(tmp_path / "d.npz")]
    )
    assert bad.exit_code == 1
    (line,) = bad.stderr.splitlines()
    assert line.startswith("error: ") and "scan.view" in line
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "huge"], "unknown preset 'huge'; choose from tiny, small"),
        ([], "give exactly one of --config FILE or --preset NAME"),
    ],
)
def test_simulate_usage_errors_exit_2(tmp_path, args, message):
    result = runner.invoke(app, ["simulate", *args, "--out", str(tmp_path / "x.npz")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def _corrupt(tiny_npz, tmp_path, kind):
    bad = tmp_path / f"{kind}.npz"
    if kind == "truncated":
        bad.write_bytes(tiny_npz.read_bytes()[:3000])
    elif kind == "text":
        bad.write_text("not,an,npz\n")
    else:
        arrays = _arrays(tiny_npz)
        if kind == "missing":
            del arrays["probeGuess"]
        elif kind == "nan":
            arrays["diffraction"][0, 1, 2] = np.nan
        write_npz_deterministic(bad, arrays)
    return bad


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "not a readable NPZ archive (File is not a zip file)"),
        ("text", "not a readable NPZ archive (not a zip archive: starts with b'not,')"),
        ("missing", "key 'probeGuess': expected shape (N, N) complex64"),
        ("nan", "key 'diffraction': expected finite values, found 1 NaN/Inf"),
    ],
)
def test_validate_corrupted_copies_fail_with_one_line_reasons(tiny_npz, tmp_path, kind, reason):
    bad = _corrupt(tiny_npz, tmp_path, kind)
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {bad}: ") and reason in line and "Traceback" not in line


def test_validate_lists_every_problem_and_json(tiny_npz, tmp_path):
    arrays = _arrays(tiny_npz)
    arrays["xcoords"] = arrays["xcoords"][:-1]
    arrays["diffraction"][0, 0, 0] = -1.0
    bad = write_npz_deterministic(tmp_path / "two.npz", arrays)
    result = runner.invoke(app, ["validate", str(bad), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and len(payload["data"]["problems"]) == 2
    assert result.stderr.splitlines() == [f"error: {p}" for p in payload["data"]["problems"]]


def test_validate_legacy_file_warns_but_passes(tiny_npz, tmp_path):
    arrays = _arrays(tiny_npz)
    arrays["diff3d"] = arrays.pop("diffraction")
    legacy = write_npz_deterministic(tmp_path / "legacy.npz", arrays)
    result = runner.invoke(app, ["validate", str(legacy), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] and "legacy alias" in payload["data"]["warnings"][0]
    assert result.stderr.startswith("warning: ")


@pytest.mark.slow  # four fresh interpreters importing torch: ~8 s on 2 busy cores
def test_installed_console_script_end_to_end(tmp_path):
    exe = shutil.which("ptycho-nl")
    cmd = [exe] if exe else [sys.executable, "-m", "ptycho_nl"]
    out = tmp_path / "t.npz"
    sim = subprocess.run(
        [*cmd, "simulate", "--preset", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sim.returncode == 0, sim.stderr
    assert subprocess.run([*cmd, "validate", str(out)], capture_output=True).returncode == 0
    broken = tmp_path / "broken.npz"
    broken.write_bytes(out.read_bytes()[:-100])
    check = subprocess.run(
        [*cmd, "validate", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 1
    assert check.stderr.startswith(f"error: {broken}: ") and len(check.stderr.splitlines()) == 1
    usage = subprocess.run([*cmd, "validate"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2


def test_validate_reads_cxi_hdf5(tmp_path):
    import h5py

    path = tmp_path / "scan.cxi"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = rng.poisson(3.0, size=(4, 8, 8)).astype(np.int32)
        f["entry_1/instrument_1/source_1/illumination"] = np.ones((8, 8), np.complex64)
        f["entry_1/instrument_1/source_1/energy"] = 1.28e-15
        f["entry_1/instrument_1/detector_1/distance"] = 1.0
        f["entry_1/instrument_1/detector_1/x_pixel_size"] = 5e-5
        f["entry_1/sample_1/geometry_1/translation"] = rng.uniform(0, 1e-6, size=(4, 3))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"ok: {path}: 4 patterns of 8x8"
    assert "counts converted" in result.stderr
    incomplete = tmp_path / "bad.cxi"
    with h5py.File(incomplete, "w") as f:
        f["entry_1/data_1/data"] = np.zeros((4, 8, 8), np.float32)
    bad = runner.invoke(app, ["validate", str(incomplete)])
    assert bad.exit_code == 1 and len(bad.stderr.splitlines()) == 5  # one line per missing dataset
