"""The ledger parser on a realistic hand-kept ledger: fields, statuses, attempts, next, lint."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_samples import HAND_KEPT

from tools.common.output import CommandError
from tools.plan.entries import AttemptEntry
from tools.plan.fields import normalise_status, parse_depends, parse_priority
from tools.plan.ledger import Ledger


def test_hand_kept_ledger_parses_all_items_and_fields():
    ledger = Ledger(HAND_KEPT)
    assert [item.item_id for item in ledger.items] == ["A-001", "B-002", "C-003", "D-004"]
    a, b, c, d = ledger.items
    assert (a.depends, a.priority, a.status) == ([], 1, "done")
    assert b.status == "in_progress" and b.status_raw.endswith("waiting for the bridge")
    assert b.depends == ["A-001"] and b.priority == 2
    assert [f.value for f in b.fields if f.name.startswith("Latest Attempt")] == [
        "blocked on KeyError",
        "retry planned",
    ]
    assert [attempt.number for attempt in b.attempts] == [1, 2]
    assert b.attempts[1].timestamp == "2025-10-20T10:00:00Z"
    assert (c.status, c.priority) == ("archived", 3)
    assert d.depends == ["B-002", "C-003"]
    # Sub-heading attempt with its own bullets: an attempt, and its bullets are not item fields.
    assert [attempt.number for attempt in d.attempts] == [1]
    assert d.get("Result") is None
    assert ledger.text() == HAND_KEPT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("in_progress — Phase E6 ...", "in_progress"),
        ("In Progress", "in_progress"),
        ("archived 2025-10-20 — see docs", "archived"),
        ("**done**", "done"),
        ("Completed (2025-01-01)", "done"),
        ("blocked: waiting", "blocked"),
        ("pending", "pending"),
        ("donezo", None),
        ("maybe", None),
    ],
)
def test_status_normalisation(raw, expected):
    assert normalise_status(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("High", 1), ("medium — later", 2), ("Low", 3), ("P0", 0), ("urgent", None)],
)
def test_priority_parsing(raw, expected):
    assert parse_priority(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("—", []),
        ("none", []),
        ("A-1, B-2", ["A-1", "B-2"]),
        ("[A-1]; B-2 (phase C)", ["A-1", "B-2"]),
    ],
)
def test_depends_parsing(raw, expected):
    assert parse_depends(raw) == expected


def test_next_respects_dependencies_priority_and_order():
    ledger = Ledger(HAND_KEPT)
    # D-004 has priority 1 but depends on B-002 (in progress): B-002 is next.
    assert ledger.next_item().item_id == "B-002"
    ledger.set_status("B-002", "done")
    assert ledger.next_item().item_id == "D-004"
    ledger.set_status("D-004", "blocked")
    assert ledger.next_item() is None


def test_next_ties_go_to_file_order():
    text = "".join(
        f"## [{name}] t\n- Priority: 2\n- Status: pending\n\n" for name in ("Z-1", "A-1", "M-1")
    )
    assert Ledger(text).next_item().item_id == "Z-1"


def test_lint_reports_each_problem_with_its_line(tmp_path: Path):
    text = "\n".join(
        [
            "# Fix Plan Ledger",  # 1
            "## [X-1] one",  # 2
            "- Depends on: Y-1, NOPE-9",  # 3
            "- Status: someday",  # 4
            "- Working Plan: plans/active/X-1/plan.md",  # 5
            "- Attempts History:",  # 6
            "  * [2025-01-02T00:00:00Z] Attempt #2 — a (Mode: TDD). Result: partial. "
            "Artifacts: plans/active/X-1/reports/gone. Next: b",  # 7
            "  * [2025-01-03T00:00:00Z] Attempt #1 — a (Mode: TDD). Result: partial.",  # 8
            "## [Y-1] two",  # 9
            "- Depends on: X-1",  # 10
            "- Status: pending",  # 11
            "## [Y-1] again",  # 12
            "- Status: done",  # 13
            "## [bad id] broken",  # 14
            "## [Z-1 unterminated",  # 15
            "",
        ]
    )
    found = {(p.line, p.code) for p in Ledger(text).lint(tmp_path, max_bytes=10**6)}
    assert (3, "missing-dependency") in found
    assert (4, "unknown-status") in found
    assert (5, "missing-plan") in found
    assert (7, "missing-artifacts") in found
    assert (8, "attempt-order") in found
    assert (12, "duplicate-id") in found
    assert (14, "bad-id") in found
    assert (15, "bad-heading") in found
    assert any(code == "dependency-cycle" for _, code in found)
    assert not any(code == "too-large" for _, code in found)
    sized = Ledger(text).lint(tmp_path, max_bytes=100)
    assert any(p.code == "too-large" and "tools plan archive" in p.message for p in sized)


def test_existing_paths_are_not_reported(tmp_path: Path):
    (tmp_path / "plans/active/X-1/reports/hub").mkdir(parents=True)
    (tmp_path / "plans/active/X-1/plan.md").write_text("# plan\n")
    text = (
        "## [X-1] one\n- Status: pending\n- Working Plan: plans/active/X-1/plan.md\n"
        "- Attempts History:\n  * [2025-01-01T00:00:00Z] Attempt #1 — a (Mode: TDD). "
        "Result: complete. Artifacts: plans/active/X-1/reports/hub. Next: —\n"
    )
    assert Ledger(text).lint(tmp_path) == []


def test_append_attempt_creates_history_when_missing_and_keeps_other_lines():
    ledger = Ledger(HAND_KEPT)
    before = list(ledger.lines)
    entry = AttemptEntry(
        timestamp="2025-10-22T00:00:00Z",
        number=1,
        focus="report",
        result="complete",
        evidence="GREEN 3 passed",
        artifacts="plans/active/C-003/reports/h",
        next="ship",
    )
    at = ledger.append_attempt("C-003", entry)
    after = ledger.lines
    assert after[: at - 1] == before[: at - 1]
    assert after[at - 1] == "- Attempts History:\n"
    assert after[at].startswith("  * [2025-10-22T00:00:00Z] Attempt #1 — report (Mode: TDD).")
    assert after[at + 1 :] == before[at - 1 :]
    assert [a.number for a in ledger.find("C-003").attempts] == [1]


def test_append_attempt_goes_after_continuation_lines():
    ledger = Ledger(HAND_KEPT)
    entry = AttemptEntry(
        timestamp="T", number=3, focus="f", result="partial", artifacts="a", next="n"
    )
    at = ledger.append_attempt("B-002", entry)
    assert "Attempt #2" in ledger.lines[at - 1]
    assert [a.number for a in ledger.find("B-002").attempts] == [1, 2, 3]
    assert not [p for p in Ledger(ledger.text()).lint() if p.code == "attempt-order"]


def test_unknown_item_and_bad_status_are_input_errors():
    ledger = Ledger(HAND_KEPT)
    with pytest.raises(CommandError, match="no item \\[Q-9\\]"):
        ledger.set_status("Q-9", "done")
    with pytest.raises(CommandError, match="expected one of"):
        ledger.set_status("A-001", "finished")
    with pytest.raises(CommandError, match="already exists"):
        ledger.add_item("A-001", "dup")


def test_invalid_utf8_is_reported_with_line(tmp_path: Path):
    path = tmp_path / "fix_plan.md"
    path.write_bytes(b"# ok\n## [A-1] t\n- Status: \xff\n")
    with pytest.raises(CommandError, match=r"fix_plan.md:3: ledger is not valid UTF-8"):
        Ledger.load(path)
