"""Attempt entries in the ledger: the one-line bullet `tools attempt finish` appends.

The entry's shape is specified in `specs/fix_plan_format.md` ("Attempt entries").
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.common.fsutil import iso_utc, repo_lock, validate_item_id
from tools.common.vocabulary import FinishStatus
from tools.plan.ledger import Ledger


class AttemptEntry(BaseModel):
    """One attempt entry as `tools attempt finish` appends it (specs/fix_plan_format.md)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description="UTC ISO time from the tool's clock, 2026-11-24T20:35:54Z")
    number: int = Field(ge=1, description="Attempt number, increasing per item")
    focus: str = Field(description="What the attempt worked on, one line")
    mode: str = Field(default="TDD", description="Working mode, e.g. TDD, Docs, Perf")
    result: FinishStatus
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
    ledger.append_attempt(item_id, entry)
    ledger.stamp_last_updated(iso_utc())
    ledger.save()


def _root_of(ledger_path: Path) -> Path:
    return ledger_path.resolve().parent
