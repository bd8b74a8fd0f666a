"""What closing an attempt does to the plan: the ledger entry, the item's Status, a phase row.

The rule is specified in `specs/fix_plan_format.md` ("Lifecycle"); `tools attempt finish` and
`tools attempt abandon` apply it under the repository lock, after the attempt's own checks pass.
What the tool cannot apply (an item that is not in the ledger, a phase it was not told) it
reports as the exact command to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tools.common.fsutil import iso_utc
from tools.common.layout import LEDGER_NAME, initiative_dir, ledger_path
from tools.common.output import CommandError

if TYPE_CHECKING:
    from tools.attempt.records import AttemptRecord
    from tools.plan.entries import AttemptEntry

# Attempt result -> the phase row's status when `--phase` names it.
PHASE_AFTER = {"complete": "complete", "blocked": "blocked", "partial": "in_progress"}


@dataclass
class Closing:
    appended: bool = False
    note: str | None = None  # why the ledger entry was not written
    changes: list[str] = field(default_factory=list)  # what was updated
    hints: list[str] = field(default_factory=list)  # exact commands still to run


def item_status_after(result: str, current: str | None, closes: bool) -> str | None:
    """The item's Status after an attempt closes with `result` (None: leave it)."""
    if closes and result == "complete":
        return "done"
    if result in ("complete", "partial") and current == "pending":
        return "in_progress"  # work on it has started
    return None


def check_phase(root: Path, item_id: str, phase: str) -> None:
    """Refuse (before anything is written) a `--phase` the item's phase table does not have."""
    from tools.plan.initiatives import read_phase_table

    table = read_phase_table(initiative_dir(root, item_id) / "plan.md")
    if phase not in [row.phase for row in table.phases]:
        known = ", ".join(row.phase for row in table.phases) or "none"
        raise CommandError(f"--phase {phase!r}: {item_id} has no such phase (known: {known})")


def apply(
    root: Path,
    record: AttemptRecord,
    entry: AttemptEntry,
    *,
    phase: str | None = None,
    closes: bool = False,
) -> Closing:
    """Write the entry, the Status and the phase row for a closed attempt (lock held)."""
    outcome = Closing()
    _apply_ledger(root, record, entry, closes, outcome)
    if record.status in PHASE_AFTER:
        _apply_phase(root, record, phase, outcome)
    return outcome


def _apply_ledger(
    root: Path, record: AttemptRecord, entry: AttemptEntry, closes: bool, outcome: Closing
) -> None:
    from tools.plan.entries import insert_attempt_entry
    from tools.plan.ledger import Ledger
    from tools.plan.verified import write_status

    path = ledger_path(root)
    if not path.is_file():
        outcome.note = f"{LEDGER_NAME} not found"
        return
    ledger = Ledger.load(path)
    try:
        insert_attempt_entry(ledger, record.item_id, entry)
    except CommandError as exc:  # e.g. an initiative that has no ledger item
        outcome.note = str(exc)
        if closes:
            outcome.hints.append(f"tools plan add {record.item_id} --title TITLE")
        return
    item = ledger.find_unique(record.item_id)
    new = item_status_after(record.status, item.status, closes)
    if new is not None and new != item.status:
        write_status(ledger, record.item_id, new)
        value = ledger.find_unique(record.item_id).status_raw
        outcome.changes.append(f"{LEDGER_NAME} [{record.item_id}] Status: {value}")
    ledger.stamp_last_updated(iso_utc())
    ledger.save()
    outcome.appended = True


def _apply_phase(root: Path, record: AttemptRecord, phase: str | None, outcome: Closing) -> None:
    from tools.plan.initiatives import read_phase_table, set_phase

    status = PHASE_AFTER[record.status]
    if phase is not None:
        set_phase(root, record.item_id, phase, status=status, evidence=str(record.number))
        outcome.changes.append(
            f"{record.item_id} phase {phase}: {status} (Attempt #{record.number})"
        )
        return
    plan = initiative_dir(root, record.item_id) / "plan.md"
    try:
        table = read_phase_table(plan)
    except CommandError:  # no plan.md or no phase table: nothing to suggest
        return
    current = next((p for p in table.phases if p.status in ("in_progress", "blocked")), None)
    current = current or next((p for p in table.phases if p.status != "complete"), None)
    # Nothing to print when the row already says what the command would set (a partial
    # attempt on the phase in progress: no evidence to add).
    if current is not None and (current.status != status or record.status == "complete"):
        evidence = f" --evidence {record.number}" if record.status == "complete" else ""
        outcome.hints.append(
            f"tools phase set {record.item_id} {current.phase} --status {status}{evidence}"
        )
