"""`tools attempt show` and `list`: read records back (verification: `tools.attempt.verify`)."""

from __future__ import annotations

from pathlib import Path

from tools.attempt.records import AttemptRecord
from tools.attempt.store import (
    all_attempts,
    current_record,
    find_record,
    list_attempts,
)
from tools.common.fsutil import validate_item_id
from tools.common.output import CommandError


def show(
    *,
    root: Path,
    item_id: str | None = None,
    number: int | None = None,
    attempt: str | None = None,
) -> AttemptRecord:
    """The current (or `--attempt`) attempt, or attempt `number` (latest when omitted) of
    `item_id`."""
    if attempt is not None and (item_id is not None or number is not None):
        raise CommandError("give --attempt or ITEM_ID [--number N], not both")
    if item_id is None:
        if number is not None:
            raise CommandError("--number needs an ITEM_ID")
        return current_record(root, attempt)
    validate_item_id(item_id)
    if number is not None:
        return find_record(root, item_id, number)
    records = list_attempts(root, item_id)
    if not records:
        raise CommandError(f"no attempts recorded for {item_id}")
    return records[-1]


def list_records(*, root: Path, item_id: str | None = None) -> list[AttemptRecord]:
    return list_attempts(root, validate_item_id(item_id)) if item_id else all_attempts(root)


def held_by(root: Path) -> dict[str, list[str]]:
    """Hub -> the agents whose current-attempt pointer names it (`worktree`: no $TOOLS_AGENT)."""
    from tools.attempt.pointers import all_pointers

    found: dict[str, list[str]] = {}
    for agent, pointer in all_pointers(root).items():
        found.setdefault(pointer.hub, []).append(agent or "worktree")
    return found
