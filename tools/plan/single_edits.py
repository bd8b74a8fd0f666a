"""Edits of a single-initiative ledger (`Ledger.layout == "single-initiative"`).

`tools.plan.ledger.Ledger` dispatches here, so its verbs keep their names for both layouts.
Each edit replaces or inserts only the lines it names, like the item layout's edits:
the status is the first line of `## Status` (the value is replaced, the decoration around the
status word is kept: `` `in_progress` `` set to `done — note` is `` `done` — note ``), other fields are bullets of `## Current Focus`, and an attempt
entry is a `### <UTC> — <ID>.<n> (<focus>)` block appended to `## Attempts History`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.common.output import CommandError
from tools.plan.fields import STATUS_ALIASES
from tools.plan.items import Item
from tools.plan.lines import content as _content
from tools.plan.lines import ending as _ending
from tools.plan.single_initiative import FOCUS, HISTORY, STATUS, first_text_line, render_entry

if TYPE_CHECKING:
    from tools.plan.entries import AttemptEntry
    from tools.plan.ledger import Ledger


def _alias_at_start(text: str) -> str | None:
    lowered = text.lower()
    for alias, _ in STATUS_ALIASES:
        after = lowered[len(alias) : len(alias) + 1]
        if lowered.startswith(alias) and not (after.isalnum() or after == "_"):
            return alias
    return None


def status_line_text(text: str, old_value: str, new_value: str) -> str:
    """The `## Status` line `text` (which ends with `old_value`) holding `new_value` instead;
    the decoration around the old status word (`` `...` ``, `**...**`) is put around the new."""
    at = len(text.rstrip()) - len(old_value)
    lead = old_value[: len(old_value) - len(old_value.lstrip("*`"))]
    alias = _alias_at_start(new_value)
    if lead and alias is not None:
        n = len(alias)
        new_value = lead + new_value[:n] + lead[::-1] + new_value[n:]
    return text[:at] + new_value + text[len(text.rstrip()) :]


def set_single_field(ledger: Ledger, item: Item, name: str, value: str) -> int:
    """Set the status (`## Status`) or a `## Current Focus` bullet; returns the line index."""
    sections = ledger.single.sections
    existing = item.get(name)
    if name.lower() == "status":
        if existing is not None:
            old = ledger.lines[existing.index]
            new = status_line_text(_content(old), existing.value, value)
            ledger.lines[existing.index] = new + (_ending(old) or "")
            ledger._reparse()
            return existing.index
        section = sections.get(STATUS)
        if section is not None:
            ledger._insert(section.start + 1, [f"`{value}`"])
            return section.start + 1
        ledger._insert(item.start, ["## Status", f"`{value}`", ""])
        return item.start + 1
    if existing is not None:
        old = ledger.lines[existing.index]
        text = _content(old)
        colon = text.index(":")
        prefix = text[: colon + 1] + ("**" if text[colon + 1 : colon + 3] == "**" else "")
        ledger.lines[existing.index] = f"{prefix} {value}{_ending(old) or ''}"
        ledger._reparse()
        return existing.index
    focus = sections.get(FOCUS)
    if focus is None:
        raise CommandError(
            f"{ledger._name()}: no `## Current Focus` section to hold the field {name!r}"
        )
    fields = [f.index for f in item.fields if focus.start < f.index < focus.end]
    first = first_text_line(ledger.lines, focus)
    at = fields[-1] + 1 if fields else (first + 1 if first is not None else focus.start + 1)
    ledger._insert(at, [f"- {name}: {value}"])
    return at


def append_single_attempt(ledger: Ledger, item: Item, entry: AttemptEntry) -> int:
    """Append the entry block at the end of `## Attempts History` (creating the section at the
    end of the file when there is none); returns the index of the entry's heading line."""
    block = render_entry(item.item_id, entry)
    history = ledger.single.sections.get(HISTORY)
    if history is None:
        at = len(ledger.lines)
        lead = [""] if at and _content(ledger.lines[-1]).strip() else []
        ledger._insert(at, [*lead, "## Attempts History", "", *block])
        return at + len(lead) + 2
    last = history.end - 1
    while last > history.start and not _content(ledger.lines[last]).strip():
        last -= 1
    at = last + 1
    lead = [""]  # a blank line between the previous entry (or the heading) and this one
    # Keep a blank line between the entry and a section that follows it directly.
    tail = [""] if at == history.end and at < len(ledger.lines) else []
    ledger._insert(at, [*lead, *block, *tail])
    return at + len(lead)
