"""Reading a rendered study report back in the study tests (not a test module)."""

from __future__ import annotations


def report_rows(markdown: str) -> list[list[str]]:
    """The cells of each row of the report's results table, header excluded."""
    section = markdown.split("## Results on the held-out test region", 1)[1].split("## ", 1)[0]
    rows = [
        line
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| view")
    ]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]
