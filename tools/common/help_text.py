"""Help texts as prose: Typer's rich help keeps a docstring's hard line breaks, so a paragraph
wrapped at 100 columns in the source prints ragged in an 80-column terminal. `reflow` joins
each prose paragraph's lines and leaves lists, tables and indented blocks as written."""

from __future__ import annotations

import re
from typing import Any

# A line that starts a list item or table row, or is indented: its paragraph keeps its breaks.
_STRUCTURED = re.compile(r"^(\s|[-*+|] |\d+[.)] )")


def reflow(text: str) -> str:
    """`text` with the lines of every prose paragraph joined by single spaces."""
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if paragraph.startswith("\b") or any(_STRUCTURED.match(line) for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_tree(command: Any) -> None:
    """Reflow the help of `command` and of every command below it (once per process)."""
    if getattr(command, "_help_reflowed", False):
        return
    if command.help:
        command.help = reflow(command.help)
    command._help_reflowed = True
    for sub in getattr(command, "commands", {}).values():
        reflow_tree(sub)
