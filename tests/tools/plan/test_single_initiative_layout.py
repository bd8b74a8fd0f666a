"""The single-initiative ledger layout (`## Status`, `## Current Focus`, `## Attempts History`):
parsed as a first-class format, round-tripped byte for byte, edited line by line, linted, and
served by `status`, `plan next` and `status-line`."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.plan.entries import AttemptEntry
from tools.plan.initiatives import new_initiative, set_phase
from tools.plan.ledger import Ledger

# Written for this test in the shape of public agent-driven ptychography ledgers: an earlier
# focus (`seed`) whose entries stay text, steps, a fenced CLI run holding a fake heading, a
# checklist, artifact lists, an entry out of chronological order, non-ASCII text.
SAMPLE = """# Fix Plan

## Status
`in_progress` — Phase B (README generator)

## Current Focus
**DOSE-GT-001 — Legacy dose ground-truth bundle**

The maintainer asked for a faithful simulate→train→infer run of the legacy pipeline; package
the baseline under a reports hub without touching shipped modules.

- Working Plan: `plans/active/DOSE-GT-001/implementation.md`
- Request Source: `inbox/request_dose_ground_truth.md`
- Priority: High

## Completed Items
- [x] S1: Check `inbox/` for new requests
- [x] S2: Document response plan

## Artifacts Produced
- `plans/active/seed/bin/dose_baseline_snapshot.py` — reusable script

## Attempts History

### 2026-01-22T02:40Z — seed S1–S2 (initial)
**Action:** Created the snapshot script and drafted the maintainer response.

**Test:** `pytest tests/test_loader.py -q` — PASSED (1 passed)

### 2026-01-23T00:15Z — DOSE-GT-001.A1 (manifest CLI shipped)
**Action:** Created the manifest CLI:
1. SHA256 + size for every dataset
2. Validates NPZ keys

**CLI Run:**
```
python bin/make_manifest.py \\
  --output plans/active/DOSE-GT-001/reports/2026-01-23T001018Z/
### 2026-01-23T00:16Z — DOSE-GT-001.FAKE (inside a fence, not an entry)
```

**Artifacts:**
- `plans/active/DOSE-GT-001/reports/2026-01-23T001018Z/manifest.json`
- `plans/active/DOSE-GT-001/reports/2026-01-23T001018Z/files.csv`

### 2026-01-23T00:06Z — DOSE-GT-001 (plan reboot + request triage)
**Action:** Switched focus from `seed`; drafted the plan (entry written after A1, dated before).

### 2026-01-23T00:24Z — DOSE-GT-001.B1 (README generator shipped)
**Metrics:** 7 datasets, ≈192 MB
**Artifacts:** `plans/active/DOSE-GT-001/reports/2026-01-23T001931Z/`

**Next Actions:**
- Proceed to C1: package the bundle
"""
ID = "DOSE-GT-001"


def _write_repo(repo: Path, text: str = SAMPLE) -> None:
    (repo / "fix_plan.md").write_text(text, encoding="utf-8", newline="")
    for rel in (
        "plans/active/DOSE-GT-001/reports/2026-01-23T001018Z/manifest.json",
        "plans/active/DOSE-GT-001/reports/2026-01-23T001931Z/README.md",
        "plans/active/DOSE-GT-001/implementation.md",
    ):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("x\n")


def test_the_file_is_one_item_with_status_fields_and_step_attempts():
    ledger = Ledger(SAMPLE)
    assert ledger.layout == "single-initiative"
    assert ledger.ids() == {ID}
    item = ledger.find(ID)
    assert item.title == "Legacy dose ground-truth bundle"
    assert (item.status, item.priority, item.depends) == ("in_progress", 1, [])
    assert item.status_raw == "`in_progress` — Phase B (README generator)"
    assert item.working_plan == "plans/active/DOSE-GT-001/implementation.md"
    lines = SAMPLE.split("\n")
    got = [(a.number, a.timestamp, a.step, a.what, a.artifacts) for a in item.attempts]
    assert got == [
        (
            1,
            "2026-01-23T00:15Z",
            "A1",
            "manifest CLI shipped",
            "plans/active/DOSE-GT-001/reports/2026-01-23T001018Z/manifest.json",
        ),
        (2, "2026-01-23T00:06Z", None, "plan reboot + request triage", None),
        (
            3,
            "2026-01-23T00:24Z",
            "B1",
            "README generator shipped",
            "plans/active/DOSE-GT-001/reports/2026-01-23T001931Z/",
        ),
    ]
    # Each attempt points at its own heading line; the fenced heading and `seed` are text.
    assert [lines[a.index].split(" — ")[1] for a in item.attempts] == [
        "DOSE-GT-001.A1 (manifest CLI shipped)",
        "DOSE-GT-001 (plan reboot + request triage)",
        "DOSE-GT-001.B1 (README generator shipped)",
    ]
    assert ledger.next_item() is item
    assert ledger.problems == []


def test_round_trip_is_byte_for_byte_on_disk(tmp_path: Path):
    for variant in (SAMPLE, SAMPLE.replace("\n", "\r\n"), SAMPLE.rstrip("\n")):
        path = tmp_path / "fix_plan.md"
        path.write_bytes(variant.encode("utf-8"))
        ledger = Ledger.load(path)
        assert ledger.layout == "single-initiative"
        ledger.save()
        assert path.read_bytes() == variant.encode("utf-8")


def _changed(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True))
    return [line for line in diff if line[:1] in "+-"]


def test_set_status_rewrites_only_the_status_word():
    for text in (SAMPLE, SAMPLE.replace("\n", "\r\n")):
        ledger = Ledger(text)
        index = ledger.set_status(ID, "blocked")
        nl = "\r\n" if "\r\n" in text else "\n"
        assert ledger.lines[index] == "`blocked` — Phase B (README generator)" + nl
        assert _changed(text, ledger.text()) == [
            "- `in_progress` — Phase B (README generator)" + nl,
            "+ `blocked` — Phase B (README generator)" + nl,
        ]
        assert Ledger(ledger.text()).find(ID).status == "blocked"


def test_appended_attempt_is_one_block_at_the_end_of_the_history(tmp_path: Path):
    path = tmp_path / "fix_plan.md"
    tail = "\n## Notes\nkept after the history\n"
    path.write_text(SAMPLE + tail, encoding="utf-8")
    entry = AttemptEntry(
        timestamp="2026-01-24T09:30:00Z",
        number=1,
        focus="bundle packaging",
        result="complete",
        evidence="RED 1 failed; GREEN 4 passed",
        artifacts="plans/active/DOSE-GT-001/reports/2026-01-24T093000Z/pack",
        next="C2",
    )
    ledger = Ledger.load(path)
    ledger.append_attempt(ID, entry)
    ledger.save()
    after = path.read_text(encoding="utf-8")
    block = (
        "\n### 2026-01-24T09:30:00Z — DOSE-GT-001.1 (bundle packaging)\n"
        "**Result:** complete (Mode: TDD). RED 1 failed; GREEN 4 passed.\n"
        "**Artifacts:** `plans/active/DOSE-GT-001/reports/2026-01-24T093000Z/pack`\n"
        "**Next:** C2\n"
    )
    # Inserted whole between the last entry and the section after the history; nothing else moves.
    assert after == SAMPLE + block + tail
    last = Ledger(after).find(ID).attempts[-1]
    assert (last.number, last.timestamp, last.what) == (
        4,
        "2026-01-24T09:30:00Z",
        "bundle packaging",
    )
    assert last.artifacts == entry.artifacts


def test_plan_add_is_refused_on_a_single_initiative_file():
    ledger = Ledger(SAMPLE)
    try:
        ledger.add_item("NEW-001", "another")
    except Exception as exc:  # CommandError: one line naming the layout
        assert "single-initiative" in str(exc)
    else:
        raise AssertionError("add_item on a single-initiative ledger was accepted")
    assert ledger.text() == SAMPLE


def test_lint_fails_when_a_non_empty_file_yields_no_item(repo: Path, cli):
    (repo / "fix_plan.md").write_text("# Fix Plan\n\n## Notes\nwork happens here\n")
    result = cli("plan", "lint", "--json")
    assert result.exit_code == 1
    codes = [p["code"] for p in json.loads(result.stdout)["data"]]
    assert codes == ["no-items"]
    # The single-initiative layout without an initiative ID names what is missing.
    (repo / "fix_plan.md").write_text("# Fix Plan\n## Status\n`pending`\n## Current Focus\nsoon\n")
    result = cli("plan", "lint")
    assert result.exit_code == 1
    assert "without an initiative ID" in result.stdout
    # A header alone is an empty ledger, not a misread one.
    (repo / "fix_plan.md").write_text("# Fix Plan Ledger\n**Last Updated:** 2026-01-01\n\n")
    assert cli("plan", "lint").exit_code == 0


def test_lint_status_next_and_status_line_work_on_the_sample(repo: Path, cli):
    _write_repo(repo)
    lint = cli("plan", "lint", "--json")
    assert lint.exit_code == 0, lint.output
    status = json.loads(cli("status", "--json").stdout)["data"]
    assert [(row["id"], row["status"], row["attempts"]) for row in status] == [
        (ID, "in_progress", 3)
    ]
    assert status[0]["last_attempt"] == {"number": 3, "timestamp": "2026-01-23T00:24Z"}
    table = cli("status")
    assert ID in table.stdout and "in_progress" in table.stdout
    nxt = json.loads(cli("plan", "next", "--json").stdout)["data"]
    assert (nxt["id"], nxt["title"]) == (ID, "Legacy dose ground-truth bundle")
    new_initiative(repo, ID, title="bundle", phases=[("A", "Manifest"), ("B", "README")])
    set_phase(repo, ID, "A", status="complete")
    set_phase(repo, ID, "B", status="in_progress")
    line = json.loads(cli("status-line", "--all", "--json").stdout)["data"]
    assert list(line) == [ID]
    assert "Phase B IN_PROGRESS" in line[ID]
    # Blocked: plan next has nothing left, and `plan set` edited the one status line.
    result = cli("plan", "set", ID, "--status", "blocked")
    assert result.exit_code == 0, result.output
    assert "`blocked` — Phase B" in (repo / "fix_plan.md").read_text()
    assert json.loads(cli("plan", "next", "--json").stdout)["data"] is None


# -- generated ledgers of both layouts ---------------------------------------------------------
text_line = st.text(
    alphabet=st.characters(blacklist_characters="\r\n`#", blacklist_categories=("Cs",)),
    max_size=30,
)
stamp = st.builds(
    lambda d, h, m: f"2026-01-{d:02d}T{h:02d}:{m:02d}Z",
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
)
entry_id = st.sampled_from([ID, ID, "seed", "OTHER-002"])
single_entry = st.tuples(stamp, entry_id, st.sampled_from(["A1", "B2", None]), text_line)
body = st.lists(text_line, max_size=3)
ending = st.sampled_from(["\n", "\r\n"])


def _single_text(status, entries, bodies, nl, last):
    rows = ["# Fix Plan", "", "## Status", f"`{status}`", "", "## Current Focus", f"**{ID} — t**"]
    rows += ["", "## Attempts History", ""]
    for (when, who, step, what), extra in zip(entries, bodies + [[]] * len(entries), strict=False):
        name = f"{who}.{step}" if step else who
        rows += [f"### {when} — {name} ({what.strip() or 'x'})", *(f"text {b}" for b in extra), ""]
    return nl.join(rows) + nl + last


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.sampled_from(["pending", "in_progress", "blocked", "done"]),
    st.lists(single_entry, max_size=12),
    st.lists(body, max_size=12),
    ending,
    st.sampled_from(["", "trailing text without newline"]),
)
def test_generated_single_initiative_ledgers_round_trip_and_parse(
    status, entries, bodies, nl, last
):
    text = _single_text(status, entries, bodies, nl, last)
    ledger = Ledger(text)
    assert ledger.text() == text
    item = ledger.find(ID)
    assert item.status == status
    assert [a.timestamp for a in item.attempts] == [e[0] for e in entries if e[1] == ID]
    assert [a.number for a in item.attempts] == list(range(1, len(item.attempts) + 1))
    before = list(ledger.lines)
    index = ledger.set_status(ID, "archived")
    assert [i for i, (a, b) in enumerate(zip(before, ledger.lines, strict=True)) if a != b] == [
        index
    ]


item_block = st.tuples(
    st.sampled_from(["A-1", "B-22", "C-3"]),
    st.sampled_from(["pending", "in_progress", "done", "blocked"]),
    st.lists(stamp, max_size=6),
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(item_block, min_size=1, max_size=5, unique_by=lambda b: b[0]), ending)
def test_generated_item_ledgers_round_trip_and_parse(blocks, nl):
    rows = ["# Fix Plan Ledger", "**Last Updated:** 2026-01-01", ""]
    for item_id, status, stamps in blocks:
        rows += [f"## [{item_id}] title", f"- Status: {status}", "- Attempts History:"]
        rows += [
            f"  * [{when}] Attempt #{n} — f (Mode: TDD). Result: partial. Next: —"
            for n, when in enumerate(stamps, start=1)
        ]
        rows.append("")
    text = nl.join(rows) + nl
    ledger = Ledger(text)
    assert ledger.layout == "items"
    assert ledger.text() == text
    got = [(i.item_id, i.status, [a.timestamp for a in i.attempts]) for i in ledger.items]
    assert got == [(item_id, status, stamps) for item_id, status, stamps in blocks]
