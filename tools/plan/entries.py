"""Attempt entries in the ledger: the one-line bullet `tools attempt finish` (or `abandon`) adds.

The entry's shape is specified in `specs/fix_plan_format.md` ("Attempt entries"). Entries go in
attempt order: when attempt #1 closes after #2 (two agents, or a resumed attempt), its entry is
inserted before #2's, so the ledger never says "#1 after #2".
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.common.fsutil import iso_utc, repo_lock, validate_item_id
from tools.common.vocabulary import ClosedStatus
from tools.plan.ledger import Ledger


class AttemptEntry(BaseModel):
    """One attempt entry as `tools attempt finish` appends it (specs/fix_plan_format.md)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description="UTC ISO time from the tool's clock, 2026-11-24T20:35:54Z")
    number: int = Field(ge=1, description="Attempt number, increasing per item")
    focus: str = Field(description="What the attempt worked on, one line")
    mode: str = Field(default="TDD", description="Working mode, e.g. TDD, Docs, Perf")
    result: ClosedStatus
    evidence: str = Field(default="", description="Evidence counts, e.g. 'RED 2 failed; GREEN 5'")
    artifacts: str = Field(description="Hub path relative to the repository root")
    next: str = Field(default="", description="The next step, one line")

    def render(self) -> str:
        """The single-line bullet, without line ending."""

        def one_line(text: str) -> str:
            return " ".join(text.split())

        evidence = one_line(self.evidence).rstrip(".")
        parts = [
            f"  * [{one_line(self.timestamp)}] Attempt #{self.number} — {one_line(self.focus)} "
            f"(Mode: {one_line(self.mode)}). Result: {self.result}.",
        ]
        if evidence:
            parts.append(f" {evidence}.")
        parts.append(f" Artifacts: {one_line(self.artifacts)}.")
        parts.append(f" Next: {one_line(self.next) or '—'}")
        return "".join(parts)


def item_ids(ledger_path: Path) -> set[str]:
    """The IDs of the items in the ledger at `ledger_path`."""
    return Ledger.load(ledger_path).ids()


def append_attempt_entry(
    ledger_path: Path, item_id: str, entry: AttemptEntry, *, lock: bool = True
) -> None:
    """Append `entry` to the item's Attempts History under the repo lock, atomically.

    `lock=False` is for callers that already hold `repo_lock` (it is not re-entrant).
    """
    validate_item_id(item_id)
    if not lock:
        _append(ledger_path, item_id, entry)
        return
    with repo_lock(_root_of(ledger_path)):
        _append(ledger_path, item_id, entry)


def _append(ledger_path: Path, item_id: str, entry: AttemptEntry) -> None:
    ledger = Ledger.load(ledger_path)
    insert_attempt_entry(ledger, item_id, entry)
    ledger.stamp_last_updated(iso_utc())
    ledger.save()


def insert_attempt_entry(ledger: Ledger, item_id: str, entry: AttemptEntry) -> int:
    """Add `entry` to the item in attempt order (in memory); returns the line index written.

    Before the first entry with a higher number, else at the end of the Attempts History.
    """
    item = ledger.find_unique(item_id)
    later = [ref for ref in item.attempts if ref.number > entry.number]
    # The single-initiative layout numbers its entries by position: always appended there.
    if not later or ledger.layout != "items":
        return ledger.append_attempt(item_id, entry)
    index = min(ref.index for ref in later)
    ledger._insert(index, [entry.render()])  # the Ledger's own fence- and ending-aware insert
    return index


def _root_of(ledger_path: Path) -> Path:
    """The repository the ledger belongs to (a ledger may live in docs/, not at the root)."""
    from tools.common.fsutil import find_repo_root
    from tools.common.output import CommandError

    try:
        return find_repo_root(ledger_path.resolve().parent)
    except CommandError:  # a ledger outside any repository: lock beside it
        return ledger_path.resolve().parent
