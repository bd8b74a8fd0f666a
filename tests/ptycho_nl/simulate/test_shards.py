"""Pilot -> scale: `ptycho-nl simulate --shards K --pilot QC` refuses a failed or different
pilot, writes shard sets atomically with a hashed index, and resumes a killed generation with
the missing shards only. The shards' physics is checked against a direct computation."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ptycho_nl import physics
from ptycho_nl.cli import app
from ptycho_nl.data.shardset import read_index
from ptycho_nl.gates.data_qc import run_data_qc
from ptycho_nl.io_utils import sha256_file
from ptycho_nl.provenance import git_sha
from ptycho_nl.simulate import PRESETS, simulate_train_test
from ptycho_nl.simulate.dataset import scene
from ptycho_nl.simulate.pilot import config_differences
from ptycho_nl.simulate.shards import write_shard_set

runner = CliRunner()
PILOT = PRESETS["tiny"]
# The scaled-up set: twice the patterns (more raster rows) and another seed, nothing else.
SCALE = PILOT.model_copy(
    update={"seed": 7, "scan": PILOT.scan.model_copy(update={"n_positions": 128})}
)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.fixture(scope="module")
def pilot_qc(tmp_path_factory):
    """A pilot (split by region) that passed the data gate: its qc.json."""
    out = tmp_path_factory.mktemp("pilot") / "pilot"
    simulate_train_test(PILOT, out)
    report, record = run_data_qc(out)
    assert report.passed, report.failing()
    return record


def _config_file(tmp_path, config, name="scale.json"):
    path = tmp_path / name
    path.write_text(config.model_dump_json())
    return path


def _simulate(*args):
    return runner.invoke(app, ["simulate", *[str(a) for a in args], "--no-progress"])


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_a_passing_pilot_scales_to_four_shards_that_tile_one_scan(pilot_qc, tmp_path):
    out = tmp_path / "big"
    result = _simulate(
        "--config", _config_file(tmp_path, SCALE), "--shards", 4, "--pilot", pilot_qc,
        "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)["data"]
    assert payload["generated"] == [0, 1, 2, 3] and payload["overrides"] == []
    index = read_index(out)
    assert index.pilot.qc_record == str(pilot_qc) and index.pilot.verdict == "pass"
    assert index.pilot.qc_record_sha256 == sha256_file(pilot_qc)
    starts = [e.start for e in index.shards] + [index.n_patterns]
    assert starts == [0, 32, 64, 96, 128]
    for entry in index.shards:
        assert entry.sha256 == sha256_file(out / entry.file)
        assert entry.stop == starts[entry.index + 1]
        assert entry.compute is not None and entry.compute.wall_s > 0
        arrays = _npz(out / entry.file)
        assert np.array_equal(arrays["scan_index"], np.arange(entry.start, entry.stop))
        assert float(arrays["intensity_scale"]) == index.intensity_scale  # one flux for all
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


def test_shard_counts_are_poisson_draws_of_the_direct_forward_model(tmp_path):
    index, _ = write_shard_set(SCALE, tmp_path / "set", 4)
    probe, _, positions, obj = scene(SCALE)
    s = index.intensity_scale
    totals, expected = [], []
    for entry in index.shards:
        arrays = _npz(tmp_path / "set" / entry.file)
        counts = (arrays["diffraction"].astype(np.float64) * s) ** 2
        assert np.allclose(counts, np.round(counts), atol=1e-2)  # whole photons
        rate = physics.forward_intensity(obj, probe, positions[entry.start : entry.stop])
        totals.append(counts.sum(axis=(1, 2)))
        expected.append(s**2 * rate.to(torch.float64).sum(dim=(-2, -1)).numpy())
    totals, expected = np.concatenate(totals), np.concatenate(expected)
    # each pattern's total is Poisson with mean `expected`: within 5 standard deviations
    assert np.all(np.abs(totals - expected) < 5 * np.sqrt(expected))
    # the one scale fixed before the shards gives the requested mean dose over the set
    assert expected.mean() == pytest.approx(SCALE.dose, rel=0.01)


@pytest.mark.parametrize(
    "breakage, item",
    [("dose", "dose"), ("saturate", "saturated_patterns"), ("overlap", "split_disjoint")],
)
def test_a_failed_pilot_blocks_scaling_and_names_its_items(breakage, item, tmp_path):
    pilot = tmp_path / "pilot"
    config = PILOT.model_copy(update={"dose": 1e8}) if breakage == "saturate" else PILOT
    simulate_train_test(config, pilot)
    if breakage == "dose":  # the files claim ten times the photons they hold (numpy rewrite)
        for name in ("train.npz", "test.npz"):
            arrays = _npz(pilot / name)
            arrays["dose"] = np.float64(config.dose * 10)
            np.savez(pilot / name, **arrays)
    if breakage == "overlap":
        shutil.copy(pilot / "train.npz", pilot / "test.npz")
    report, record = run_data_qc(pilot)
    assert not report.passed and item in report.failing()
    scale = config.model_copy(update={"seed": 3})
    out = tmp_path / "big"
    result = _simulate(
        "--config", _config_file(tmp_path, scale), "--shards", 4, "--pilot", record,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert error.startswith("error:") and "\n" not in error
    assert "pilot QC failed" in error and item in error and "--force" in error
    assert not out.exists()


def test_a_config_differing_beyond_size_and_seed_is_refused_then_forced(pilot_qc, tmp_path):
    other = SCALE.model_copy(
        update={"dose": 1e5, "probe": SCALE.probe.model_copy(update={"sigma": 5.0})}
    )
    assert config_differences(PILOT.model_dump(mode="json"), other.model_dump()) == [
        "dose: 10000.0 -> 100000.0",
        "probe.sigma: 4.0 -> 5.0",
    ]
    config = _config_file(tmp_path, other)
    out = tmp_path / "big"
    refused = _simulate("--config", config, "--shards", 2, "--pilot", pilot_qc, "--out", out)
    assert refused.exit_code == 1 and "probe.sigma" in refused.stderr and "dose" in refused.stderr
    assert not out.exists()
    forced = _simulate(
        "--config", config, "--shards", 2, "--pilot", pilot_qc, "--out", out, "--force"
    )
    assert forced.exit_code == 0, forced.output
    index = read_index(out)
    assert index.complete and index.pilot.differences == [
        "dose: 10000.0 -> 100000.0",
        "probe.sigma: 4.0 -> 5.0",
    ]
    assert len(index.overrides) == 1 and index.overrides[0].startswith("--force: config differs")


def test_shards_without_a_pilot_are_refused_unless_forced(tmp_path):
    config = _config_file(tmp_path, SCALE)
    refused = _simulate("--config", config, "--shards", 2, "--out", tmp_path / "a")
    assert refused.exit_code == 1 and "--pilot" in refused.stderr
    forced = _simulate("--config", config, "--shards", 2, "--out", tmp_path / "b", "--force")
    assert forced.exit_code == 0, forced.output
    assert read_index(tmp_path / "b").overrides == ["--force: no pilot QC record"]


KILL_AFTER_TWO = textwrap.dedent(
    """
    import os, signal, sys
    from ptycho_nl.simulate import SimulationConfig
    from ptycho_nl.simulate.shards import write_shard_set

    config = SimulationConfig.model_validate_json(open(sys.argv[1]).read())

    def progress(done, total):
        if done == 2:  # the index now records two shards: die as a killed job dies
            os.kill(os.getpid(), signal.SIGKILL)

    write_shard_set(config, sys.argv[2], 4, progress=progress)
    """
)


@pytest.mark.slow  # a subprocess that imports torch
def test_a_killed_generation_resumes_with_the_missing_shards_only(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_AFTER_TWO)
    out = tmp_path / "big"
    proc = subprocess.run(
        [sys.executable, str(script), str(_config_file(tmp_path, SCALE)), str(out)],
        env=ONE_THREAD,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9  # SIGKILL
    before = read_index(out)
    written = [e.index for e in before.shards if e.sha256 is not None]
    assert written == [0, 1] and not before.complete
    kept = {i: (out / before.shards[i].file).stat().st_mtime_ns for i in written}
    # Shards record the checkout's HEAD, which this process cached when an earlier test asked;
    # the killed subprocess read it afresh. Read it afresh here too: a commit made while the
    # suite runs once made this comparison fail on metadata alone.
    git_sha.cache_clear()
    index, generated = write_shard_set(SCALE, out, 4)
    assert generated == [2, 3] and index.complete
    assert {i: (out / index.shards[i].file).stat().st_mtime_ns for i in written} == kept
    # the resumed set is byte for byte the set one uninterrupted run writes
    fresh, _ = write_shard_set(SCALE, tmp_path / "fresh", 4)
    assert [e.sha256 for e in index.shards] == [e.sha256 for e in fresh.shards]


def test_a_deleted_or_corrupted_shard_is_regenerated_alone(tmp_path):
    out = tmp_path / "big"
    index, _ = write_shard_set(SCALE, out, 4)
    (out / index.shards[1].file).unlink()
    (out / index.shards[3].file).write_bytes(b"PK\x03\x04 not a shard")
    again, generated = write_shard_set(SCALE, out, 4)
    assert generated == [1, 3]
    assert [e.sha256 for e in again.shards] == [e.sha256 for e in index.shards]
    assert write_shard_set(SCALE, out, 4)[1] == []  # nothing left to do


def test_another_config_in_the_same_directory_is_one_line_and_leaves_the_set(tmp_path):
    out = tmp_path / "big"
    write_shard_set(SCALE, out, 2)
    before = (out / "shards.json").read_bytes()
    other = _config_file(tmp_path, SCALE.model_copy(update={"seed": 8}))
    result = _simulate("--config", other, "--shards", 2, "--out", out, "--force")
    assert result.exit_code == 1
    assert "another config" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (out / "shards.json").read_bytes() == before


@pytest.mark.slow  # two spawned workers import torch
def test_two_workers_write_the_same_set_as_one(tmp_path):
    config = _config_file(tmp_path, SCALE)
    args = ("--config", config, "--shards", 2, "--force")
    serial = _simulate(*args, "--out", tmp_path / "one")
    parallel = _simulate(*args, "--out", tmp_path / "two", "--workers", 2)
    assert serial.exit_code == 0 and parallel.exit_code == 0, parallel.output
    one, two = read_index(tmp_path / "one"), read_index(tmp_path / "two")
    assert [e.sha256 for e in one.shards] == [e.sha256 for e in two.shards]


def test_a_pilot_record_of_changed_data_or_edited_after_writing_is_refused(tmp_path):
    pilot = tmp_path / "pilot"
    simulate_train_test(PILOT, pilot)
    _, record = run_data_qc(pilot)
    config = _config_file(tmp_path, SCALE)
    arrays = _npz(pilot / "test.npz")
    arrays["diffraction"] = arrays["diffraction"][::-1].copy()
    np.savez(pilot / "test.npz", **arrays)  # the pilot's data are no longer what was checked
    changed = _simulate(
        "--config", config, "--shards", 2, "--pilot", record, "--out", tmp_path / "a"
    )
    assert changed.exit_code == 1 and "changed since its QC record" in changed.stderr
    raw = json.loads(record.read_text())
    raw["passed"] = True
    raw["failing"] = []
    raw["data_sha256"] = "0" * 64
    record.write_text(json.dumps(raw))
    edited = _simulate(
        "--config", config, "--shards", 2, "--pilot", record, "--out", tmp_path / "b"
    )
    assert edited.exit_code == 1 and "changed after it was written" in edited.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_out_path_that_is_a_file_is_one_line(tmp_path):
    out = tmp_path / "taken"
    out.write_text("not a directory")
    result = _simulate("--config", _config_file(tmp_path, SCALE), "--shards", 2, "--force",
                       "--out", out)  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error:") and "expected a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # starts a Dask LocalCluster
def test_a_dask_local_cluster_writes_the_same_shards(tmp_path):
    pytest.importorskip("distributed")  # the optional extra ptycho-nl[distributed]
    config = _config_file(tmp_path, SCALE)
    args = ("--config", config, "--shards", 2, "--force")
    local = _simulate(*args, "--out", tmp_path / "local")
    dask = _simulate(*args, "--out", tmp_path / "dask", "--dask-local", 2)
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    one, two = read_index(tmp_path / "local"), read_index(tmp_path / "dask")
    assert [e.sha256 for e in one.shards] == [e.sha256 for e in two.shards]


def test_validate_checks_every_shard_of_a_set(tmp_path):
    out = tmp_path / "big"
    write_shard_set(SCALE, out, 4)
    ok = runner.invoke(app, ["validate", str(out), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["data"]["n_patterns"] == SCALE.scan.n_positions
    (out / "shard-0001.npz").write_bytes(b"PK\x03\x04 truncated")
    bad = runner.invoke(app, ["validate", str(out)])
    assert bad.exit_code == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "shard 1 (shard-0001.npz)" in errors[0]


def test_the_scene_shared_by_planning_and_shards_is_left_as_built(tmp_path):
    # Planning and every shard of a process share one cached scene: writing a set must not
    # change it, or later shards (and later sets of that config) would see another object.
    write_shard_set(SCALE, tmp_path / "set", 2)
    from ptycho_nl.simulate.shards import _scene

    cached, fresh = _scene(SCALE.model_dump_json()), scene(SCALE)
    for a, b in zip(cached, fresh, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
