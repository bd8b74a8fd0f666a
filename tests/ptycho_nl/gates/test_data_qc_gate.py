"""The data QC gate (`tools gate data`, ptycho_nl/gates/data_qc.py): each item on data that
passes and on data built to fail it, the measured values against a direct computation here,
and the hashed QC record it writes."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ptycho_nl.data.npz import read_npz_arrays, write_npz_deterministic
from ptycho_nl.data.qc import QcError, read_record, record_path, require_passed
from ptycho_nl.gates.data_qc import data_gate, run_data_qc
from ptycho_nl.simulate import PRESETS, simulate_dataset, simulate_train_test
from tools.cli import app as tools_app

runner = CliRunner()


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    """The tiny preset split by region into train.npz / test.npz: a pilot that passes."""
    out = tmp_path_factory.mktemp("pilot") / "pilot"
    simulate_train_test(PRESETS["tiny"], out)
    return out


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rewrite(path, **changes):
    """Rewrite one NPZ with numpy itself (not the library's writer) and some keys changed."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def _verdicts(report):
    return {item.name: item.verdict for item in report.items}


def test_a_split_pilot_passes_every_item_and_the_dose_is_the_direct_count(pilot):
    report = data_gate(pilot)
    assert report.passed, report.failing()
    assert set(_verdicts(report).values()) == {"pass"}
    # realised photons per pattern, computed here from the stored amplitudes: (s A)^2
    totals = []
    for name in ("train.npz", "test.npz"):
        with np.load(pilot / name) as f:
            counts = (f["diffraction"].astype(np.float64) * float(f["intensity_scale"])) ** 2
            totals.append(counts.sum(axis=(1, 2)))
    realised = np.concatenate(totals).mean()
    assert report.item("dose").measured == pytest.approx(abs(realised - 1e4) / 1e4, abs=1e-6)
    assert report.item("split_disjoint").mandatory and report.item("split_disjoint").measured == 0


def test_wrong_dose_fails_the_dose_item_with_the_measured_deviation(pilot, tmp_path):
    bad = _copy(pilot, tmp_path / "bad")
    for name in ("train.npz", "test.npz"):
        _rewrite(bad / name, dose=np.float64(1e5))  # the file claims ten times the photons
    report = data_gate(bad)
    assert not report.passed and report.failing(mandatory_only=True) == ["dose"]
    assert report.item("dose").measured == pytest.approx(0.9, abs=0.02)


def test_saturated_patterns_fail_above_the_detector_limit(tmp_path):
    config = PRESETS["tiny"].model_copy(update={"dose": 1e8})
    path = simulate_dataset(config, tmp_path / "bright.npz")
    with np.load(path) as f:
        peak = ((f["diffraction"].astype(np.float64) * float(f["intensity_scale"])) ** 2).max()
    assert peak > 65535  # the premise: a 16-bit detector would saturate
    report = data_gate(path)
    item = report.item("saturated_patterns")
    assert item.verdict == "fail" and item.measured > 0 and "saturated_patterns" in report.failing()


def test_overlapping_train_and_test_fail_the_split_item(pilot, tmp_path):
    bad = _copy(pilot, tmp_path / "overlap")
    shutil.copy(bad / "train.npz", bad / "test.npz")  # the test set is the training set
    report = data_gate(bad)
    item = report.item("split_disjoint")
    with np.load(bad / "test.npz") as f:
        n_test = len(f["xcoords"])
    assert item.verdict == "fail" and item.measured == n_test
    assert "split_disjoint" in report.failing(mandatory_only=True)


def test_one_dataset_reports_the_split_not_measured_and_not_counted(tiny_npz):
    report = data_gate(tiny_npz)
    item = report.item("split_disjoint")
    assert item.verdict == "not_measured" and item.mandatory is False
    assert report.passed


def test_missing_provenance_and_a_broken_contract_fail_their_items(tiny_npz, tmp_path):
    arrays = read_npz_arrays(tiny_npz)
    meta = json.loads(str(arrays["metadata"]))
    del meta["config_digest"]
    arrays["metadata"] = np.array(json.dumps(meta))
    no_digest = write_npz_deterministic(tmp_path / "no_digest.npz", arrays)
    assert _verdicts(data_gate(no_digest))["provenance"] == "fail"
    del arrays["probeGuess"]
    broken = write_npz_deterministic(tmp_path / "broken.npz", arrays)
    report = data_gate(broken)
    assert report.item("contract_valid").verdict == "fail"
    assert "probeGuess" in report.item("contract_valid").note


def test_the_record_is_bound_to_the_data_and_to_itself(pilot, tmp_path):
    data = _copy(pilot, tmp_path / "pilot")
    report, path = run_data_qc(data)
    assert path == data / "qc.json" == record_path(data)
    record = read_record(path)
    assert record.passed and set(record.files) == {"train.npz", "test.npz"}
    assert record.config == PRESETS["tiny"].model_dump(mode="json")
    assert require_passed(data / "train.npz")[0] == path
    # data changed after the record: refused, naming both hashes' prefixes
    _rewrite(data / "test.npz", dose=np.float64(2e4))
    with pytest.raises(QcError, match="is of other data"):
        require_passed(data / "test.npz")
    # a record edited after it was written: refused
    raw = json.loads(path.read_text())
    raw["passed"], raw["failing"] = True, []
    raw["files"]["test.npz"] = "0" * 64
    path.write_text(json.dumps(raw))
    with pytest.raises(QcError, match="changed after it was written"):
        read_record(path)


def test_tools_gate_data_exit_codes_and_json(pilot, tmp_path):
    good = _copy(pilot, tmp_path / "good")
    result = runner.invoke(tools_app, ["gate", "data", str(good), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["data"]["record"] == str(good / "qc.json")
    assert (good / "qc.json").is_file()
    bad = _copy(pilot, tmp_path / "bad")
    shutil.copy(bad / "train.npz", bad / "test.npz")
    result = runner.invoke(tools_app, ["gate", "data", str(bad)])
    assert result.exit_code == 1
    assert "split_disjoint" in result.stderr and "Traceback" not in result.output
    record = read_record(bad / "qc.json")
    assert not record.passed and "split_disjoint" in record.failing


def test_tools_gate_data_on_missing_data_is_one_line(tmp_path):
    result = runner.invoke(tools_app, ["gate", "data", str(tmp_path / "absent")])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "absent" in lines[0] and lines[0].startswith("error:")


def test_a_corrupted_shard_fails_the_contract_item_naming_it(tmp_path):
    from ptycho_nl.simulate.shards import write_shard_set

    write_shard_set(PRESETS["tiny"], tmp_path / "set", 2)
    (tmp_path / "set" / "shard-0001.npz").write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(tools_app, ["gate", "data", str(tmp_path / "set"), "--json"])
    assert result.exit_code == 1
    items = {i["name"]: i for i in json.loads(result.stdout)["data"]["items"]}
    assert items["contract_valid"]["verdict"] == "fail"
    assert "shard 1 (shard-0001.npz)" in items["contract_valid"]["note"]


def test_the_definition_file_and_the_registry_name_the_same_items_and_defaults():
    import tomllib

    from ptycho_nl.gates.data_qc import CHECKS, default_definition
    from ptycho_nl.gates.definitions import definition_path

    definition = default_definition()
    assert [i.name for i in definition.items] == CHECKS.names()
    raw = tomllib.loads(definition_path("data").read_text())["items"]
    for name, check in CHECKS.checks.items():
        written = {k: v for k, v in raw[name].items() if k not in ("description", "mandatory")}
        assert written == check.defaults, name  # the file states every default it relies on


def test_a_study_data_directory_is_judged_cell_by_cell(tmp_path):
    data = tmp_path / "data"
    for name, dose in (("C-d1e4", 1e4), ("C-d1e5", 1e5)):
        simulate_train_test(PRESETS["tiny"].model_copy(update={"dose": dose}), data / name)
    shutil.copy(data / "C-d1e5" / "train.npz", data / "C-d1e5" / "test.npz")  # one bad cell
    report, path = run_data_qc(data)
    item = report.item("split_disjoint")
    assert item.verdict == "fail" and item.evidence.startswith("C-d1e5/test.npz")
    record = read_record(path)
    assert set(record.files) == {
        f"{c}/{f}" for c in ("C-d1e4", "C-d1e5") for f in ("train.npz", "test.npz")
    }
    assert record.config is None  # the cells differ in dose: no one config to record
