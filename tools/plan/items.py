"""What the ledger parser finds: items (`## [ID] title` sections), their fields and attempt
entries, and lint problems. Values are read lazily through `tools.plan.fields`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from tools.plan.fields import normalise_status, parse_depends, parse_priority

ATTEMPT = re.compile(r"Attempt[ \t]*#[ \t]*(\d+)")
_TIMESTAMP = re.compile(r"\[([0-9]{4}-[0-9]{2}-[0-9]{2}[^\]]*)\]")
_ARTIFACTS = re.compile(r"Artifacts:[ \t]*`?([^\s`]+?)`?(?:[.,;]?(?:\s|$))")


@dataclass
class FieldLine:
    """One `- Name: value` line at the top level of an item."""

    index: int
    name: str
    value: str


@dataclass
class AttemptRef:
    """One attempt entry (bullet or sub-heading form) inside an item."""

    index: int
    number: int
    timestamp: str | None
    artifacts: str | None


@dataclass
class Item:
    """One `## [ID] title` section: line range [start, end) and the fields found in it."""

    item_id: str
    title: str
    start: int
    end: int
    level: int
    fields: list[FieldLine] = field(default_factory=list)
    # Lines that may be attempt entries; parsed on first use of `attempts`, because `plan next`
    # on a 10,000-attempt ledger needs only the fields.
    attempt_candidates: list[tuple[int, str]] = field(default_factory=list, repr=False)
    _attempts: list[AttemptRef] | None = field(default=None, repr=False)

    @property
    def attempts(self) -> list[AttemptRef]:
        """The attempt entries (bullet or sub-heading form), in file order."""
        if self._attempts is None:
            refs = (attempt_ref(index, content) for index, content in self.attempt_candidates)
            self._attempts = [ref for ref in refs if ref is not None]
        return self._attempts

    def get(self, name: str) -> FieldLine | None:
        """The first field with this name (case-insensitive)."""
        key = name.lower()
        for line in self.fields:
            if line.name.lower() == key:
                return line
        return None

    @property
    def status_raw(self) -> str | None:
        found = self.get("Status")
        return found.value if found else None

    @property
    def status(self) -> str | None:
        raw = self.status_raw
        return normalise_status(raw) if raw is not None else None

    @property
    def priority(self) -> int | None:
        found = self.get("Priority")
        return parse_priority(found.value) if found else None

    @property
    def depends(self) -> list[str]:
        found = self.get("Depends on") or self.get("Depends")
        return parse_depends(found.value) if found else []

    @property
    def working_plan(self) -> str | None:
        found = self.get("Working Plan")
        return found.value.strip().strip("`") if found and found.value.strip() else None

    def summary(self) -> dict:
        """A JSON-ready view of the item."""
        last = self.attempts[-1] if self.attempts else None
        return {
            "id": self.item_id,
            "title": self.title,
            "status": self.status,
            "status_text": self.status_raw,
            "priority": self.priority,
            "depends": self.depends,
            "working_plan": self.working_plan,
            "attempts": len(self.attempts),
            "last_attempt": None
            if last is None
            else {"number": last.number, "timestamp": last.timestamp},
            "line": self.start + 1,
        }


@dataclass
class Problem:
    """A lint finding with a 1-based line number (0 when it concerns the whole file)."""

    line: int
    code: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict:
        return {
            "line": self.line,
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
        }


def field_of(content: str) -> tuple[str, str] | None:
    """(name, value) for a top-level `- Name: value` or `- **Name:** value` line."""
    if len(content) < 3 or content[0] not in "-*" or content[1] not in " \t":
        return None
    body = content[2:].lstrip()
    colon = body.find(":")
    if colon <= 0 or colon > 60:
        return None
    name = body[:colon].replace("**", "").strip()
    if not name or not name[0].isalpha():
        return None
    value = body[colon + 1 :]
    if value.startswith("**"):
        value = value[2:]
    return name, value.strip()


def attempt_ref(index: int, content: str) -> AttemptRef | None:
    """An attempt entry: a bullet or heading whose first words name `Attempt #n`."""
    stripped = content.lstrip()
    if not stripped or stripped[0] not in "-*#":
        return None
    head = stripped[:80]
    match = ATTEMPT.search(head)
    if match is None:
        return None
    # "Latest Attempt (...)" summary fields are not attempt entries.
    if head.lstrip("-*# ").lower().startswith("latest"):
        return None
    stamp = _TIMESTAMP.search(head)
    artifacts = _ARTIFACTS.search(content)
    return AttemptRef(
        index,
        int(match.group(1)),
        stamp.group(1) if stamp else None,
        artifacts.group(1).rstrip(".") if artifacts else None,
    )
