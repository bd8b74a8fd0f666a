"""`docs/findings.md`: the table of durable findings that plans and ledgers cite by ID.

The table header is `| Finding ID | Date | Keywords | Synopsis | Evidence Pointer | Status |`;
`add_finding` appends one row right after the table's last row, touching no other line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import repo_lock, utc_now
from tools.common.layout import findings_path
from tools.common.markdown import is_row, render_row, split_row
from tools.common.output import CommandError
from tools.common.vocabulary import FINDING_STATUSES

HEADER = ("Finding ID", "Date", "Keywords", "Synopsis", "Evidence Pointer", "Status")
FINDING_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]{3,}$")


class NoFindingsTable(CommandError):
    """The findings file exists but has no findings table (a prose file)."""


@dataclass
class Finding:
    finding_id: str
    date: str
    keywords: str
    synopsis: str
    evidence: str
    status: str
    line: int


def _table_bounds(lines: list[str], path: Path) -> tuple[int, int]:
    """(header index, index after the last row) of the findings table."""
    for index, line in enumerate(lines):
        if is_row(line) and tuple(split_row(line)) == HEADER:
            end = index + 2
            while end < len(lines) and is_row(lines[end]):
                end += 1
            return index, end
    raise NoFindingsTable(
        f"{path}: no findings table (expected header '| " + " | ".join(HEADER) + " |')"
    )


def read_findings(root: Path) -> list[Finding]:
    """All rows of the findings table (an absent file has none; a file without the table raises
    `NoFindingsTable`)."""
    path = findings_path(root)
    if not path.exists():
        return []
    lines = _read_lines(path)
    start, end = _table_bounds(lines, path)
    rows = []
    for index in range(start + 2, end):
        cells = split_row(lines[index]) + [""] * 6
        rows.append(Finding(*cells[:6], line=index + 1))
    return rows


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read the findings table ({exc})") from None


def prose_finding_ids(root: Path, pattern: re.Pattern[str]) -> set[str]:
    """Finding-style IDs a findings file without a table names anywhere (its prose defines
    them), so that `specs check` can still tell known findings from unknown ones."""
    path = findings_path(root)
    return {match.group(1) for line in _read_lines(path) for match in pattern.finditer(line)}


def add_finding(
    root: Path,
    finding_id: str,
    *,
    keywords: str,
    synopsis: str,
    evidence: str,
    status: str = "active",
    date: str | None = None,
) -> Finding:
    """Append one finding row under the repo lock; duplicate or malformed IDs are refused."""
    if not FINDING_ID.match(finding_id):
        raise CommandError(f"invalid finding ID {finding_id!r}: expected e.g. DATA-001")
    if status not in FINDING_STATUSES:
        raise CommandError(
            f"invalid status {status!r}: expected one of {', '.join(FINDING_STATUSES)}"
        )
    if not synopsis.strip():
        raise CommandError("--synopsis must not be empty")
    path = findings_path(root)
    with repo_lock(root):
        if path.exists():
            text = path.read_text(encoding="utf-8")
        else:
            text = "# Findings\n\n" + render_row(HEADER) + "\n|" + "---|" * len(HEADER) + "\n"
        lines = text.split("\n")
        start, end = _table_bounds(lines, path)
        for index in range(start + 2, end):
            if split_row(lines[index])[0] == finding_id:
                raise CommandError(f"{path}:{index + 1}: finding {finding_id} already exists")
        values = [
            finding_id,
            date or utc_now().strftime("%Y-%m-%d"),
            keywords,
            synopsis,
            evidence,
            status,
        ]
        lines.insert(end, render_row([" ".join(value.split()) for value in values]))
        atomic_write_text(path, "\n".join(lines))
    return Finding(*values, line=end + 1)
