"""Property tests: random ledgers round-trip byte for byte; edits touch only intended lines."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.common.output import CommandError
from tools.plan.entries import AttemptEntry
from tools.plan.ledger import Ledger
from tools.plan.lines import split_lines

IDS = ["A-1", "B-22", "FOUND-001", "X9"]
FRAGMENTS = [
    "# Fix Plan Ledger",
    "**Last Updated:** 2025-10-21",
    "",
    "   ",
    "Free prose with ünïcödé — and a tab\there.",
    "- Depends on: —",
    "- Depends on: A-1, B-22",
    "- **Status:** done",
    "- Status: in_progress — Phase E6 ...",
    "- Status: archived 2025-10-20 — see docs/archive/x.md",
    "- Status: whatever",
    "- Priority: High",
    "- Priority: 7",
    "- Latest Attempt (2025-10-20): blocked",
    "- Attempts History:",
    "  * [2025-01-01T00:00:00Z] Attempt #1 — x (Mode: TDD). Result: partial. Next: y",
    "    continuation of an entry",
    "#### Attempt #4 — sub-heading form",
    "### Notes",
    "```",
    "## [NOT-AN-ITEM] inside a fence?",
    "## [broken",
    "|a|b|",
    "\u2028 line separator and \x0c form feed inside a line",
]
heading = st.builds(
    lambda level, item_id, title: f"{level} [{item_id}] {title}",
    st.sampled_from(["##", "###"]),
    st.sampled_from(IDS),
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=12),
)
line = st.one_of(st.sampled_from(FRAGMENTS), heading)
ending = st.sampled_from(["\n", "\r\n"])
ledger_text = st.builds(
    lambda rows, last: "".join(text + end for text, end in rows) + last,
    st.lists(st.tuples(line, ending), max_size=40),
    st.sampled_from(["", "trailing text without newline"]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(ledger_text)
def test_load_save_is_identical(text):
    ledger = Ledger(text)
    assert ledger.text() == text
    assert "".join(split_lines(text)) == text


@settings(max_examples=200, deadline=None, database=None)
@given(ledger_text, st.sampled_from(["pending", "in_progress", "blocked", "done", "archived"]))
def test_set_status_changes_exactly_one_line(text, status):
    ledger = Ledger(text)
    with_status = [item for item in ledger.items if item.get("Status") is not None]
    if not with_status:
        return
    item = with_status[0]
    before = list(ledger.lines)
    if [i.item_id for i in ledger.items].count(item.item_id) > 1:
        with pytest.raises(CommandError, match="defined 2 times|defined [0-9]+ times"):
            ledger.set_status(item.item_id, status)
        assert ledger.lines == before
        return
    index = ledger.set_status(item.item_id, status)
    after = ledger.lines
    assert len(after) == len(before)
    changed = [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    assert changed in ([index], [])
    # The line ending and the field prefix survive; the value is the new status.
    assert after[index].rstrip("\r\n").endswith(f" {status}")

    def ending(row: str) -> str:
        return row[len(row.rstrip("\r\n")) :]

    assert ending(after[index]) == ending(before[index])
    reparsed = next(i for i in Ledger(ledger.text()).items if i.item_id == item.item_id)
    assert reparsed.status == status


@settings(max_examples=200, deadline=None, database=None)
@given(ledger_text)
def test_append_attempt_only_inserts(text):
    ledger = Ledger(text)
    if not ledger.items:
        return
    item = ledger.items[-1]
    before = ledger.text()
    duplicated = [i.item_id for i in ledger.items].count(item.item_id) > 1
    entry = _entry(99)
    if duplicated:
        with pytest.raises(CommandError, match="merge them before editing"):
            ledger.append_attempt(item.item_id, entry)
        assert ledger.text() == before
        return
    if ledger.open_fence is not None and ledger.open_fence < item.end:
        with pytest.raises(CommandError, match="code fence is never closed"):
            ledger.append_attempt(item.item_id, entry)
        assert ledger.text() == before
        return
    ledger.append_attempt(item.item_id, entry)
    old, new = split_lines(before), ledger.lines
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    # Only insertions (plus, when the file lacked a final newline, that line gaining one).
    for tag, a0, a1, b0, _b1 in ops:
        if tag == "equal":
            continue
        if tag == "replace":
            assert a1 - a0 == 1 and new[b0].startswith(old[a0]) and not old[a0].endswith("\n")
            continue
        assert tag == "insert"
    assert any("Attempt #99 — prop" in row for row in new)
    reparsed = Ledger(ledger.text())
    assert 99 in [a.number for a in reparsed.items[-1].attempts]


def test_append_attempt_refuses_an_item_that_holds_an_unclosed_fence():
    # Found by the property test above: the entry would have gone in just before the fence, but
    # everything after the fence in that item is already invisible to the parser.
    text = "## [A-1] \n- Attempts History:\n```\n"
    ledger = Ledger(text)
    with pytest.raises(CommandError, match=r":3: code fence is never closed"):
        ledger.append_attempt("A-1", _entry(1))
    assert ledger.text() == text


def _entry(number: int) -> AttemptEntry:
    return AttemptEntry(
        timestamp="2026-01-01T00:00:00Z",
        number=number,
        focus="prop",
        result="partial",
        artifacts="plans/active/x",
        next="n",
    )
