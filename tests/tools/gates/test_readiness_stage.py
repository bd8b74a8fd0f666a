"""`tools readiness STAGE`: a report built from checks that run now, READY only when all pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptycho_nl.gates.definitions import load_definition
from ptycho_nl.gates.readiness import READINESS_CHECKS
from tools.gates.readiness import stage_definition_path, tools_checks


def _stage(repo: Path, name: str, body: str) -> None:
    folder = repo / "specs/gates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"readiness_{name}.toml").write_text(body)


def _pytest_gate(repo: Path, passing: bool) -> None:
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests/test_g.py").write_text(f"def test_g():\n    assert {passing}\n")
    (repo / "plans").mkdir(exist_ok=True)
    gates = {"gates": {"unit": {"pytest_args": ["tests/test_g.py"]}}}
    (repo / "plans/gates.json").write_text(json.dumps(gates))


@pytest.mark.slow
def test_a_stage_of_passing_checks_is_ready_with_commands_and_evidence(repo: Path, cli):
    _pytest_gate(repo, passing=True)
    _stage(
        repo,
        "quick",
        "[items.config_digest_everywhere]\n[items.telemetry_fields]\n"
        "[items.pytest_gates]\nnames = 'unit'\n",
    )
    result = cli("readiness", "quick", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["status"] == "READY" and data["passed"]
    items = {i["name"]: i for i in data["items"]}
    assert items["pytest_gates"]["command"] == "tools gate run unit"
    assert items["telemetry_fields"]["note"].startswith("absent: ")  # CPU: with the reason
    smoke = repo / items["config_digest_everywhere"]["evidence"]
    assert (smoke / "logs/training.log").is_file() and (smoke / "manifest.json").is_file()
    report = Path(data["written"]["markdown"]).read_text()
    assert report.startswith("# Readiness quick: READY")
    assert "| pytest_gates | `tools gate run unit` | pass:" in report


def test_one_failing_check_makes_the_stage_not_ready(repo: Path, cli):
    _pytest_gate(repo, passing=False)
    _stage(repo, "tests", "[items.pytest_gates]\n")
    result = cli("readiness", "tests")
    assert result.exit_code == 1
    assert "readiness tests: NOT READY" in result.stdout
    assert result.stderr == "error: not ready: pytest_gates\n"


def test_no_gates_to_run_is_not_measured_never_ready(repo: Path, cli):
    _stage(repo, "empty", "[items.pytest_gates]\n")
    result = cli("readiness", "empty", "--json")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)["data"]["items"]
    assert item["verdict"] == "not_measured" and item["note"] == "no gate in plans/gates.json"


def test_unknown_stages_and_bad_stage_files_are_errors(repo: Path, cli):
    unknown = cli("readiness", "nosuchstage")
    assert unknown.exit_code == 2 and "no stage definition for 'nosuchstage'" in unknown.stderr
    assert cli("readiness", "../up").exit_code == 2
    _stage(repo, "bad", "[items.tick_the_box]\n")
    bad = cli("readiness", "bad")
    assert bad.exit_code == 1 and "[items.tick_the_box]: unknown item" in bad.stderr


def test_the_shipped_stages_use_exactly_the_known_checks(repo: Path):
    registry = READINESS_CHECKS.merged(tools_checks(repo), "readiness")
    used = set()
    for stage in ("smoke", "training"):
        definition = load_definition(stage_definition_path(repo, stage), registry)
        used |= {i.name for i in definition.items}
    assert used == set(registry.names())


@pytest.mark.slow
def test_the_smoke_stage_runs_the_sentinel_for_real(repo: Path, cli):
    result = cli("readiness", "smoke", "--json")
    assert result.exit_code == 0, result.output
    items = {i["name"]: i for i in json.loads(result.stdout)["data"]["items"]}
    sentinel = items["sentinel_wired"]
    assert sentinel["verdict"] == "pass" and "exit 1" in sentinel["measured"]
    assert sentinel["command"].startswith("python -m ptycho_nl.train --config ")
    record = (repo / sentinel["evidence"].rsplit(":", 1)[0]).read_text().splitlines()[0]
    assert json.loads(record)["kind"].startswith("nan_")
