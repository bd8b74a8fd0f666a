"""`tools gate run` and `tools readiness`: real pytest subprocesses in a git repo in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from records_util import write_attempt


def _project(repo: Path) -> None:
    (repo / "tests").mkdir()
    (repo / "tests/test_training_cli.py").write_text(
        "def test_training_cli_runs():\n    assert 2 + 2 == 4\n\n"
        "def test_training_cli_exit_code():\n    assert int('1') == 1\n"
    )
    (repo / "tests/test_other.py").write_text("def test_other_broken():\n    assert 1 == 2\n")
    (repo / "tests/test_param.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('word', ['in progress', 'done now', 'x'])\n"
        "def test_param_words(word):\n    assert word.strip() == word\n"
    )
    (repo / "plans").mkdir(exist_ok=True)
    gates = {
        "gates": {
            "training_cli": {
                "pytest_args": ["tests", "-k", "training_cli"],
                "items": ["TRAIN-001"],
            },
            "nothing": {"pytest_args": ["tests", "-k", "no_such_test"]},
            "param": {"pytest_args": ["tests/test_param.py"], "min_collected": 3},
            "broken": {"pytest_args": ["tests", "-k", "other"], "items": ["RECON-001"]},
        }
    }
    (repo / "plans/gates.json").write_text(json.dumps(gates))


def test_gate_passes_with_counts(repo: Path, cli):
    _project(repo)
    result = cli("gate", "run", "training_cli", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert (data["ok"], data["collected"], data["passed"], data["failed"]) == (True, 2, 2, 0)


def test_gate_counts_parametrized_ids_with_spaces(repo: Path, cli):
    _project(repo)
    result = cli("gate", "run", "param", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert (data["collected"], data["passed"]) == (3, 3)


def test_gate_selecting_nothing_fails(repo: Path, cli):
    _project(repo)
    result = cli("gate", "run", "nothing")
    assert result.exit_code == 1
    assert "collected 0 test(s), need >= 1" in result.stdout


def test_gate_with_failing_test_fails(repo: Path, cli):
    _project(repo)
    result = cli("gate", "run", "broken", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)["data"]
    assert (data["collected"], data["passed"], data["failed"]) == (1, 0, 1)


def test_unknown_gate_and_malformed_file_are_input_errors(repo: Path, cli):
    _project(repo)
    unknown = cli("gate", "run", "nope")
    assert unknown.exit_code == 2 and "no gate 'nope'" in unknown.stderr
    (repo / "plans/gates.json").write_text('{"gates": {"x": {"pytest_args": []}}}')
    bad = cli("gate", "run", "x")
    assert bad.exit_code == 2 and "gates.x.pytest_args" in bad.stderr
    (repo / "plans/gates.json").write_text("{not json")
    assert "not valid JSON" in cli("gate", "run", "x").stderr


def test_readiness_combines_gates_and_latest_attempt(repo: Path, cli):
    _project(repo)
    (repo / "fix_plan.md").write_text(
        "## [TRAIN-001] t\n- Status: in_progress\n\n## [RECON-001] r\n- Status: in_progress\n\n"
        "## [FOUND-001] f\n- Status: done\n"
    )
    write_attempt(repo, "TRAIN-001", 1, status="complete", green_valid=True)
    write_attempt(repo, "RECON-001", 1, status="complete", green_valid=False)
    result = cli("readiness", "--json")
    assert result.exit_code == 1  # RECON-001 is not ready
    reports = {r["item_id"]: r for r in json.loads(result.stdout)["data"]}
    # Done items are checked too (a regression after done matters most): FOUND-001 has nothing.
    assert set(reports) == {"TRAIN-001", "RECON-001", "FOUND-001"}
    assert reports["FOUND-001"]["reasons"] == ["no gate defined", "no attempt recorded"]
    assert reports["TRAIN-001"]["ready"] and reports["TRAIN-001"]["gates"] == {"training_cli": True}
    recon = reports["RECON-001"]
    assert not recon["ready"] and recon["gates"] == {"broken": False}
    assert "latest attempt #1 has no valid GREEN run" in recon["reasons"]
