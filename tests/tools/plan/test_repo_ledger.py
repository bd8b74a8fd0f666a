"""The repository's own ledger, initiatives and findings are kept with these tools and are true."""

from __future__ import annotations

from pathlib import Path

from tools.plan.initiatives import active_initiatives, read_phase_table, status_lines
from tools.plan.ledger import Ledger
from tools.specs.check import check_specs

ROOT = Path(__file__).resolve().parents[3]


def test_own_ledger_lints_clean_and_has_a_next_item():
    ledger = Ledger.load(ROOT / "fix_plan.md")
    assert [p.as_dict() for p in ledger.lint(ROOT) if p.severity == "error"] == []
    assert {"FOUND-001", "TOOLS-PLAN-001", "TOOLS-ATTEMPT-001"} <= ledger.ids()
    assert ledger.next_item() is not None


def test_every_open_item_has_an_initiative_with_a_phase_table():
    ledger = Ledger.load(ROOT / "fix_plan.md")
    initiatives = set(active_initiatives(ROOT))
    for item in ledger.items:
        if item.status in ("done", "archived"):
            continue
        assert item.item_id in initiatives
        assert read_phase_table(ROOT / item.working_plan).phases
    assert set(status_lines(ROOT)) == initiatives


def test_own_citations_and_findings_resolve():
    skip = Ledger.load(ROOT / "fix_plan.md").ids() | set(active_initiatives(ROOT))
    assert [p.as_dict() for p in check_specs(ROOT, skip_ids=skip)] == []


def test_own_attempt_hubs_verify():
    # Every hub this repository keeps still verifies under today's record models (a new field
    # must not break records sealed before it existed).
    from tools.attempt.verify import verify_repository

    result = verify_repository(ROOT)
    problems = result.problems
    errors = [p.line() for p in problems if p.severity == "error"]
    assert errors == []
