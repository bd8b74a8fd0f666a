"""The ledger (`fix_plan.md`): a line-preserving parser, targeted edits, and lint.

The file is held as its list of lines, each with its own line ending, so saving an unedited ledger
writes the identical bytes and an edit replaces only the lines it changes. The format is
specified in `specs/fix_plan_format.md`; everything the parser does not recognise is kept as is.

Parsing is one pass over the lines with prefix checks and anchored regexes (no backtracking
traps), so a ledger with 10,000 attempt entries parses in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.fsutil import ID_PATTERN, atomic_write_text, iso_utc, repo_lock, validate_item_id
from tools.output import ToolError

LEDGER_NAME = "fix_plan.md"
STATUSES = ("pending", "in_progress", "blocked", "done", "archived")
# Hand-kept ledgers use many spellings; each maps to one canonical status. Longest first so
# "in progress" wins over a hypothetical "in".
_STATUS_ALIASES = sorted(
    {
        "pending": "pending",
        "todo": "pending",
        "open": "pending",
        "planned": "pending",
        "not started": "pending",
        "not_started": "pending",
        "in_progress": "in_progress",
        "in progress": "in_progress",
        "in-progress": "in_progress",
        "active": "in_progress",
        "wip": "in_progress",
        "blocked": "blocked",
        "done": "done",
        "complete": "done",
        "completed": "done",
        "closed": "done",
        "fixed": "done",
        "archived": "archived",
    }.items(),
    key=lambda kv: -len(kv[0]),
)
_PRIORITY_WORDS = {"critical": 0, "high": 1, "medium": 2, "med": 2, "low": 3}
_NONE_WORDS = {"", "—", "–", "-", "none", "n/a", "na", "nothing"}
DEFAULT_MAX_BYTES = 200_000

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_ITEM_TITLE = re.compile(r"^\[([^\]]*)\][ \t]*(.*)$")
_ATTEMPT = re.compile(r"Attempt[ \t]*#[ \t]*(\d+)")
_TIMESTAMP = re.compile(r"\[([0-9]{4}-[0-9]{2}-[0-9]{2}[^\]]*)\]")
_ARTIFACTS = re.compile(r"Artifacts:[ \t]*`?([^\s`]+?)`?(?:[.,;]?(?:\s|$))")


def _content(line: str) -> str:
    """A line without its line ending ("\\n" or "\\r\\n")."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def _ending(line: str) -> str:
    return line[len(_content(line)) :]


def split_lines(text: str) -> list[str]:
    """Split on "\\n" only (not on the Unicode separators `str.splitlines` knows), keeping ends."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def normalise_status(value: str) -> str | None:
    """Canonical status for a field value with optional trailing text; None when unknown."""
    text = value.strip().strip("*`").strip().lower()
    for alias, canonical in _STATUS_ALIASES:
        if text.startswith(alias):
            rest = text[len(alias) :]
            if not rest or not (rest[0].isalnum() or rest[0] == "_"):
                return canonical
    return None


def parse_priority(value: str) -> int | None:
    """Integer priority (lower first) from `3`, `P1`, `High`, `Medium — ...`; None if unknown."""
    text = value.strip().strip("*`").strip()
    word = re.split(r"[\s(—–,;:]", text, maxsplit=1)[0].lower() if text else ""
    if word.startswith("p") and word[1:].isdigit():
        word = word[1:]
    if word.lstrip("-").isdigit():
        return int(word)
    return _PRIORITY_WORDS.get(word)


def parse_depends(value: str) -> list[str]:
    """Dependency IDs from `A-1, B-2`, `[A-1]; B-2 (phase C)`, `—` or `none`."""
    text = value.strip()
    if text.lower().strip("*`. ") in _NONE_WORDS:
        return []
    ids: list[str] = []
    for part in re.split(r"[,;]", text):
        token = part.strip().split(" ", 1)[0].strip("[]`*().")
        if token and token.lower() not in _NONE_WORDS:
            ids.append(token)
    return ids


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
            refs = (_attempt_ref(index, content) for index, content in self.attempt_candidates)
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


def _field_of(content: str) -> tuple[str, str] | None:
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


class Ledger:
    """A parsed ledger: the original lines plus the items found in them."""

    def __init__(self, text: str, path: Path | None = None):
        self.path = path
        self.lines = split_lines(text)
        self.items: list[Item] = []
        self.problems: list[Problem] = []
        self.open_fence: int | None = None
        self._parse()

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Ledger:
        """Read `path`; a missing file or bytes that are not UTF-8 are input errors."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ToolError(f"{path}: ledger not found (create it with `tools plan add`)") from None
        except OSError as exc:
            raise ToolError(f"{path}: cannot read the ledger ({exc.strerror})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ToolError(f"{path}:{line}: ledger is not valid UTF-8 ({exc.reason})") from None
        return cls(text, path)

    def text(self) -> str:
        return "".join(self.lines)

    def save(self, path: Path | None = None) -> None:
        target = path or self.path
        if target is None:
            raise ValueError("no path to save the ledger to")
        atomic_write_text(target, self.text())

    @property
    def newline(self) -> str:
        """The file's line ending, taken from its first line ("\\n" when it has none)."""
        for line in self.lines:
            ending = _ending(line)
            if ending:
                return ending
        return "\n"

    # -- parsing -----------------------------------------------------------------------------
    def _parse(self) -> None:
        current: Item | None = None
        in_fence = False
        fence_line = -1
        # Bullets under a sub-heading (e.g. `#### Attempt #2`) belong to it, not to the item.
        in_subsection = False
        for index, line in enumerate(self.lines):
            content = _content(line)
            stripped = content.lstrip()
            if stripped.startswith("```") or stripped.startswith("~~~"):
                in_fence = not in_fence
                fence_line = index
                continue
            if in_fence:
                continue
            if content.startswith("#"):
                heading = _HEADING.match(content)
                if heading:
                    level = len(heading.group(1))
                    if current is not None and level <= current.level:
                        current.end = index
                        self.items.append(current)
                        current = None
                    title_text = heading.group(2)
                    if level in (2, 3) and title_text.startswith("["):
                        if current is not None:
                            current.end = index
                            self.items.append(current)
                        current = self._start_item(index, level, title_text)
                        in_subsection = False
                        continue
                    if current is not None:
                        in_subsection = True
                        current.attempt_candidates.append((index, content))
                    continue
            if current is None:
                continue
            if not in_subsection and content[:1] in ("-", "*") and content[1:2] in (" ", "\t"):
                parsed = _field_of(content)
                if parsed is not None and not _ATTEMPT.search(content[:40]):
                    current.fields.append(FieldLine(index, parsed[0], parsed[1]))
                    continue
            if "Attempt" in content:
                current.attempt_candidates.append((index, content))
        if current is not None:
            current.end = len(self.lines)
            self.items.append(current)
        if in_fence:
            self.open_fence = fence_line
            self.problems.append(
                Problem(fence_line + 1, "unclosed-fence", "code fence is never closed")
            )

    def _start_item(self, index: int, level: int, title_text: str) -> Item | None:
        match = _ITEM_TITLE.match(title_text)
        if match is None:
            self.problems.append(
                Problem(
                    index + 1, "bad-heading", f"item heading without a closing ']': {title_text}"
                )
            )
            return None
        item_id, title = match.group(1), match.group(2).strip()
        if not ID_PATTERN.match(item_id):
            self.problems.append(
                Problem(
                    index + 1,
                    "bad-id",
                    f"item ID {item_id!r} is not [A-Z0-9-]+ (expected e.g. TRAIN-001)",
                )
            )
        return Item(item_id, title, index, index + 1, level)

    # -- queries -----------------------------------------------------------------------------
    def ids(self) -> set[str]:
        return {item.item_id for item in self.items}

    def find(self, item_id: str) -> Item:
        for item in self.items:
            if item.item_id == item_id:
                return item
        raise ToolError(f"{self._name()}: no item [{item_id}] (known: {self._known()})")

    def find_unique(self, item_id: str) -> Item:
        """The item to edit; an ID defined twice is refused (which one was meant is unknown)."""
        item = self.find(item_id)
        lines = [str(i.start + 1) for i in self.items if i.item_id == item_id]
        if len(lines) > 1:
            raise ToolError(
                f"{self._name()}: item [{item_id}] is defined {len(lines)} times (lines "
                f"{', '.join(lines)}); merge them before editing"
            )
        return item

    def _name(self) -> str:
        return str(self.path) if self.path else LEDGER_NAME

    def _known(self) -> str:
        return ", ".join(item.item_id for item in self.items) or "none"

    def next_item(self) -> Item | None:
        """Highest-priority actionable item: status pending/in_progress, all dependencies done.

        Ties go to the item that comes first in the file; an item without a priority sorts last.
        """
        status_of = {item.item_id: item.status for item in self.items}
        candidates = []
        for order, item in enumerate(self.items):
            if item.status not in ("pending", "in_progress"):
                continue
            if any(status_of.get(dep) not in ("done", "archived") for dep in item.depends):
                continue
            priority = item.priority if item.priority is not None else 10**9
            candidates.append((priority, order, item))
        return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None

    # -- edits (each replaces or inserts only the lines it names) -----------------------------
    def set_field(self, item_id: str, name: str, value: str) -> int:
        """Set `- Name: value` in the item; returns the 0-based index of the line written."""
        item = self.find_unique(item_id)
        existing = item.get(name)
        if existing is not None:
            old = self.lines[existing.index]
            content = _content(old)
            colon = content.index(":")
            prefix = content[: colon + 1]
            # Keep bold markers around the name (`- **Status:** x`).
            if content[colon + 1 : colon + 3] == "**":
                prefix += "**"
            self.lines[existing.index] = f"{prefix} {value}{_ending(old) or ''}"
            self._reparse()
            return existing.index
        insert_at = (item.fields[-1].index + 1) if item.fields else item.start + 1
        self._insert(insert_at, [f"- {name}: {value}"])
        return insert_at

    def set_status(self, item_id: str, status: str) -> int:
        if status not in STATUSES:
            raise ToolError(f"invalid status {status!r}: expected one of {', '.join(STATUSES)}")
        return self.set_field(item_id, "Status", status)

    def add_item(
        self,
        item_id: str,
        title: str,
        *,
        depends: Iterable[str] = (),
        priority: int = 3,
        status: str = "pending",
        working_plan: str | None = None,
        exit_criteria: str = "",
    ) -> None:
        """Append a new `## [ID] title` section at the end of the file."""
        validate_item_id(item_id)
        if item_id in self.ids():
            raise ToolError(f"{self._name()}: item [{item_id}] already exists")
        if status not in STATUSES:
            raise ToolError(f"invalid status {status!r}: expected one of {', '.join(STATUSES)}")
        title = " ".join(title.split())
        if not title:
            raise ToolError("--title must not be empty")
        deps = [validate_item_id(dep.strip()) for text in depends for dep in text.split(",")]
        missing = [dep for dep in deps if dep not in self.ids()]
        if missing:
            raise ToolError(
                f"{self._name()}: [{item_id}] would depend on {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not in the ledger (known: {self._known()})"
            )
        block = [
            f"## [{item_id}] {title}",
            f"- Depends on: {', '.join(deps) if deps else 'none'}",
            f"- Priority: {priority}",
            f"- Status: {status}",
            f"- Working Plan: {working_plan or f'plans/active/{item_id}/plan.md'}",
            f"- Exit Criteria: {' '.join(exit_criteria.split()) or 'TBD'}",
            "- Attempts History:",
        ]
        nl = self.newline
        if not self.lines:
            self.lines = ["# Fix Plan Ledger" + nl]
        if not self.lines[-1].endswith("\n"):
            self.lines[-1] += nl
        if _content(self.lines[-1]).strip():
            block.insert(0, "")
        self.lines.extend(line + nl for line in block)
        self._reparse()

    def append_attempt(self, item_id: str, entry: AttemptEntry) -> int:
        """Append `entry` to the item's `- Attempts History:` list; returns its line index."""
        item = self.find_unique(item_id)
        if self.open_fence is not None and self.open_fence < item.end:
            # The rest of this item is inside the code block: its list can't be edited safely.
            raise ToolError(
                f"{self._name()}:{self.open_fence + 1}: code fence is never closed; close it "
                f"before editing [{item_id}]"
            )
        history = item.get("Attempts History")
        if history is None:
            last = item.end - 1
            while last > item.start and not _content(self.lines[last]).strip():
                last -= 1
            self._insert(last + 1, ["- Attempts History:", entry.render()])
            return last + 2
        # The list runs over the indented lines after the field (blank lines inside it allowed).
        insert_at = history.index + 1
        probe = insert_at
        while probe < item.end:
            content = _content(self.lines[probe])
            if content[:1] in (" ", "\t") and content.strip():
                insert_at = probe + 1
            elif content.strip():
                break
            probe += 1
        self._insert(insert_at, [entry.render()])
        return insert_at

    def stamp_last_updated(self, moment: str) -> int | None:
        """Set the header's `**Last Updated:**` value (the lines before the first item) to
        `moment`; returns the line index, or None when the ledger has no such header line."""
        first_item = self.items[0].start if self.items else len(self.lines)
        for index in range(first_item):
            content = _content(self.lines[index])
            if content.startswith("**Last Updated:**"):
                self.lines[index] = f"**Last Updated:** {moment}{_ending(self.lines[index])}"
                return index
        return None

    def _insert(self, index: int, contents: list[str]) -> None:
        if self.open_fence is not None and index > self.open_fence:
            # Text inserted there would be invisible to the parser (inside a code block).
            raise ToolError(
                f"{self._name()}:{self.open_fence + 1}: code fence is never closed; close it "
                "before editing below it"
            )
        nl = self.newline
        if index > 0 and not self.lines[index - 1].endswith("\n"):
            self.lines[index - 1] += nl
        self.lines[index:index] = [content + nl for content in contents]
        self._reparse()

    def _reparse(self) -> None:
        self.items, self.problems, self.open_fence = [], [], None
        self._parse()

    # -- lint --------------------------------------------------------------------------------
    def lint(
        self, root: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> list[Problem]:
        """Every problem a reader or `tools plan next` would trip on, with line numbers."""
        problems = list(self.problems)
        seen: dict[str, int] = {}
        for item in self.items:
            line = item.start + 1
            if item.item_id in seen:
                problems.append(
                    Problem(
                        line,
                        "duplicate-id",
                        f"[{item.item_id}] already defined at line {seen[item.item_id]}",
                    )
                )
            else:
                seen[item.item_id] = line
            status = item.get("Status")
            if status is None:
                problems.append(Problem(line, "no-status", f"[{item.item_id}] has no Status field"))
            elif normalise_status(status.value) is None:
                problems.append(
                    Problem(
                        status.index + 1,
                        "unknown-status",
                        f"[{item.item_id}] status {status.value!r}: expected one of "
                        + ", ".join(STATUSES),
                    )
                )
            priority = item.get("Priority")
            if priority is not None and parse_priority(priority.value) is None:
                problems.append(
                    Problem(
                        priority.index + 1,
                        "bad-priority",
                        f"[{item.item_id}] priority {priority.value!r}: expected an integer or "
                        "High/Medium/Low",
                    )
                )
            previous = 0
            for attempt in item.attempts:
                if attempt.number <= previous:
                    problems.append(
                        Problem(
                            attempt.index + 1,
                            "attempt-order",
                            f"[{item.item_id}] Attempt #{attempt.number} follows #{previous}",
                        )
                    )
                previous = max(previous, attempt.number)
                if root is not None and attempt.artifacts and not _exists(root, attempt.artifacts):
                    problems.append(
                        Problem(
                            attempt.index + 1,
                            "missing-artifacts",
                            f"[{item.item_id}] Artifacts path {attempt.artifacts} does not exist",
                        )
                    )
            plan = item.working_plan
            if root is not None and plan and not _exists(root, plan):
                problems.append(
                    Problem(
                        item.get("Working Plan").index + 1,
                        "missing-plan",
                        f"[{item.item_id}] Working Plan {plan} does not exist",
                    )
                )
        problems.extend(self._dependency_problems(seen))
        size = len(self.text().encode("utf-8"))
        if size > max_bytes:
            problems.append(
                Problem(
                    0,
                    "too-large",
                    f"ledger is {size} bytes (limit {max_bytes}): run `tools plan archive` to move "
                    "old attempt entries to docs/archive/",
                    "warning",
                )
            )
        return sorted(problems, key=lambda p: p.line)

    def _dependency_problems(self, first_line: dict[str, int]) -> list[Problem]:
        problems = []
        graph: dict[str, list[str]] = {}
        for item in self.items:
            graph.setdefault(item.item_id, [])
            for dep in item.depends:
                if dep not in first_line:
                    field_line = item.get("Depends on") or item.get("Depends")
                    problems.append(
                        Problem(
                            field_line.index + 1,
                            "missing-dependency",
                            f"[{item.item_id}] depends on [{dep}], which is not in the ledger",
                        )
                    )
                else:
                    graph[item.item_id].append(dep)
        for cycle in _cycles(graph):
            problems.append(
                Problem(
                    first_line[cycle[0]],
                    "dependency-cycle",
                    "dependency cycle: " + " -> ".join(cycle + [cycle[0]]),
                )
            )
        return problems


def _attempt_ref(index: int, content: str) -> AttemptRef | None:
    """An attempt entry: a bullet or heading whose first words name `Attempt #n`."""
    stripped = content.lstrip()
    if not stripped or stripped[0] not in "-*#":
        return None
    head = stripped[:80]
    match = _ATTEMPT.search(head)
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


def _exists(root: Path, relative: str) -> bool:
    path = (root / relative).resolve()
    return path.exists()


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative per dependency cycle (iterative DFS, colours white/grey/black)."""
    colour = dict.fromkeys(graph, 0)
    cycles: list[list[str]] = []
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                cycles.append(path[path.index(child) :])
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(graph[child])))
                path.append(child)
    return cycles


class AttemptEntry(BaseModel):
    """One attempt entry as `tools attempt finish` appends it (DESIGN.md §7)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description="UTC ISO time from the tool's clock, 2026-11-24T20:35:54Z")
    number: int = Field(ge=1, description="Attempt number, increasing per item")
    focus: str = Field(description="What the attempt worked on, one line")
    mode: str = Field(default="TDD", description="Working mode, e.g. TDD, Docs, Perf")
    result: Literal["complete", "blocked", "partial"]
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


def archive_attempts(ledger: Ledger, *, keep: int, archive_rel: str) -> tuple[list[str], int]:
    """Move all but the last `keep` bullet-form attempt entries of each item out of the ledger.

    Returns (archive text blocks, entries moved). Each item keeps a pointer line where its
    oldest entry was. Sub-heading attempt entries are left in place (they own their sections).
    """
    if keep < 0:
        raise ToolError(f"--keep must be >= 0, found {keep}")
    blocks: list[str] = []
    moved = 0
    # Work bottom-up so earlier line indexes stay valid while later ranges are cut.
    for item in reversed(ledger.items):
        bullets = [a for a in item.attempts if _content(ledger.lines[a.index])[:1] in (" ", "\t")]
        old = bullets[: max(len(bullets) - keep, 0)]
        if not old:
            continue
        ranges = []
        for attempt in old:
            indent = len(_content(ledger.lines[attempt.index])) - len(
                _content(ledger.lines[attempt.index]).lstrip()
            )
            stop = attempt.index + 1
            while stop < item.end:
                content = _content(ledger.lines[stop])
                if not content.strip() or len(content) - len(content.lstrip()) <= indent:
                    break
                stop += 1
            ranges.append((attempt.index, stop))
        moved_lines = [ledger.lines[i] for start, stop in ranges for i in range(start, stop)]
        first_indent = _content(ledger.lines[ranges[0][0]])
        first_indent = first_indent[: len(first_indent) - len(first_indent.lstrip())]
        pointer = (
            f"{first_indent}* Attempts #{old[0].number}–#{old[-1].number} archived to "
            f"{archive_rel}{ledger.newline}"
        )
        for start, stop in reversed(ranges):
            del ledger.lines[start:stop]
        ledger.lines.insert(ranges[0][0], pointer)
        body = "".join(_content(line) + "\n" for line in moved_lines)
        blocks.insert(0, f"## [{item.item_id}] {item.title}\n\n{body}")
        moved += len(old)
    ledger._reparse()
    return blocks, moved
