"""Where a cited symbol or quote is now: the lines a stale citation should point at.

A symbol is found at its definition (`def name`, `class name`, `name =`, `name:` at the start of
a line; for `Class.method` the last part), else at the first line naming it as a word. A quote
is found where its whitespace-folded text occurs, in one line or in a window of consecutive lines.
"""

from __future__ import annotations

import re

from tools.specs.citations import fold

MAX_QUOTE_LINES = 12


def _word(symbol: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(symbol) + r"(?![\w])")


def mentions(text: str, symbol: str) -> bool:
    """True when `text` names the symbol (its last dotted part) as a whole word."""
    return bool(_word(symbol.rsplit(".", 1)[-1]).search(text))


def find_symbol(lines: list[str], symbol: str) -> int | None:
    """1-based line of the symbol's definition, else of its first mention; None if absent."""
    name = symbol.rsplit(".", 1)[-1]
    definition = re.compile(
        r"^\s*(?:(?:async\s+)?def\s+|class\s+)?" + re.escape(name) + r"\s*(?:[(:=]|$)"
    )
    keyword = re.compile(r"^\s*(?:(?:async\s+)?def|class)\s+" + re.escape(name) + r"(?![\w])")
    for index, line in enumerate(lines):
        if keyword.match(line):
            return index + 1
    for index, line in enumerate(lines):
        if definition.match(line):
            return index + 1
    word = _word(name)
    for index, line in enumerate(lines):
        if word.search(line):
            return index + 1
    return None


def find_quote(lines: list[str], quote: str) -> tuple[int, int] | None:
    """(start, stop), 1-based inclusive, of the fewest consecutive lines holding the folded
    quote; None if it is nowhere in the file."""
    wanted = fold(quote)
    if not wanted:
        return None
    folded = [fold(line) for line in lines]
    for start in range(len(lines)):
        if not folded[start]:
            continue
        window = folded[start]
        if wanted in window:
            return start + 1, start + 1
        for stop in range(start + 1, min(start + MAX_QUOTE_LINES, len(lines))):
            if folded[stop]:
                window += " " + folded[stop]
            if wanted in window:
                # The quote must start in the first line, else a later start is shorter.
                if wanted in " ".join(f for f in folded[start + 1 : stop + 1] if f):
                    break
                return start + 1, stop + 1
            if len(window) > len(wanted) * 4 + 200:
                break
    return None
