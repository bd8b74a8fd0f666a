"""The whole RED -> GREEN loop through the real `tools` app on a throw-away git repository."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from attempt_repo import PYTEST, fix_calc, git

from tools.attempt.store import latest_attempt, list_attempts, pointer_path

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tdd_loop_records_honest_evidence_and_appends_to_ledger(repo: Path, cli_json):
    code, out = cli_json(
        "attempt", "start", "CORE-001", "--focus", "make add add", "--slug", "Fix Add"
    )
    assert code == 0, out
    hub = repo / out["data"]["hub"]
    assert out["data"]["number"] == 1 and out["data"]["slug"] == "fix-add"
    assert re.fullmatch(
        r"plans/active/CORE-001/reports/\d{4}-\d\d-\d\dT\d{6}Z/fix-add", out["data"]["hub"]
    )
    assert sorted(p.name for p in hub.iterdir() if p.is_dir()) == [
        "analysis",
        "cli",
        "collect",
        "data",
        "green",
        "red",
    ]
    assert json.loads(pointer_path(repo).read_text())["hub"] == out["data"]["hub"]

    code, out = cli_json("attempt", "collect", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, out
    assert out["data"]["node_ids"] == [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_add_zero",
        "tests/test_calc.py::test_add_negative",
    ]

    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, out
    red = out["data"]
    assert red["valid"] and red["exit_code"] == 1
    # The child's own CPU time (wait4): a Python interpreter running pytest uses some, and not
    # more than the wall time allows on this machine's cores.
    assert 0 < red["cpu_s"] <= red["duration_s"] * (os.cpu_count() or 1) + 0.05
    assert red["pytest"]["source"] == "junit"
    assert (red["pytest"]["passed"], red["pytest"]["failed"], red["pytest"]["errors"]) == (1, 2, 0)
    assert {f["node_id"] for f in red["pytest"]["failures"]} == {
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_add_negative",
    }
    assert all(f["exception"] == "AssertionError" for f in red["pytest"]["failures"])
    # The log is what pytest printed; its recorded hash is the file's hash.
    red_log = hub / red["log"]
    assert "2 failed, 1 passed" in red_log.read_text()
    assert red["log_sha256"] == sha256(red_log) and red["log_bytes"] == red_log.stat().st_size
    assert red["git"]["sha"] == git(repo, "rev-parse", "HEAD")
    assert red["git"]["branch"] == "main" and red["git"]["dirty"] is False
    assert ISO.match(red["started_at"]) and ISO.match(red["finished_at"])
    assert red["started_at"] <= red["finished_at"]

    fix_calc(repo)
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, out
    green = out["data"]
    assert green["valid"] and green["pytest"]["passed"] == 3 and green["pytest"]["failed"] == 0
    assert green["git"]["dirty"] is True and green["git"]["dirty_paths"] == ["calc.py"]
    assert green["sequence"] > red["sequence"]

    result_file = repo / "result.csv"
    result_file.write_text("a,b,sum\n2,3,5\n")
    code, out = cli_json("attempt", "artifact", "result.csv", "--into", "analysis")
    assert code == 0, out
    assert out["data"][0]["sha256"] == sha256(result_file) == sha256(hub / "analysis/result.csv")

    code, out = cli_json("attempt", "finish", "--next", "close the item")
    assert code == 0, out
    assert out["data"]["ledger_appended"] is True
    assert not pointer_path(repo).exists()

    ledger = (repo / "fix_plan.md").read_text()
    entry = [line for line in ledger.splitlines() if "Attempt #1" in line]
    assert len(entry) == 1
    assert "make add add (Mode: TDD). Result: complete." in entry[0]
    assert f"Artifacts: {hub.relative_to(repo).as_posix()}." in entry[0]
    assert "RED 2 failed; GREEN 3 passed" in entry[0]

    summary = (hub / "summary.md").read_text()
    for heading in (
        "## Executive summary",
        "## Test evidence",
        "## Collection proof",
        "## CLI runs",
        "## Blocker analysis",
        "## Artifacts",
        "## Metrics",
        "## Next actions",
    ):
        assert heading in summary
    assert "tests/test_calc.py::test_add` — AssertionError" in summary
    assert sha256(result_file) in summary
    assert summary.rstrip().splitlines()[-1].startswith("Status: COMPLETE · CORE-001 Attempt #1")

    code, out = cli_json("attempt", "verify")
    assert code == 0, out
    # 3 logs, 3 JUnit files, 3 probe reports (collect, red, green) and 1 artifact
    assert out["data"]["checked"] == 10 and out["data"]["problems"] == [], out
    assert out["data"]["hubs"] == 1 and out["data"]["warnings"] == []

    record = latest_attempt(repo, "CORE-001")
    assert record is not None and record.status == "complete" and record.finished_at
    assert [run.kind for run in record.runs] == ["red", "green"]


def test_attempt_numbers_increase_and_ids_are_validated(repo: Path, cli_json, cli):
    code, first = cli_json("attempt", "start", "CORE-001", "--focus", "one")
    code2, second = cli_json(
        "attempt", "start", "CORE-001", "--focus", "two", "--mode", "Docs", "--switch"
    )
    assert (code, code2) == (0, 0)
    assert (first["data"]["number"], second["data"]["number"]) == (1, 2)
    assert [r.number for r in list_attempts(repo, "CORE-001")] == [1, 2]

    # An initiative with plans/active/<ID>/plan.md is a valid item too.
    code, out = cli_json("attempt", "start", "INIT-009", "--focus", "initiative work", "--switch")
    assert code == 0 and out["data"]["number"] == 1

    code, out = cli_json("attempt", "start", "NOPE-404", "--focus", "x")
    assert code == 2 and not out["ok"]
    assert "unknown item 'NOPE-404'" in out["error"] and "CORE-001" in out["error"]

    result = cli("attempt", "start", "../etc", "--focus", "x")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: invalid item ID")
    assert len(result.stderr.strip().splitlines()) == 1


def test_slug_with_path_syntax_is_refused_and_nothing_escapes(repo: Path, cli_json, tmp_path):
    code, out = cli_json("attempt", "start", "CORE-001", "--focus", "x", "--slug", "../../x")
    assert code == 2 and "invalid slug" in out["error"]
    assert not (tmp_path / "x").exists() and not (repo / "plans" / "active" / "x").exists()
    assert list_attempts(repo, "CORE-001") == []


def test_finish_refuses_complete_without_evidence(repo: Path, cli_json):
    cli_json("attempt", "start", "CORE-001", "--focus", "no evidence")
    code, out = cli_json("attempt", "finish")
    assert code == 1 and "no valid GREEN" in out["error"]

    # TDD: a GREEN alone is not enough, a RED must come first.
    fix_calc(repo)
    code, _ = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0
    code, out = cli_json("attempt", "finish")
    assert code == 1 and "no valid RED captured before the GREEN" in out["error"]

    code, out = cli_json("attempt", "finish", "--status", "blocked")
    assert code == 1 and "needs a blocker record" in out["error"]

    code, out = cli_json("attempt", "finish", "--status", "partial", "--next", "write the RED")
    assert code == 0 and out["data"]["record"]["status"] == "partial"
    assert "Result: partial." in (repo / "fix_plan.md").read_text()

    # The attempt is closed: later verbs have no current attempt.
    code, out = cli_json("attempt", "run", "cli", "--", "true")
    assert code == 2 and "no current attempt" in out["error"]


def test_docs_mode_completes_with_green_only(repo: Path, cli_json):
    fix_calc(repo)
    cli_json("attempt", "start", "DOCS-002", "--focus", "docs", "--mode", "Docs")
    assert cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    code, out = cli_json("attempt", "finish")
    assert code == 0 and out["data"]["record"]["status"] == "complete"


def test_red_after_green_does_not_satisfy_tdd(repo: Path, cli_json):
    fix_calc(repo)
    cli_json("attempt", "start", "CORE-001", "--focus", "order")
    assert cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    (repo / "calc.py").write_text("def add(a, b):\n    return 0\n")
    assert cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    code, out = cli_json("attempt", "finish")
    assert code == 1 and "RED captured before the GREEN" in out["error"]


def hub_of(repo: Path, out: dict) -> Path:
    return repo / out["data"]["record"]["hub"]


def test_an_attempt_with_several_runs_says_how_many_were_valid(repo: Path, cli_json):
    # Two RED/GREEN pairs, the second RED invalid (nothing failed): the ledger entry must not
    # read as if the last pair were the whole attempt.
    cli_json("attempt", "start", "CORE-001", "--focus", "two fixes", "--mode", "Perf")
    assert cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    fix_calc(repo)
    assert cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    code, _ = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 1  # passed: an invalid RED, recorded as such
    assert cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    code, out = cli_json("attempt", "finish", "--status", "partial", "--next", "more")
    assert code == 0, out
    entry = [
        line for line in (repo / "fix_plan.md").read_text().splitlines() if "Attempt #1" in line
    ]
    assert (
        "RED 0 failed (invalid; 1 of 2 REDs valid); GREEN 3 passed (2 of 2 GREENs valid)"
        in entry[0]
    )
    # Hubs sealed before this line existed hold the old rendering (the last runs only) and
    # still verify: tests/tools/plan/test_repo_ledger.py checks this repository's own.
    summary = (hub_of(repo, out) / "summary.md").read_text()
    assert "(2 of 2 GREENs valid)" in summary
    assert cli_json("attempt", "verify")[0] == 0
