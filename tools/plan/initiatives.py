"""Initiatives: `plans/active/<ID>/plan.md` phase tables and the status lines rendered from them.

A status line (specs/fix_plan_format.md, "Initiatives and status lines") is derived from recorded
facts only: the phase table and the latest attempt record. Example:
    Phase C COMPLETE (2026-11-20) · Phase E6 BLOCKED — KeyError: 'diff3d' (Attempt #3,
    2026-11-23) → next: add diffraction fallback
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import utc_now
from tools.common.layout import active_dir, initiative_dir
from tools.common.markdown import is_row, render_row, split_row
from tools.common.output import CommandError
from tools.common.vocabulary import PHASE_STATUSES

PHASE_HEADER = ("Phase", "Title", "Status", "Updated", "Evidence")
_EMPTY = "—"


def active_initiatives(root: Path) -> list[str]:
    """IDs of the initiatives under plans/active (directories holding plan.md), sorted."""
    base = active_dir(root)
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


def read_phase_table(plan_path: Path) -> PhaseTable:
    """Parse the first `| Phase | Title | Status | Updated | Evidence |` table of `plan_path`."""
    try:
        text = plan_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(
            f"{plan_path}: plan not found (create it with `tools initiative new`)"
        ) from None
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if is_row(line) and tuple(split_row(line)[:5]) == PHASE_HEADER:
            phases = []
            end = index + 2
            while end < len(lines) and is_row(lines[end]):
                cells = split_row(lines[end]) + [""] * 5
                phases.append(Phase(*cells[:5]))
                end += 1
            return PhaseTable(lines, index, end, phases)
    raise CommandError(
        f"{plan_path}: no phase table (expected a header row '| "
        + " | ".join(PHASE_HEADER)
        + " |')"
    )


def write_phase_table(plan_path: Path, table: PhaseTable) -> None:
    """Replace the table rows in place; the rest of plan.md is kept as it was."""
    rows = [
        render_row([p.phase, p.title, p.status, p.updated or _EMPTY, p.evidence or _EMPTY])
        for p in table.phases
    ]
    lines = table.lines[: table.header_index + 2] + rows + table.lines[table.end_index :]
    atomic_write_text(plan_path, "\n".join(lines))


def parse_phase_specs(specs: list[str] | None) -> list[tuple[str, str]]:
    """`--phase NAME:Title` options as (name, title) pairs; one default phase when none."""
    phases = []
    for spec in specs or ["A:Plan and first tests"]:
        name, sep, phase_title = spec.partition(":")
        if not sep or not name.strip() or not phase_title.strip():
            raise CommandError(f"--phase {spec!r}: expected 'NAME:Title', e.g. 'A:Data contract'")
        phases.append((name.strip(), phase_title.strip()))
    return phases


def new_initiative(
    root: Path, item_id: str, *, title: str, phases: list[tuple[str, str]], exit_criteria: str = ""
) -> Path:
    """Create plans/active/<ID>/plan.md (phase table) and test_strategy.md; returns the dir."""
    directory = initiative_dir(root, item_id)
    plan = directory / "plan.md"
    if plan.exists():
        raise CommandError(f"{plan} already exists")
    title = " ".join(title.split())
    if not title:
        raise CommandError("--title must not be empty")
    rows = [render_row([name, text, "pending", _EMPTY, _EMPTY]) for name, text in phases]
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
            render_row(PHASE_HEADER),
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


def ensure_initiative(
    root: Path, item_id: str, *, title: str, phases: list[tuple[str, str]], exit_criteria: str = ""
) -> str | None:
    """Create the item's working plan unless it exists; returns its path (None: it existed).

    `tools plan add` writes `- Working Plan: plans/active/<ID>/plan.md`, so the file it names
    exists from the start (lint's `missing-plan` never fires on a fresh item)."""
    directory = initiative_dir(root, item_id)
    if (directory / "plan.md").exists():
        return None
    new_initiative(root, item_id, title=title, phases=phases, exit_criteria=exit_criteria)
    return (directory / "plan.md").relative_to(root).as_posix()


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
        raise CommandError(
            f"invalid phase status {status!r}: expected one of {', '.join(PHASE_STATUSES)}"
        )
    phase = phase.strip()
    if not phase or "|" in phase:
        raise CommandError(f"invalid phase name {phase!r}")
    plan_path = initiative_dir(root, item_id) / "plan.md"
    table = read_phase_table(plan_path)
    today = utc_now().strftime("%Y-%m-%d")
    for row in table.phases:
        if row.phase == phase:
            break
    else:
        if title is None:
            known = ", ".join(p.phase for p in table.phases) or "none"
            raise CommandError(
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


def status_line(root: Path, item_id: str) -> str:
    """Render the status line of one initiative from its phase table and latest attempt."""
    from tools.attempt.store import latest_attempt  # pydantic: only when a line is rendered

    table = read_phase_table(initiative_dir(root, item_id) / "plan.md")
    attempt = latest_attempt(root, item_id)
    parts = [
        f"Phase {p.phase} COMPLETE ({p.updated})" for p in table.phases if p.status == "complete"
    ]
    # The phase being worked on: the first in progress or blocked, else the first pending one.
    current = next((p for p in table.phases if p.status in ("in_progress", "blocked")), None)
    current = current or next((p for p in table.phases if p.status != "complete"), None)
    if current is not None:
        text = f"Phase {current.phase} {current.status.upper()}"
        if attempt is not None:
            if attempt.status == "blocked" and attempt.blocker and attempt.blocker.signature:
                text += f" — {attempt.blocker.signature}"
            date = (attempt.finished_at or attempt.started_at)[:10]
            text += f" (Attempt #{attempt.number}, {date or 'undated'})"
        parts.append(text)
    line = " · ".join(parts) or "no phases"
    if attempt is not None and attempt.next:
        line += f" → next: {attempt.next}"
    return line


def status_lines(root: Path) -> dict[str, str]:
    """One status line per active initiative."""
    return {item_id: status_line(root, item_id) for item_id in active_initiatives(root)}
