"""Markdown table rows: the one splitter and the one renderer every `tools` table uses.

A `|` inside a cell is written `\\|` (GitHub-flavoured Markdown's escape) and read back as `|`,
so a cell holding a pipe round-trips and never shifts the cells after it into other columns.
Only `\\|` is an escape; every other backslash is kept as written.
"""

from __future__ import annotations


def is_row(line: str) -> bool:
    """True for a line that is a table row (its first non-blank character is `|`)."""
    return line.lstrip().startswith("|")


def escape_cell(text: object) -> str:
    """A value as one cell: `|` escaped, line breaks made spaces (a row is one line)."""
    value = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return value.replace("|", "\\|")


def render_row(values: list[str] | tuple[str, ...]) -> str:
    """`| a | b |` with each value escaped."""
    return "| " + " | ".join(escape_cell(value) for value in values) + " |"


def split_row(line: str) -> list[str]:
    """The cells of a row, stripped and unescaped; the outer pipes are optional."""
    body = line.strip()
    pieces: list[str] = []
    current: list[str] = []
    ends_with_separator = False
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and body.startswith("|", index + 1):
            current.append("|")
            index += 2
            ends_with_separator = False
            continue
        if char == "|":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        ends_with_separator = char == "|"
        index += 1
    pieces.append("".join(current))
    # `| a | b |` has an empty piece before its first pipe and one after its last.
    if body.startswith("|"):
        pieces = pieces[1:]
    if ends_with_separator:
        pieces = pieces[:-1]
    return [piece.strip() for piece in pieces]
