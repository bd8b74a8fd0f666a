"""The single-initiative ledger layout (specs/fix_plan_format.md, "Single-initiative layout").

Some hand-kept ledgers hold one initiative per file instead of `## [ID] title` items:

    # Fix Plan
    ## Status
    `in_progress`
    ## Current Focus
    **DEBUG-SIM-001 — Legacy ground-truth bundle**
    - Working Plan: `plans/active/DEBUG-SIM-001/implementation.md`
    ## Attempts History
    ### 2026-01-23T00:15Z — DEBUG-SIM-001.A1 (manifest CLI shipped)
    **Action:** ...

The item is the initiative named on the first line of `## Current Focus` (else by the last
attempt heading), its status is the first line of `## Status`, its fields are the top-level
bullets of `## Current Focus`, and its attempts are the `### <UTC> — <ID>.<step> (<what>)`
headings of `## Attempts History` that name its ID, numbered in file order. Entries for other
IDs (earlier focuses) stay text. Parsing only reads: the lines are `Ledger.lines`, so the file
round-trips byte for byte; `tools.plan.ledger.Ledger` picks this layout per file and sends its
edits to `tools.plan.single_edits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tools.common.fsutil import ID_PATTERN
from tools.plan.items import AttemptRef, FieldLine, Item, field_of
from tools.plan.lines import content as _content

LAYOUT = "single-initiative"
STATUS, FOCUS, HISTORY = "status", "current focus", "attempts history"
_H2 = re.compile(r"^##[ \t]+(.*?)[ \t#]*$")
# `### 2026-01-23T00:15Z — ID.A1 (what)`; the dash may be an em/en dash or `-`/`--`.
ENTRY = re.compile(
    r"^###[ \t]+\[?(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]+Z?)?)\]?"
    r"[ \t]+(?:—|–|--?)[ \t]+(?P<id>[A-Za-z0-9][A-Za-z0-9_-]*)(?:\.(?P<step>[^\s(]+))?"
    r"(?P<rest>.*)$"
)
_FOCUS_ID = re.compile(r"^(?P<id>[A-Z0-9][A-Z0-9-]*)(?:[ \t]*(?:—|–|-|:)[ \t]*(?P<title>.*))?$")


@dataclass
class StepAttempt(AttemptRef):
    """An attempt heading of the single-initiative layout: `<ID>.<step> (<what>)`."""

    step: str | None = None
    what: str = ""


@dataclass
class Section:
    """A `## name` section: heading line index and the index after its last line."""

    name: str
    start: int
    end: int


@dataclass
class SingleItem(Item):
    """The initiative: an `Item` whose attempts are read from its `### ` headings on first use
    (`plan next` on a 10,000-entry file needs only the fields)."""

    lines: list[str] = field(default_factory=list, repr=False)
    headings: list[tuple[int, str]] = field(default_factory=list, repr=False)  # in the history
    history_end: int = 0

    @property
    def attempts(self) -> list[AttemptRef]:
        if self._attempts is None:
            self._attempts = entries(self.lines, self.headings, self.history_end, self.item_id)
        return self._attempts


@dataclass
class SingleInitiative:
    """What the parser found: the sections, the item (None without an initiative ID)."""

    sections: dict[str, Section]
    item: Item | None


def _sections(lines: list[str]) -> tuple[dict[str, Section], list[tuple[int, str]]]:
    """Level-2 sections (first of each name wins) and the `### ` headings outside fences."""
    sections: dict[str, Section] = {}
    order: list[Section] = []
    subheadings: list[tuple[int, str]] = []
    in_fence = False
    for index, line in enumerate(lines):
        first = line[:1]
        # Only headings and fences matter; most lines are neither (a cheap first-byte test).
        if first not in "#`~ \t" or not first:
            continue
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
            continue
        if in_fence or first != "#":
            continue
        text = _content(line)
        if text.startswith("## "):
            heading = _H2.match(text)
            if order:
                order[-1].end = index
            section = Section(heading.group(1).strip().lower() if heading else "", index, index)
            order.append(section)
            sections.setdefault(section.name, section)
        elif text.startswith("### "):
            subheadings.append((index, text))
    if order:
        order[-1].end = len(lines)
    return sections, subheadings


def detect(lines: list[str]) -> bool:
    """True when the file has `## Status` and `## Current Focus` or `## Attempts History`."""
    names = {
        _content(line)[3:].strip().rstrip("#").strip().lower()
        for line in lines
        if line.startswith("## ")
    }
    return STATUS in names and (FOCUS in names or HISTORY in names)


_HEADER_FIELD = re.compile(r"^\*\*[^*]+:\*\*")


def has_content(lines: list[str]) -> bool:
    """True when the file holds more than a `# title`, `**Name:** value` header lines and
    horizontal rules: a file that says something, so finding no item in it is an error."""
    for line in lines:
        text = _content(line).strip()
        if not text or text.startswith("# ") or _HEADER_FIELD.match(text):
            continue
        if set(text) <= {"-", "*", "_", " "}:
            continue
        return True
    return False


def first_text_line(lines: list[str], section: Section) -> int | None:
    """Index of the first non-blank line of a section's body."""
    for index in range(section.start + 1, section.end):
        if _content(lines[index]).strip():
            return index
    return None


def status_value(text: str) -> str:
    """The status text of a `## Status` body line: `` `in_progress` ``, `- Status: x`, `x`."""
    parsed = field_of(text)
    if parsed is not None and parsed[0].lower() == "status":
        return parsed[1]
    return text.strip()


def _entry(index: int, match: re.Match[str]) -> StepAttempt:
    rest = match.group("rest").strip()
    what = rest[1:-1] if rest.startswith("(") and rest.endswith(")") else rest
    return StepAttempt(index, 0, match.group("stamp"), None, step=match.group("step"), what=what)


def entry_of(index: int, text: str) -> StepAttempt | None:
    """The attempt a `### <UTC> — <ID>.<step> (<what>)` heading line is (number 0), or None."""
    match = ENTRY.match(text)
    return _entry(index, match) if match is not None else None


def _artifacts(lines: list[str], start: int, stop: int) -> str | None:
    """The first path after the entry's `**Artifacts:**` (on its line or the next bullet)."""
    for index in range(start, stop):
        if "**Artifacts:**" not in lines[index]:  # substring test first: most lines are not
            continue
        text = _content(lines[index]).strip()
        if not text.startswith("**Artifacts:**"):
            continue
        value = text[len("**Artifacts:**") :].strip()
        if not value and index + 1 < stop:
            value = _content(lines[index + 1]).strip().lstrip("-* ").strip()
        token = value.split()[0].strip("`").rstrip(".,;") if value.split() else ""
        return token or None
    return None


def entries(
    lines: list[str], headings: list[tuple[int, str]], stop: int, item_id: str
) -> list[AttemptRef]:
    """The attempts of `item_id` among the history's `### ` headings, numbered 1, 2, ..."""
    found: list[AttemptRef] = []
    for position, (index, text) in enumerate(headings):
        match = ENTRY.match(text)
        if match is None or match.group("id") != item_id:
            continue
        entry = _entry(index, match)
        end = headings[position + 1][0] if position + 1 < len(headings) else stop
        entry.number = len(found) + 1
        entry.artifacts = _artifacts(lines, index + 1, end)
        found.append(entry)
    return found


def parse(lines: list[str]) -> SingleInitiative | None:
    """The single-initiative reading of `lines`, or None when the file is not in that layout."""
    if not detect(lines):
        return None
    sections, subheadings = _sections(lines)
    history = sections.get(HISTORY)
    headings = (
        [(i, t) for i, t in subheadings if history.start < i < history.end] if history else []
    )
    item = _item(lines, sections, headings, history.end if history else len(lines))
    return SingleInitiative(sections, item)


def _focus_id(lines: list[str], focus: Section | None) -> tuple[str | None, str]:
    """(ID, title) from the first line of `## Current Focus`, e.g. `**ID — title**`."""
    if focus is not None and (line := first_text_line(lines, focus)) is not None:
        match = _FOCUS_ID.match(_content(lines[line]).strip().strip("*#`_ ").strip())
        if match is not None:
            return match.group("id"), (match.group("title") or "").strip("*_ ")
    return None, ""


def _item(
    lines: list[str], sections: dict[str, Section], headings: list[tuple[int, str]], stop: int
) -> Item | None:
    focus = sections.get(FOCUS)
    item_id, title = _focus_id(lines, focus)
    if item_id is None:
        named = [m.group("id") for _, text in headings if (m := ENTRY.match(text))]
        named = [entry_id for entry_id in named if ID_PATTERN.match(entry_id)]
        if not named:
            return None
        item_id = named[-1]
    first = min(section.start for section in sections.values())
    item = SingleItem(item_id, title, first, len(lines), 2, lines=lines, headings=headings)
    item.history_end = stop
    status = sections.get(STATUS)
    if status is not None and (line := first_text_line(lines, status)) is not None:
        item.fields.append(FieldLine(line, "Status", status_value(_content(lines[line]))))
    if focus is not None:
        for index in range(focus.start + 1, focus.end):
            parsed = field_of(_content(lines[index]))
            if parsed is not None:
                item.fields.append(FieldLine(index, parsed[0], parsed[1]))
    return item


def render_entry(item_id: str, entry) -> list[str]:
    """An `AttemptEntry` (tools.plan.entries) as a heading entry of this layout, without line
    endings: the heading, the result line, the artifacts and the next step."""

    def one_line(text: str) -> str:
        return " ".join(str(text).split())

    evidence = one_line(entry.evidence).rstrip(".")
    result = f"**Result:** {entry.result} (Mode: {one_line(entry.mode)})."
    return [
        f"### {one_line(entry.timestamp)} — {item_id}.{entry.number} ({one_line(entry.focus)})",
        result + (f" {evidence}." if evidence else ""),
        f"**Artifacts:** `{one_line(entry.artifacts)}`",
        f"**Next:** {one_line(entry.next) or '—'}",
    ]
