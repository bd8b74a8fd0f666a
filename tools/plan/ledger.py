"""The ledger (`fix_plan.md`): a line-preserving parser and targeted edits.

The file is held as its list of lines, each with its own line ending, so saving an unedited ledger
writes the identical bytes and an edit replaces only the lines it changes. The format is
specified in `specs/fix_plan_format.md`; everything the parser does not recognise is kept as is.
Two layouts are read: `## [ID] title` items, and the single-initiative layout (`## Status`,
`## Current Focus`, `## Attempts History`; `tools.plan.single_initiative`), chosen per file:
the second only when the file has no item headings. `self.layout` says which one was found.

Parsing is one pass over the lines with prefix checks and anchored regexes (no backtracking
traps), so a ledger with 10,000 attempt entries parses in milliseconds. Lint lives in
`tools.plan.lint`, archiving in `tools.plan.archive`, attempt entries in `tools.plan.entries`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import ID_PATTERN, validate_item_id
from tools.common.layout import LEDGER_NAME, resolve_layout
from tools.common.output import CommandError
from tools.common.vocabulary import LEDGER_STATUSES
from tools.plan.fields import restatus
from tools.plan.items import ATTEMPT, FieldLine, Item, Problem, field_of
from tools.plan.lines import content as _content
from tools.plan.lines import ending as _ending
from tools.plan.lines import split_lines
from tools.plan.single_edits import append_single_attempt, set_single_field
from tools.plan.single_initiative import LAYOUT as SINGLE_INITIATIVE
from tools.plan.single_initiative import has_content
from tools.plan.single_initiative import parse as parse_single_initiative

if TYPE_CHECKING:
    from tools.plan.entries import AttemptEntry

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_ITEM_TITLE = re.compile(r"^\[([^\]]*)\][ \t]*(.*)$")
_MAY_MATTER = frozenset("#`~ \t")


class Ledger:
    """A parsed ledger: the original lines plus the items found in them."""

    def __init__(self, text: str, path: Path | None = None):
        self.path = path
        self.lines = split_lines(text)
        self.items: list[Item] = []
        self.problems: list[Problem] = []
        self.open_fence: int | None = None
        self.layout = "items"
        self.single = None  # tools.plan.single_initiative.SingleInitiative, that layout only
        self._parse()

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Ledger:
        """Read `path`; a missing file or bytes that are not UTF-8 are input errors."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CommandError(
                f"{path}: ledger not found (create it with `tools plan add`)"
            ) from None
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the ledger ({exc.strerror})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CommandError(f"{path}:{line}: ledger is not valid UTF-8 ({exc.reason})") from None
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
            if current is None:
                # Outside items only fences and `## [` / `### [` headings matter; a cheap test
                # first (a 10,000-entry single-initiative file is mostly other lines).
                first = line[:1]
                if first not in _MAY_MATTER:
                    continue
                if first == "#" and not line.lstrip("#").lstrip(" \t").startswith("["):
                    continue
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
                parsed = field_of(content)
                if parsed is not None and not ATTEMPT.search(content[:40]):
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
        if not self.items:
            self._parse_single_initiative()

    def _parse_single_initiative(self) -> None:
        found = parse_single_initiative(self.lines)
        if found is None:
            return
        self.layout, self.single = SINGLE_INITIATIVE, found
        if found.item is not None:
            self.items.append(found.item)

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
        raise CommandError(f"{self._name()}: no item [{item_id}] (known: {self._known()})")

    def find_unique(self, item_id: str) -> Item:
        """The item to edit; an ID defined twice is refused (which one was meant is unknown)."""
        item = self.find(item_id)
        lines = [str(i.start + 1) for i in self.items if i.item_id == item_id]
        if len(lines) > 1:
            raise CommandError(
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
        if self.layout == SINGLE_INITIATIVE:
            return set_single_field(self, item, name, value)
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
        if status not in LEDGER_STATUSES:
            raise CommandError(
                f"invalid status {status!r}: expected one of {', '.join(LEDGER_STATUSES)}"
            )
        if self.layout == SINGLE_INITIATIVE:
            # The `## Status` line is often `status — what is going on`: keep the rest.
            status = restatus(self.find_unique(item_id).status_raw or "", status)
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
        if self.layout == SINGLE_INITIATIVE:
            raise CommandError(
                f"{self._name()}: a single-initiative ledger (## Status, ## Current Focus) holds "
                f"one initiative; [{item_id}] needs the `## [ID] title` layout "
                "(specs/fix_plan_format.md)"
            )
        if item_id in self.ids():
            raise CommandError(f"{self._name()}: item [{item_id}] already exists")
        if status not in LEDGER_STATUSES:
            raise CommandError(
                f"invalid status {status!r}: expected one of {', '.join(LEDGER_STATUSES)}"
            )
        title = " ".join(title.split())
        if not title:
            raise CommandError("--title must not be empty")
        deps = [validate_item_id(dep.strip()) for text in depends for dep in text.split(",")]
        missing = [dep for dep in deps if dep not in self.ids()]
        if missing:
            raise CommandError(
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
        if self.layout == SINGLE_INITIATIVE:
            return append_single_attempt(self, item, entry)
        if self.open_fence is not None and self.open_fence < item.end:
            # The rest of this item is inside the code block: its list can't be edited safely.
            raise CommandError(
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
            raise CommandError(
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
        self.layout, self.single = "items", None
        self._parse()

    # -- lint (tools.plan.lint) ----------------------------------------------------------------
    def lint(self, root: Path | None = None, *, max_bytes: int | None = None) -> list[Problem]:
        """Every problem a reader or `tools plan next` would trip on, with line numbers."""
        from tools.plan.lint import DEFAULT_MAX_BYTES, lint_ledger

        limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        problems = lint_ledger(self, root, max_bytes=limit)
        if not self.items and has_content(self.lines):
            # A file that says something but yields no item is a layout the parser missed,
            # never an empty ledger that is "ok".
            if self.layout == SINGLE_INITIATIVE:
                message = (
                    "single-initiative layout without an initiative ID: start `## Current Focus` "
                    "with `ID — title` (specs/fix_plan_format.md)"
                )
            else:
                message = (
                    "no items found: expected `## [ID] title` sections or the single-initiative "
                    "layout (`## Status`, `## Current Focus`, `## Attempts History`)"
                )
            problems.insert(0, Problem(0, "no-items", message))
        return problems


def load_ledger(root: Path, ledger: Path | str | None = None) -> Ledger:
    """The repository's ledger, wherever its layout puts it (`tools.common.layout`), in either
    ledger layout; `ledger` overrides the configured path."""
    return Ledger.load(resolve_layout(root, ledger).ledger)
