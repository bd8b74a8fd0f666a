"""`docs/findings.md`: the table of durable findings that plans and ledgers cite by ID.

The table header is `| Finding ID | Date | Keywords | Synopsis | Evidence Pointer | Status |`;
`add_finding` appends one row right after the table's last row, touching no other line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.fsutil import atomic_write_text, repo_lock, utc_now
from tools.output import ToolError

FINDINGS_PATH = Path("docs") / "findings.md"
HEADER = ("Finding ID", "Date", "Keywords", "Synopsis", "Evidence Pointer", "Status")
FINDING_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]{3,}$")
FINDING_STATUSES = ("active", "superseded", "retired")


@dataclass
class Finding:
    finding_id: str
    date: str
    keywords: str
    synopsis: str
    evidence: str
    status: str
    line: int


def _cells(line: str) -> list[str]:
    body = line.strip().strip("|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def _table_bounds(lines: list[str], path: Path) -> tuple[int, int]:
    """(header index, index after the last row) of the findings table."""
    for index, line in enumerate(lines):
        if line.lstrip().startswith("|") and tuple(_cells(line)) == HEADER:
            end = index + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            return index, end
    raise ToolError(f"{path}: no findings table (expected header '| " + " | ".join(HEADER) + " |')")


def read_findings(root: Path) -> list[Finding]:
    """All rows of docs/findings.md (an absent file has none)."""
    path = root / FINDINGS_PATH
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(f"{path}: cannot read the findings table ({exc})") from None
    start, end = _table_bounds(lines, path)
    rows = []
    for index in range(start + 2, end):
        cells = _cells(lines[index]) + [""] * 6
        rows.append(Finding(*cells[:6], line=index + 1))
    return rows


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
        raise ToolError(f"invalid finding ID {finding_id!r}: expected e.g. DATA-001")
    if status not in FINDING_STATUSES:
        raise ToolError(f"invalid status {status!r}: expected one of {', '.join(FINDING_STATUSES)}")
    if not synopsis.strip():
        raise ToolError("--synopsis must not be empty")
    path = root / FINDINGS_PATH
    with repo_lock(root):
        if path.exists():
            text = path.read_text(encoding="utf-8")
        else:
            text = "# Findings\n\n| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER) + "\n"
        lines = text.split("\n")
        start, end = _table_bounds(lines, path)
        for index in range(start + 2, end):
            if _cells(lines[index])[0] == finding_id:
                raise ToolError(f"{path}:{index + 1}: finding {finding_id} already exists")
        values = [
            finding_id,
            date or utc_now().strftime("%Y-%m-%d"),
            keywords,
            synopsis,
            evidence,
            status,
        ]
        row = "| " + " | ".join(" ".join(v.split()).replace("|", "\\|") for v in values) + " |"
        lines.insert(end, row)
        atomic_write_text(path, "\n".join(lines))
    return Finding(*values, line=end + 1)
