"""`tools gate add / post-training / reproduce` through the real CLI on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app as ptycho_app
from ptycho_nl.gates.definitions import definition_path


@pytest.mark.slow  # two pytest subprocesses
def test_gate_add_writes_a_gate_that_then_runs(repo: Path, cli):
    (repo / "tests").mkdir()
    (repo / "tests/test_a.py").write_text("def test_a():\n    assert True\n")
    added = cli(
        "gate", "add", "quick", "--pytest-args", "tests -k test_a", "--item", "A-001", "--json"
    )
    assert added.exit_code == 0, added.output
    stored = json.loads((repo / "plans/gates.json").read_text())
    assert stored["gates"]["quick"]["pytest_args"] == ["tests", "-k", "test_a"]
    assert stored["gates"]["quick"]["items"] == ["A-001"]
    ran = cli("gate", "run", "quick", "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["data"]["passed"] == 1


def test_gate_add_refuses_duplicates_and_bad_fields(repo: Path, cli):
    assert cli("gate", "add", "g", "--pytest-args", "tests").exit_code == 0
    again = cli("gate", "add", "g", "--pytest-args", "tests -x")
    assert again.exit_code == 2 and "gate 'g' exists (use --replace" in again.stderr
    assert cli("gate", "add", "g", "--pytest-args", "tests -x", "--replace").exit_code == 0
    assert json.loads((repo / "plans/gates.json").read_text())["gates"]["g"]["pytest_args"] == [
        "tests",
        "-x",
    ]
    empty = cli("gate", "add", "e", "--pytest-args", "")
    assert empty.exit_code == 2 and "gate pytest_args" in empty.stderr
    zero = cli("gate", "add", "z", "--pytest-args", "tests", "--min-collected", "0")
    assert zero.exit_code == 2 and "gate min_collected" in zero.stderr
    bad_name = cli("gate", "add", "../x", "--pytest-args", "tests")
    assert bad_name.exit_code == 2 and "gate name '../x'" in bad_name.stderr
    quote = cli("gate", "add", "q", "--pytest-args", "tests -k 'open")
    assert quote.exit_code == 2 and "cannot split" in quote.stderr
    assert set(json.loads((repo / "plans/gates.json").read_text())["gates"]) == {"g"}


def test_post_training_writes_its_report_and_exits_by_the_mandatory_items(run_copy, cli):
    first = cli("gate", "post-training", str(run_copy), "--json")
    assert first.exit_code == 1
    envelope = json.loads(first.stdout)
    assert envelope["ok"] is False
    assert envelope["error"] == "gate post_training failed: baseline_report, decision_recorded"
    on_disk = json.loads((run_copy / "gate_report.json").read_text())
    assert [i["name"] for i in on_disk["items"]] == [i["name"] for i in envelope["data"]["items"]]
    assert "# Gate post_training: FAILED" in (run_copy / "gate_report.md").read_text()
    assert CliRunner().invoke(ptycho_app, ["report", "baseline", str(run_copy)]).exit_code == 0
    second = cli("gate", "post-training", str(run_copy))
    assert second.exit_code == 0, second.output
    assert "gate post_training: PASSED" in second.stdout
    assert "| best_checkpoint | yes | pass |" in (run_copy / "gate_report.md").read_text()


def test_post_training_bad_inputs_are_one_line_exit_1(run_copy, tmp_path, cli):
    missing = cli("gate", "post-training", str(tmp_path / "none"))
    assert missing.exit_code == 1
    assert missing.stderr == f"error: {tmp_path / 'none'}: run directory not found\n"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[items.colour_of_the_sky]\n")
    bad = cli("gate", "post-training", str(run_copy), "--gate", str(bad_toml), "--json")
    assert bad.exit_code == 1
    error = json.loads(bad.stdout)["error"]
    assert error.startswith(f"{bad_toml}: [items.colour_of_the_sky]: unknown item")


def test_a_gate_file_narrows_the_checklist(run_copy, tmp_path, cli):
    own = tmp_path / "own.toml"
    own.write_text("[gate]\nname = 'ckpt'\n[items.best_checkpoint]\n[items.last_checkpoint]\n")
    result = cli("gate", "post-training", str(run_copy), "--gate", str(own), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["gate"] == "ckpt" and [i["name"] for i in data["items"]] == [
        "best_checkpoint",
        "last_checkpoint",
    ]
    assert definition_path("post_training").is_file()


@pytest.mark.slow
def test_reproduce_reruns_a_prefix_and_records_both(run_copy, cli):
    result = cli("gate", "reproduce", str(run_copy), "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["passed"] and data["tolerance"] == "bit-identical"
    assert Path(data["rerun_dir"]).parent == run_copy / "reproduce"
    assert (run_copy / "reproduce_report.json").is_file()
