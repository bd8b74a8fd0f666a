"""Citations in Markdown prose: `path:line`, `path:start-end`, `path:2,4`, brace lists
(`{a.py:1, b.py:2,4}`), with an optional symbol (`a.py:12::load` or ``a.py:12 (`load`)``)
and an optional quote on the next non-blank line (`> text`). Parsing only; `check.py` judges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

EXTENSIONS = "md|py|toml|json|txt|yaml|yml|cfg|ini|j2|sh|rst|ipynb|c|h|cpp|hpp|cu|rs|js|ts|go|java"
SYMBOL = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"  # `name` or `Class.method`, never a trailing dot
# A path with an extension, then :lines. Anchored on a non-path character before it so
# `http://x` or `12:30` do not match; a line list is `12`, `12-20` or `2,4` (no space after the
# comma: `a.py:1, b.py:2` is two citations). A brace list needs nothing more: each element
# starts after `{`, `,` or a space.
CITATION = re.compile(
    r"(?<![\w./-])(?P<path>(?:[\w.-]+/)*[\w.-]+\.(?:" + EXTENSIONS + r"))"
    r":(?P<lines>\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)(?![\w])"
    r"(?:::(?P<sym>" + SYMBOL + r")|`?[ \t]+\(`(?P<sym2>" + SYMBOL + r")`\))?"
)


@dataclass
class Citation:
    """One citation on one line: what it names and where its `path:lines` text sits."""

    path: str
    ranges: list[tuple[int, int]]  # inclusive (start, stop), 1-based
    symbol: str | None
    text: str  # the `path:lines` text as written
    start: int  # offset of `path` in the line
    end: int  # offset after `lines`


def parse_ranges(text: str) -> list[tuple[int, int]]:
    ranges = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        ranges.append((int(first), int(last) if last else int(first)))
    return ranges


def render_ranges(ranges: list[tuple[int, int]]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def citations_in(line: str) -> list[Citation]:
    found = []
    for match in CITATION.finditer(line):
        found.append(
            Citation(
                path=match.group("path"),
                ranges=parse_ranges(match.group("lines")),
                symbol=match.group("sym") or match.group("sym2"),
                text=line[match.start("path") : match.end("lines")],
                start=match.start("path"),
                end=match.end("lines"),
            )
        )
    return found


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(0-based index, line) of lines outside fenced code blocks (they hold examples)."""
    in_fence = False
    for index, line in enumerate(text.split("\n")):
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield index, line


def fold(text: str) -> str:
    return " ".join(text.split())


def quote_line(lines: list[str], index: int) -> int:
    """Index of the next non-blank line after `index` (at most one blank line between)."""
    for probe in range(index + 1, min(index + 3, len(lines))):
        if lines[probe].strip():
            return probe
    return index


def quote_after(lines: list[str], index: int) -> str | None:
    """The `> quoted` text on the next non-blank line after `index`, if there is one."""
    probe = quote_line(lines, index)
    stripped = lines[probe].strip() if probe != index else ""
    return stripped[1:].strip() if stripped.startswith(">") else None
