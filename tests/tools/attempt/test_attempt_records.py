"""Artifacts, blockers, verify, show/list and the recorded environment."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path

import pytest
from attempt_repo import PYTEST

from tools.attempt.store import current_record, load_record


@pytest.fixture
def hub(repo: Path, cli_json) -> Path:
    code, out = cli_json("attempt", "start", "CORE-001", "--focus", "records")
    assert code == 0, out
    return repo / out["data"]["hub"]


def test_artifacts_are_copied_hashed_and_verified(repo: Path, hub: Path, cli_json):
    big = repo / "big.bin"
    payload = bytes(range(256)) * 1024 + b"tail"  # > 4 chunks of 64 KiB
    big.write_bytes(payload)
    (repo / "notes.txt").write_text("n\n")
    code, out = cli_json("attempt", "artifact", "big.bin", "notes.txt")
    assert code == 0, out
    assert [a["path"] for a in out["data"]] == ["data/big.bin", "data/notes.txt"]
    assert out["data"][0]["size"] == len(payload)
    assert out["data"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert (hub / "data" / "big.bin").read_bytes() == payload

    code, out = cli_json("attempt", "artifact", "notes.txt")
    assert code == 2 and "already an artifact" in out["error"]
    code, out = cli_json("attempt", "artifact", "missing.txt")
    assert code == 2 and "missing.txt: not a file" in out["error"]

    assert cli_json("attempt", "verify")[0] == 0
    (hub / "data" / "notes.txt").write_text("edited\n")
    (hub / "data" / "big.bin").unlink()
    code, out = cli_json("attempt", "verify", "CORE-001")
    assert code == 1 and not out["ok"]
    problems = {(p["path"], p["problem"]) for p in out["data"]["problems"]}
    assert problems == {("data/notes.txt", "modified"), ("data/big.bin", "missing")}
    assert out["error"] == "2 problem(s) in 1 of 1 hub(s)"


def test_verify_detects_an_edited_log(repo: Path, hub: Path, cli_json, cli):
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, out
    log = hub / out["data"]["log"]
    log.write_text(log.read_text().replace("2 failed", "0 failed"))
    result = cli("attempt", "verify")
    assert result.exit_code == 1
    assert f"modified: {hub.relative_to(repo).as_posix()}/red/red-1.log" in result.stdout


def test_block_pulls_the_signature_from_a_log_and_finishes_blocked(repo, hub, cli_json):
    (repo / "tests" / "test_new.py").write_text("from calc import multiply\n")
    code, out = cli_json(
        "attempt", "run", "red", "--name", "import", "--", *PYTEST, "tests/test_new.py"
    )
    assert code == 1
    code, out = cli_json(
        "attempt",
        "block",
        "--evidence",
        str(hub / "red/import.log"),
        "--root-cause",
        "calc has no multiply",
        "--fix",
        "add multiply",
        "--fix",
        "drop the test",
    )
    assert code == 0, out
    assert out["data"]["signature"].startswith("ImportError: cannot import name 'multiply'")
    assert out["data"]["evidence"] == "red/import.log"
    assert out["data"]["fixes"] == ["add multiply", "drop the test"]

    code, out = cli_json("attempt", "block", "--root-cause", "x", "--fix", "y")
    assert code == 2 and "--signature is required" in out["error"]
    code, out = cli_json(
        "attempt",
        "block",
        "--signature",
        "s",
        "--root-cause",
        "x",
        "--fix",
        "y",
        "--evidence",
        str(repo / "calc.py"),
    )
    assert code == 2 and "expected a log inside the hub" in out["error"]

    code, out = cli_json("attempt", "finish", "--status", "blocked", "--next", "add multiply")
    assert code == 0, out
    summary = (hub / "summary.md").read_text()
    assert "- Signature: `ImportError: cannot import name 'multiply'" in summary
    assert "- Fix 2: drop the test" in summary
    assert "Result: blocked." in (repo / "fix_plan.md").read_text()


def test_show_and_list(repo: Path, hub: Path, cli_json, cli):
    cli_json("attempt", "start", "INIT-009", "--focus", "second item", "--switch")
    code, out = cli_json("attempt", "show")
    assert code == 0 and out["data"]["item_id"] == "INIT-009"
    code, out = cli_json("attempt", "show", "CORE-001", "--number", "1")
    assert code == 0 and out["data"]["focus"] == "records"
    code, out = cli_json("attempt", "show", "CORE-001", "--number", "7")
    assert code == 2 and "attempt #7 of CORE-001 not found" in out["error"]
    code, out = cli_json("attempt", "list")
    assert code == 0
    assert [(a["item_id"], a["number"], a["status"]) for a in out["data"]] == [
        ("CORE-001", 1, "open"),
        ("INIT-009", 1, "open"),
    ]
    result = cli("attempt", "list", "CORE-001")
    assert result.exit_code == 0 and "CORE-001 #1 open" in result.stdout


def test_damaged_record_is_reported_with_its_file(repo: Path, hub: Path, cli_json):
    record = hub / "attempt.json"
    data = json.loads(record.read_text())
    data["number"] = "three"
    record.write_text(json.dumps(data))
    code, out = cli_json("attempt", "show")
    assert code == 2
    assert str(record) in out["error"] and "number" in out["error"]


def test_environment_and_git_facts(repo: Path, hub: Path, cli_json):
    code, out = cli_json("attempt", "run", "cli", "--", "git", "status", "--short")
    assert code == 0
    env = out["data"]["env"]
    assert env["python"] == platform.python_version()
    assert env["torch"] == importlib.metadata.version("torch")
    # The hub the tool writes under plans/ does not count as a dirty working tree.
    assert out["data"]["git"]["dirty"] is False
    (repo / "calc.py").write_text("# edited\n")
    (repo / "new_module.py").write_text("x = 1\n")
    code, out = cli_json("attempt", "run", "cli", "--", "true")
    assert out["data"]["git"]["dirty"] is True
    assert out["data"]["git"]["dirty_paths"] == ["calc.py", "new_module.py"]


def test_record_on_disk_matches_the_model(repo: Path, hub: Path, cli_json):
    cli_json("attempt", "run", "cli", "--", "true")
    record = current_record(repo)
    assert load_record(hub / "attempt.json") == record
    assert record.runs[0].log == "cli/cli-1.log" and record.runs[0].pytest is None


def test_artifacts_cannot_be_written_outside_plans(repo: Path, hub: Path, cli_json, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (hub / "data").rmdir()
    (hub / "data").symlink_to(outside, target_is_directory=True)
    (repo / "notes.txt").write_text("n\n")
    code, out = cli_json("attempt", "artifact", "notes.txt")
    assert code == 2 and "refusing to write outside plans/" in out["error"]
    assert list(outside.iterdir()) == []


def test_initiative_attempt_finishes_without_a_ledger_item(repo: Path, cli_json):
    code, out = cli_json("attempt", "start", "INIT-009", "--focus", "docs", "--mode", "Docs")
    assert code == 0
    ledger_before = (repo / "fix_plan.md").read_text()
    code, out = cli_json("attempt", "finish", "--status", "partial")
    assert code == 0
    assert out["data"]["ledger_appended"] is False and "INIT-009" in out["data"]["ledger_note"]
    assert (repo / "fix_plan.md").read_text() == ledger_before


def test_tools_attempt_env_selects_an_attempt_per_agent(repo: Path, cli_json, monkeypatch):
    _, first = cli_json("attempt", "start", "CORE-001", "--focus", "agent A")
    _, second = cli_json("attempt", "start", "INIT-009", "--focus", "agent B", "--switch")
    monkeypatch.setenv("TOOLS_ATTEMPT", first["data"]["hub"])
    code, out = cli_json("attempt", "run", "cli", "--", "true")
    assert code == 0
    assert [
        len(r.runs)
        for r in (
            load_record(repo / first["data"]["hub"] / "attempt.json"),
            load_record(repo / second["data"]["hub"] / "attempt.json"),
        )
    ] == [1, 0]
    monkeypatch.setenv("TOOLS_ATTEMPT", "/etc")
    code, out = cli_json("attempt", "show")
    assert code == 2 and "not a hub under plans/active" in out["error"]


def test_pytest_usage_error_is_no_red_and_gives_a_signature(repo: Path, hub: Path, cli_json):
    # pytest's own usage errors ("ERROR: file or directory not found") are signatures too.
    code, out = cli_json(
        "attempt", "run", "red", "--name", "nofile", "--", *PYTEST, "tests/nope.py"
    )
    assert code == 1 and out["error"] == "invalid RED: no test ran (pytest exit 4)"
    code, out = cli_json(
        "attempt",
        "block",
        "--evidence",
        "red/nofile.log",
        "--root-cause",
        "typo",
        "--fix",
        "fix path",
    )
    assert (
        code == 0
        and out["data"]["signature"] == "ERROR: file or directory not found: tests/nope.py"
    )
