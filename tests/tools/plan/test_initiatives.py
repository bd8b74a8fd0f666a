"""Initiatives, phase tables and status lines rendered from recorded facts only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from records_util import write_attempt

from tools.common.output import CommandError
from tools.plan.initiatives import (
    new_initiative,
    read_phase_table,
    set_phase,
    status_line,
    status_lines,
)


def test_initiative_new_and_phase_set_through_cli(repo: Path, cli):
    result = cli(
        "initiative",
        "new",
        "STUDY-001",
        "--title",
        "Dose study",
        "--phase",
        "C:Simulate",
        "--phase",
        "D:Train",
        "--phase",
        "E6:Evaluate",
    )
    assert result.exit_code == 0, result.output
    plan = repo / "plans/active/STUDY-001/plan.md"
    assert (repo / "plans/active/STUDY-001/test_strategy.md").is_file()
    table = read_phase_table(plan)
    assert [(p.phase, p.status) for p in table.phases] == [
        ("C", "pending"),
        ("D", "pending"),
        ("E6", "pending"),
    ]
    before = plan.read_text()
    # Evidence must be a verified complete attempt (test_lifecycle.py); there is none here.
    refused = cli("phase", "set", "STUDY-001", "C", "--status", "complete", "--evidence", "1")
    assert refused.exit_code == 1 and "attempt #1 of STUDY-001 not found" in refused.stderr
    assert plan.read_text() == before
    assert cli("phase", "set", "STUDY-001", "C", "--status", "complete").exit_code == 0
    after = plan.read_text()
    changed = [(a, b) for a, b in zip(before.split("\n"), after.split("\n"), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1].startswith("| C | Simulate | complete | ")
    assert changed[0][1].endswith(" | — |")
    bad = cli("phase", "set", "STUDY-001", "Z", "--status", "complete")
    assert bad.exit_code == 2 and "no phase 'Z'" in bad.stderr
    bad_status = cli("phase", "set", "STUDY-001", "C", "--status", "finished")
    assert bad_status.exit_code == 2


def test_ids_cannot_escape_plans(repo: Path, cli):
    result = cli("initiative", "new", "../../x", "--title", "evil")
    assert result.exit_code == 2 and "invalid item ID" in result.stderr
    assert not (repo.parent / "x").exists()
    with pytest.raises(CommandError):
        new_initiative(repo, "a/b", title="t", phases=[("A", "a")])


def test_status_line_from_phase_table_and_latest_blocked_attempt(repo: Path):
    new_initiative(repo, "TRAIN-001", title="T", phases=[("C", "c"), ("D", "d"), ("E6", "e")])
    plan = repo / "plans/active/TRAIN-001/plan.md"
    text = plan.read_text()
    text = text.replace("| C | c | pending | — | — |", "| C | c | complete | 2026-11-20 | — |")
    text = text.replace("| D | d | pending | — | — |", "| D | d | complete | 2026-11-21 | — |")
    text = text.replace("| E6 | e | pending | — | — |", "| E6 | e | blocked | 2026-11-23 | — |")
    plan.write_text(text)
    write_attempt(repo, "TRAIN-001", 2, status="complete", day="2026-11-22", next_step="old")
    write_attempt(
        repo,
        "TRAIN-001",
        3,
        status="blocked",
        day="2026-11-23",
        next_step="add diffraction fallback",
        blocker="KeyError: 'diff3d'",
    )
    assert status_line(repo, "TRAIN-001") == (
        "Phase C COMPLETE (2026-11-20) · Phase D COMPLETE (2026-11-21) · Phase E6 BLOCKED — "
        "KeyError: 'diff3d' (Attempt #3, 2026-11-23) → next: add diffraction fallback"
    )


def test_status_line_changes_only_with_recorded_facts(repo: Path, cli):
    new_initiative(repo, "RECON-001", title="R", phases=[("A", "a"), ("B", "b")])
    assert status_line(repo, "RECON-001") == "Phase A PENDING"
    set_phase(repo, "RECON-001", "A", status="in_progress")
    write_attempt(repo, "RECON-001", 1, status="partial", next_step="finish stitching")
    assert status_line(repo, "RECON-001") == (
        "Phase A IN_PROGRESS (Attempt #1, 2026-11-23) → next: finish stitching"
    )
    new_initiative(repo, "FOUND-001", title="F", phases=[("A", "a")])
    result = cli("status-line", "--all", "--json")
    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)["data"]
    assert lines == status_lines(repo) and set(lines) == {"FOUND-001", "RECON-001"}
    assert cli("status-line").exit_code == 2


def test_missing_phase_table_is_an_input_error(repo: Path, cli):
    (repo / "plans/active/X-1").mkdir(parents=True)
    (repo / "plans/active/X-1/plan.md").write_text("# no table\n")
    result = cli("status-line", "X-1")
    assert result.exit_code == 2 and "no phase table" in result.stderr


def test_status_table_lists_items(repo: Path, cli):
    from ledger_samples import HAND_KEPT

    (repo / "fix_plan.md").write_text(HAND_KEPT)
    result = cli("status")
    assert result.exit_code == 0, result.output
    for item in ("A-001", "B-002", "C-003", "D-004"):
        assert item in result.stdout
    assert "#2 2025-10-20T10:00:00Z" in result.stdout
