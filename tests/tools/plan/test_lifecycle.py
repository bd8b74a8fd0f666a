"""The lifecycle the tool closes (specs/fix_plan_format.md, "Lifecycle"): finishing an attempt
updates the item and its phase row, claims without a verified attempt are refused or visibly
forced, and `plan next` / `readiness` act on what the records say. Real attempts (real pytest
runs) in a git repository in tmp_path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifecycle_repo import CALC_FIXED, PYTEST, TEST_CALC, call, honest_attempt

from tools.common.vocabulary import LEDGER_STATUSES
from tools.plan.entries import AttemptEntry, insert_attempt_entry
from tools.plan.fields import STATUS_ALIASES, normalise_status, restatus
from tools.plan.initiatives import read_phase_table
from tools.plan.ledger import Ledger

LEDGER = """# Fix Plan Ledger
**Last Updated:** 2026-11-24T00:00:00Z

## [CORE-001] Make add add
- Depends on: none
- Priority: 1
- Status: in_progress — Phase A: the failing test first
- Working Plan: plans/active/CORE-001/plan.md
- Exit Criteria: tests/test_calc.py passes
- Attempts History:

## [DOCS-002] Document calc
- Priority: 2
- Status: pending
"""


@pytest.fixture
def ledger(repo: Path, cli) -> Path:
    path = repo / "fix_plan.md"
    path.write_text(LEDGER)
    code, out = call(cli, "initiative", "new", "CORE-001", "--title", "add", "--phase", "A:RED")
    assert code == 0, out
    call(cli, "phase", "set", "CORE-001", "B", "--status", "pending", "--title", "Docs")
    return path


def _status_line(path: Path, item_id: str) -> str:
    item = Ledger.load(path).find(item_id)
    return item.status_raw or ""


def _phases(repo: Path, item_id: str) -> dict[str, tuple[str, str]]:
    table = read_phase_table(repo / "plans" / "active" / item_id / "plan.md")
    return {row.phase: (row.status, row.evidence) for row in table.phases}


def test_finish_closes_sets_status_done_and_the_phase_row(repo: Path, cli, ledger: Path):
    data = honest_attempt(cli, repo, "CORE-001", "--closes", "--phase", "A")
    # Status done, the trailing text of the line kept; phase A complete with the evidence.
    assert _status_line(ledger, "CORE-001") == "done — Phase A: the failing test first"
    assert _phases(repo, "CORE-001")["A"] == ("complete", "Attempt #1")
    assert _phases(repo, "CORE-001")["B"][0] == "pending"
    assert (
        "fix_plan.md [CORE-001] Status: done — Phase A: the failing test first" in data["changes"]
    )
    assert data["hints"] == []
    # plan next no longer offers the finished item.
    code, out = call(cli, "plan", "next")
    assert code == 0 and out["data"]["id"] == "DOCS-002"


def test_finish_without_phase_prints_nothing_to_run_when_the_row_already_says_it(
    repo: Path, cli, ledger: Path
):
    # Phase A is in progress; a partial attempt would set it in progress with no evidence:
    # the row already says that, so there is no command to print.
    call(cli, "phase", "set", "CORE-001", "A", "--status", "in_progress")
    data = honest_attempt(cli, repo, "CORE-001", "--status", "partial")
    assert data["hints"] == []
    assert _phases(repo, "CORE-001")["A"] == ("in_progress", "—")


def test_finish_says_a_phase_row_is_the_agents_call_when_it_prints_the_command(
    repo: Path, cli, ledger: Path
):
    # One complete attempt need not finish its phase: the line names the condition, and the
    # command after "run: " is still exact.
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_calc.py").write_text(TEST_CALC)
    (repo / "calc.py").write_text(CALC_FIXED)
    call(cli, "attempt", "start", "CORE-001", "--focus", "side work", "--mode", "Docs")
    assert call(cli, "attempt", "run", "green", "--", *PYTEST)[0] == 0
    result = cli("attempt", "finish")
    assert result.exit_code == 0, result.stdout
    command = "tools phase set CORE-001 A --status complete --evidence 1"
    line = f"phase row not updated; if this attempt finished that phase, run: {command}"
    assert line in result.stdout.splitlines()


def test_finish_without_phase_prints_the_exact_command(repo: Path, cli, ledger: Path):
    data = honest_attempt(cli, repo, "CORE-001")
    assert data["hints"] == ["tools phase set CORE-001 A --status complete --evidence 1"]
    assert _phases(repo, "CORE-001")["A"] == ("pending", "—")
    # Without --closes the item stays open; the printed command works as printed.
    assert _status_line(ledger, "CORE-001").startswith("in_progress — Phase A")
    code, out = call(cli, *data["hints"][0].split()[1:])
    assert code == 0, out
    assert _phases(repo, "CORE-001")["A"] == ("complete", "Attempt #1")


def test_finish_rejects_an_unknown_phase_before_writing_anything(repo: Path, cli, ledger: Path):
    before = ledger.read_text()
    code, out = call(cli, "attempt", "start", "CORE-001", "--focus", "docs", "--mode", "Docs")
    code, out = call(cli, "attempt", "finish", "--status", "partial", "--phase", "Z")
    assert code == 2 and "--phase 'Z'" in out["error"] and "known: A, B" in out["error"]
    assert ledger.read_text() == before
    code, out = call(cli, "attempt", "finish", "--status", "partial", "--closes")
    assert code == 2 and "--closes needs --status complete" in out["error"]
    code, out = call(cli, "attempt", "finish", "--status", "partial", "--phase", "A")
    assert code == 0, out
    assert _phases(repo, "CORE-001")["A"][0] == "in_progress"


def test_plan_set_done_needs_a_verified_attempt_and_force_is_visible(repo: Path, cli, ledger: Path):
    code, out = call(cli, "plan", "set", "CORE-001", "--status", "done")
    assert code == 1 and "refusing --status done" in out["error"]
    assert "no complete attempt of CORE-001" in out["error"]
    assert _status_line(ledger, "CORE-001").startswith("in_progress")

    code, out = call(cli, "plan", "set", "CORE-001", "--status", "done", "--force")
    assert code == 0 and out["data"]["unverified"] == "no complete attempt of CORE-001"
    line = _status_line(ledger, "CORE-001")
    assert line.startswith("done [UNVERIFIED: no complete attempt of CORE-001; forced 20")
    assert line.endswith("] — Phase A: the failing test first")
    assert Ledger.load(ledger).find("CORE-001").status == "done"

    code, out = call(cli, "plan", "lint")
    assert code == 0  # a warning, not an error: the claim is visible, not malformed
    flagged = [p for p in out["data"] if p["code"] == "unverified-claim"]
    assert len(flagged) == 1 and flagged[0]["severity"] == "warning"
    assert flagged[0]["line"] == 7  # the Status line

    code, out = call(cli, "readiness", "--no-gates")
    core = next(r for r in out["data"] if r["item_id"] == "CORE-001")
    assert "Status done is an unverified claim (plan set --force)" in core["reasons"]


def test_plan_set_done_after_an_attempt_that_verifies_and_not_after_tampering(
    repo: Path, cli, ledger: Path
):
    data = honest_attempt(cli, repo, "CORE-001")
    hub = repo / data["record"]["hub"]
    green_log = hub / data["record"]["runs"][-1]["log"]
    original = green_log.read_bytes()
    green_log.write_bytes(original.replace(b"passed", b"passed!"))
    code, out = call(cli, "plan", "set", "CORE-001", "--status", "done")
    assert code == 1 and "attempt #1 of CORE-001 does not verify" in out["error"]
    green_log.write_bytes(original)
    code, out = call(cli, "plan", "set", "CORE-001", "--status", "done")
    assert code == 0 and out["data"]["unverified"] is None, out
    assert _status_line(ledger, "CORE-001") == "done — Phase A: the failing test first"


def test_phase_evidence_needs_a_complete_attempt_that_verifies(repo: Path, cli, ledger: Path):
    code, out = call(
        cli, "phase", "set", "CORE-001", "A", "--status", "complete", "--evidence", "1"
    )
    assert code == 1 and "attempt #1 of CORE-001 not found" in out["error"]
    assert _phases(repo, "CORE-001")["A"] == ("pending", "—")
    code, out = call(cli, "attempt", "start", "CORE-001", "--focus", "half", "--mode", "Docs")
    call(cli, "attempt", "finish", "--status", "partial")
    code, out = call(
        cli, "phase", "set", "CORE-001", "A", "--status", "complete", "--evidence", "1"
    )
    assert code == 1 and "attempt #1 of CORE-001 is partial, not complete" in out["error"]

    code, out = call(
        cli, "phase", "set", "CORE-001", "A", "--status", "complete", "--evidence", "1", "--force"
    )
    assert code == 0, out
    status, evidence = _phases(repo, "CORE-001")["A"]
    assert status == "complete" and evidence.startswith("Attempt #1 [UNVERIFIED: attempt #1")
    code, out = call(cli, "plan", "lint")
    assert [p["message"] for p in out["data"] if p["code"] == "unverified-claim"] == [
        f"[CORE-001] phase A cites unverified evidence: {evidence}"
    ]

    honest_attempt(cli, repo, "CORE-001")  # attempt #2
    code, out = call(
        cli, "phase", "set", "CORE-001", "A", "--status", "complete", "--evidence", "2"
    )
    assert code == 0 and _phases(repo, "CORE-001")["A"] == ("complete", "Attempt #2")
    code, out = call(cli, "plan", "lint")
    assert code == 0 and out["data"] == []


def test_plan_add_creates_the_working_plan_it_names(repo: Path, cli):
    code, out = call(cli, "plan", "add", "NEW-001", "--title", "New", "--phase", "A:Contract")
    assert code == 0 and out["data"]["plan"] == "plans/active/NEW-001/plan.md"
    item = Ledger.load(repo / "fix_plan.md").find("NEW-001")
    assert item.working_plan == "plans/active/NEW-001/plan.md"
    assert [(p.phase, p.title) for p in read_phase_table(repo / item.working_plan).phases] == [
        ("A", "Contract")
    ]
    # A plan that already exists is kept as it is.
    keep = repo / "plans/active/OLD-002/plan.md"
    keep.parent.mkdir(parents=True)
    keep.write_text("# hand-written plan\n")
    code, out = call(cli, "plan", "add", "OLD-002", "--title", "Old")
    assert code == 0 and out["data"]["plan"] is None
    assert keep.read_text() == "# hand-written plan\n"
    code, out = call(cli, "plan", "lint")
    assert code == 0 and out["data"] == []  # no missing-plan


def test_plan_set_keeps_the_trailing_text_of_the_status_line(repo: Path, cli, ledger: Path):
    assert call(cli, "plan", "set", "CORE-001", "--status", "blocked")[0] == 0
    assert _status_line(ledger, "CORE-001") == "blocked — Phase A: the failing test first"
    assert call(cli, "plan", "set", "CORE-001", "--status", "in_progress")[0] == 0
    assert _status_line(ledger, "CORE-001") == "in_progress — Phase A: the failing test first"
    assert ledger.read_text().replace("**Last Updated:**", "").count("Phase A: the failing") == 1


@pytest.mark.slow
def test_readiness_keeps_checking_done_items(repo: Path, cli, ledger: Path):
    honest_attempt(cli, repo, "CORE-001", "--closes")
    (repo / "plans" / "gates.json").write_text(
        json.dumps(
            {"gates": {"calc": {"pytest_args": ["tests/test_calc.py"], "items": ["CORE-001"]}}}
        )
    )
    code, out = call(cli, "readiness")
    core = next(r for r in out["data"] if r["item_id"] == "CORE-001")
    assert core["status"] == "done" and core["ready"], core
    # An abandoned look afterwards establishes nothing: attempt #1 still decides.
    call(cli, "attempt", "start", "CORE-001", "--focus", "a regression?", "--mode", "Docs")
    assert call(cli, "attempt", "abandon", "--reason", "none found")[0] == 0
    code, out = call(cli, "readiness", "--no-gates")
    core = next(r for r in out["data"] if r["item_id"] == "CORE-001")
    assert core["attempt"] == 1 and core["reasons"] == ["gate(s) not run (--no-gates): calc"]
    # A regression after done: the gate fails and readiness says so for the done item.
    (repo / "calc.py").write_text("def add(a, b):\n    return 0\n")
    code, out = call(cli, "readiness")
    core = next(r for r in out["data"] if r["item_id"] == "CORE-001")
    assert code == 1 and not core["ready"]
    assert "REGRESSION: done but gate(s) failing: calc" in core["reasons"]


def _claims(repo: Path) -> dict:
    return json.loads((repo / "plans" / "claims.json").read_text())["claims"]


def test_plan_next_skips_claimed_items_and_an_expired_lease_is_reclaimable(
    repo: Path, cli, ledger: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TOOLS_AGENT", "alice")
    code, out = call(cli, "plan", "claim", "CORE-001", "--lease", "30m")
    assert code == 0 and out["data"]["owner"] == "alice"
    assert call(cli, "plan", "next")[1]["data"]["id"] == "CORE-001"  # her own claim
    monkeypatch.setenv("TOOLS_AGENT", "bob")
    assert call(cli, "plan", "next")[1]["data"]["id"] == "DOCS-002"
    code, out = call(cli, "plan", "claim", "CORE-001")
    assert code == 1 and "claimed by 'alice' until" in out["error"]
    assert _claims(repo)["CORE-001"]["owner"] == "alice"
    code, out = call(cli, "attempt", "start", "CORE-001", "--focus", "mine too")
    assert code == 1 and "[CORE-001] is claimed by 'alice'" in out["error"]

    # Alice's lease ran out (written by hand, as the clock would have it).
    claims = json.loads((repo / "plans" / "claims.json").read_text())
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    claims["claims"]["CORE-001"]["expires_at"] = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    (repo / "plans" / "claims.json").write_text(json.dumps(claims))
    assert call(cli, "plan", "next")[1]["data"]["id"] == "CORE-001"
    code, out = call(cli, "plan", "claim", "CORE-001", "--lease", "1h")
    assert code == 0 and out["data"]["previous_owner"] == "alice"
    monkeypatch.setenv("TOOLS_AGENT", "alice")
    assert call(cli, "plan", "next")[1]["data"]["id"] == "DOCS-002"
    code, out = call(cli, "plan", "release", "CORE-001")
    assert code == 1 and "claimed by 'bob'" in out["error"]
    monkeypatch.setenv("TOOLS_AGENT", "bob")
    assert call(cli, "plan", "release", "CORE-001")[0] == 0
    assert _claims(repo) == {}
    assert call(cli, "plan", "claim", "NOPE-009")[0] == 2
    assert call(cli, "plan", "claim", "DOCS-002", "--lease", "soon")[0] == 2
    # A damaged claims file is one line naming the file and the key, for every reader.
    (repo / "plans" / "claims.json").write_text('{"claims": {"DOCS-002": {"owner": 7}}}')
    code, out = call(cli, "plan", "next")
    assert code == 2 and "claims.json: key claims.DOCS-002" in out["error"]
    bad_time = {"owner": "x", "claimed_at": "now", "expires_at": "tomorrow"}
    (repo / "plans" / "claims.json").write_text(json.dumps({"claims": {"DOCS-002": bad_time}}))
    code, out = call(cli, "plan", "claim", "DOCS-002")
    assert (
        code == 2 and "claims.DOCS-002.expires_at" in out["error"] and "'tomorrow'" in out["error"]
    )


def test_ledger_entries_are_inserted_in_attempt_order(
    repo: Path, cli, ledger: Path, monkeypatch: pytest.MonkeyPatch
):
    for agent in ("alice", "bob"):
        monkeypatch.setenv("TOOLS_AGENT", agent)
        code, out = call(cli, "attempt", "start", "CORE-001", "--focus", agent, "--mode", "Docs")
        assert code == 0, out
    monkeypatch.setenv("TOOLS_AGENT", "bob")  # #2 closes first
    assert call(cli, "attempt", "finish", "--status", "partial")[0] == 0
    monkeypatch.setenv("TOOLS_AGENT", "alice")
    assert call(cli, "attempt", "abandon", "--reason", "bob has it")[0] == 0
    item = Ledger.load(ledger).find("CORE-001")
    assert [ref.number for ref in item.attempts] == [1, 2]
    lines = ledger.read_text().splitlines()
    entries = [line for line in lines if "Attempt #" in line]
    assert "Result: abandoned." in entries[0] and "Next: abandoned: bob has it" in entries[0]
    assert "Result: partial." in entries[1]
    code, out = call(cli, "plan", "lint")
    assert code == 0 and not [p for p in out["data"] if p["code"] == "attempt-order"]


def test_closing_an_initiative_without_a_ledger_item_prints_both_commands(
    repo: Path, cli, ledger: Path
):
    code, out = call(cli, "initiative", "new", "INIT-009", "--title", "side", "--phase", "A:One")
    assert code == 0, out
    (repo / "tests").mkdir()
    (repo / "tests/test_calc.py").write_text(TEST_CALC)
    (repo / "calc.py").write_text(CALC_FIXED)
    call(cli, "attempt", "start", "INIT-009", "--focus", "side work", "--mode", "Docs")
    assert call(cli, "attempt", "run", "green", "--", *PYTEST)[0] == 0
    code, out = call(cli, "attempt", "finish", "--closes")
    assert code == 0 and out["data"]["ledger_appended"] is False
    assert "no item [INIT-009]" in out["data"]["ledger_note"]
    assert out["data"]["hints"] == [
        "tools plan add INIT-009 --title TITLE",
        "tools phase set INIT-009 A --status complete --evidence 1",
    ]
    assert out["data"]["changes"] == []


# -- the edits underneath, on generated input ----------------------------------------------------
trailing = st.text(
    alphabet=st.characters(blacklist_characters="\r\n[]", blacklist_categories=("Cs",)),
    max_size=30,
).map(lambda text: "" if not text.strip() else " — " + text.strip())


@settings(max_examples=60, deadline=None)
@given(
    old=st.sampled_from([spelling for spelling, _ in STATUS_ALIASES]),
    new=st.sampled_from(LEDGER_STATUSES),
    rest=trailing,
    marked=st.booleans(),
)
def test_restatus_changes_the_status_word_and_keeps_the_rest(old, new, rest, marked):
    mark = "[UNVERIFIED: why; forced 2026-12-01T00:00:00Z]" if marked else None
    value = restatus(old.upper() + rest, new, mark)
    assert normalise_status(value) == new
    assert value == new + (f" {mark}" if marked else "") + rest
    # Setting it again (verified this time) drops the marker and keeps the rest.
    assert restatus(value, new) == new + rest


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(1, 7)))
def test_entries_land_in_attempt_order_whatever_order_they_close_in(order):
    ledger = Ledger("# L\n\n## [A-1] a\n- Status: in_progress\n- Attempts History:\n\n## [B-2] b\n")
    for number in order:
        entry = AttemptEntry(
            timestamp=f"2026-12-01T00:00:0{number}Z",
            number=number,
            focus=f"attempt {number}",
            result="partial",
            artifacts=f"plans/active/A-1/reports/x/{number}",
        )
        insert_attempt_entry(ledger, "A-1", entry)
    assert [ref.number for ref in ledger.find("A-1").attempts] == [1, 2, 3, 4, 5, 6]
    assert not [p for p in ledger.lint() if p.code == "attempt-order"]
    assert ledger.find("B-2").attempts == []
