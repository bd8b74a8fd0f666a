"""Initiatives: `plans/active/<ID>/plan.md` phase tables and the status lines rendered from them.

A status line (DESIGN.md §8) is derived from recorded facts only: the phase table and the latest
attempt record. Example:
    Phase C COMPLETE (2026-11-20) · Phase E6 BLOCKED — KeyError: 'diff3d' (Attempt #3,
    2026-11-23) → next: add diffraction fallback
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.fsutil import atomic_write_text, utc_now, validate_item_id
from tools.output import ToolError

PHASE_STATUSES = ("pending", "in_progress", "blocked", "complete")
PHASE_HEADER = ("Phase", "Title", "Status", "Updated", "Evidence")
_EMPTY = "—"


def initiative_dir(root: Path, item_id: str) -> Path:
    """`plans/active/<ID>`; the ID is validated first so it cannot name a path outside plans/."""
    return root / "plans" / "active" / validate_item_id(item_id)


def active_initiatives(root: Path) -> list[str]:
    """IDs of the initiatives under plans/active (directories holding plan.md), sorted."""
    base = root / "plans" / "active"
    if not base.is_dir():
        return []
    return sorted(p.parent.name for p in base.glob("*/plan.md"))


@dataclass
class Phase:
    phase: str
    title: str
    status: str
    updated: str
    evidence: str


@dataclass
class PhaseTable:
    """The phase table of a plan.md: the rows and where the table sits in the file's lines."""

    lines: list[str]
    header_index: int
    end_index: int
    phases: list[Phase]


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [cell.strip() for cell in body.split("|")]


def _row(values: list[str]) -> str:
    return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"


def read_phase_table(plan_path: Path) -> PhaseTable:
    """Parse the first `| Phase | Title | Status | Updated | Evidence |` table of `plan_path`."""
    try:
        text = plan_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(
            f"{plan_path}: plan not found (create it with `tools initiative new`)"
        ) from None
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.strip().startswith("|") and tuple(_cells(line)[:5]) == PHASE_HEADER:
            phases = []
            end = index + 2
            while end < len(lines) and lines[end].strip().startswith("|"):
                cells = _cells(lines[end]) + [""] * 5
                phases.append(Phase(*cells[:5]))
                end += 1
            return PhaseTable(lines, index, end, phases)
    raise ToolError(
        f"{plan_path}: no phase table (expected a header row '| "
        + " | ".join(PHASE_HEADER)
        + " |')"
    )


def write_phase_table(plan_path: Path, table: PhaseTable) -> None:
    """Replace the table rows in place; the rest of plan.md is kept as it was."""
    rows = [
        _row([p.phase, p.title, p.status, p.updated or _EMPTY, p.evidence or _EMPTY])
        for p in table.phases
    ]
    lines = table.lines[: table.header_index + 2] + rows + table.lines[table.end_index :]
    atomic_write_text(plan_path, "\n".join(lines))


def new_initiative(
    root: Path, item_id: str, *, title: str, phases: list[tuple[str, str]], exit_criteria: str = ""
) -> Path:
    """Create plans/active/<ID>/plan.md (phase table) and test_strategy.md; returns the dir."""
    directory = initiative_dir(root, item_id)
    plan = directory / "plan.md"
    if plan.exists():
        raise ToolError(f"{plan} already exists")
    title = " ".join(title.split())
    if not title:
        raise ToolError("--title must not be empty")
    rows = [_row([name, phase_title, "pending", _EMPTY, _EMPTY]) for name, phase_title in phases]
    plan_text = "\n".join(
        [
            f"# [{item_id}] {title}",
            "",
            f"Ledger item: `fix_plan.md` [{item_id}]. Status lines are rendered from the table "
            "below and the latest attempt record (`tools status-line " + item_id + "`).",
            "",
            "## Exit criteria",
            "",
            " ".join(exit_criteria.split()) or "TBD",
            "",
            "## Phases",
            "",
            _row(list(PHASE_HEADER)),
            "|" + "---|" * len(PHASE_HEADER),
            *rows,
            "",
        ]
    )
    strategy_text = "\n".join(
        [
            f"# [{item_id}] Test strategy",
            "",
            "## What is tested and how",
            "",
            "- Unit: TBD",
            "- Integration (real files, subprocesses): TBD",
            "",
            "## Gates",
            "",
            "Gates for this item are defined in `plans/gates.json` and run by `tools gate`.",
            "",
        ]
    )
    atomic_write_text(plan, plan_text)
    atomic_write_text(directory / "test_strategy.md", strategy_text)
    return directory


def set_phase(
    root: Path,
    item_id: str,
    phase: str,
    *,
    status: str,
    evidence: str | None = None,
    title: str | None = None,
) -> Phase:
    """Update (or append, when `title` is given) one phase row; `Updated` is today's UTC date."""
    if status not in PHASE_STATUSES:
        raise ToolError(
            f"invalid phase status {status!r}: expected one of {', '.join(PHASE_STATUSES)}"
        )
    phase = phase.strip()
    if not phase or "|" in phase:
        raise ToolError(f"invalid phase name {phase!r}")
    plan_path = initiative_dir(root, item_id) / "plan.md"
    table = read_phase_table(plan_path)
    today = utc_now().strftime("%Y-%m-%d")
    for row in table.phases:
        if row.phase == phase:
            break
    else:
        if title is None:
            known = ", ".join(p.phase for p in table.phases) or "none"
            raise ToolError(
                f"{plan_path}: no phase {phase!r} (known: {known}); pass --title to add it"
            )
        row = Phase(phase, title, status, today, _EMPTY)
        table.phases.append(row)
    row.status = status
    row.updated = today
    if title is not None:
        row.title = title
    if evidence is not None:
        row.evidence = evidence if evidence.startswith("Attempt") else f"Attempt #{evidence}"
    write_phase_table(plan_path, table)
    return row


# -- attempts --------------------------------------------------------------------------------
@dataclass
class AttemptFacts:
    """What a status line needs from the latest attempt record."""

    number: int
    status: str
    date: str
    next: str
    blocker: str | None
    focus: str


def latest_attempt_facts(root: Path, item_id: str) -> AttemptFacts | None:
    """The latest attempt of `item_id`: via `tools.attempt_store` when present, else a reader.

    The fallback reads `plans/active/<ID>/reports/*/*/attempt.json` tolerantly (only the fields
    used here), so status lines work before and after the attempt store lands.
    """
    try:
        from tools.attempt_store import latest_attempt
    except ModuleNotFoundError as exc:
        if exc.name != "tools.attempt_store":
            raise
        return _latest_from_files(root, item_id)
    record = latest_attempt(root, item_id)
    if record is None:
        return None
    return _facts(_as_dict(record))


def _as_dict(record: Any) -> dict:
    if hasattr(record, "model_dump"):
        return record.model_dump(mode="json")
    return dict(record)


def _latest_from_files(root: Path, item_id: str) -> AttemptFacts | None:
    best: dict | None = None
    for path in initiative_dir(root, item_id).glob("reports/*/*/attempt.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            number = int(data.get("number", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if best is None or number > int(best.get("number", 0)):
            best = data
    return _facts(best) if best else None


def _facts(data: dict) -> AttemptFacts:
    blocker = data.get("blocker") or None
    signature = blocker.get("signature") if isinstance(blocker, dict) else None
    moment = data.get("finished_at") or data.get("started_at") or ""
    return AttemptFacts(
        number=int(data.get("number", 0)),
        status=str(data.get("status", "")),
        date=str(moment)[:10],
        next=str(data.get("next") or ""),
        blocker=signature,
        focus=str(data.get("focus") or ""),
    )


def status_line(root: Path, item_id: str) -> str:
    """Render the status line of one initiative from its phase table and latest attempt."""
    table = read_phase_table(initiative_dir(root, item_id) / "plan.md")
    attempt = latest_attempt_facts(root, item_id)
    parts = [
        f"Phase {p.phase} COMPLETE ({p.updated})" for p in table.phases if p.status == "complete"
    ]
    # The phase being worked on: the first in progress or blocked, else the first pending one.
    current = next((p for p in table.phases if p.status in ("in_progress", "blocked")), None)
    current = current or next((p for p in table.phases if p.status != "complete"), None)
    if current is not None:
        text = f"Phase {current.phase} {current.status.upper()}"
        if attempt is not None:
            if attempt.status == "blocked" and attempt.blocker:
                text += f" — {attempt.blocker}"
            text += f" (Attempt #{attempt.number}, {attempt.date or 'undated'})"
        parts.append(text)
    line = " · ".join(parts) or "no phases"
    if attempt is not None and attempt.next:
        line += f" → next: {attempt.next}"
    return line


def status_lines(root: Path) -> dict[str, str]:
    """One status line per active initiative."""
    return {item_id: status_line(root, item_id) for item_id in active_initiatives(root)}
