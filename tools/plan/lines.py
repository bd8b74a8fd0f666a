"""Lines with their own endings: the ledger keeps "\n" or "\r\n" per line, so an edit rewrites
only the lines it touches and an unedited file saves as the identical bytes."""

from __future__ import annotations


def content(line: str) -> str:
    """A line without its line ending ("\\n" or "\\r\\n")."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def ending(line: str) -> str:
    return line[len(content(line)) :]


def split_lines(text: str) -> list[str]:
    """Split on "\\n" only (not on the Unicode separators `str.splitlines` knows), keeping ends."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines
