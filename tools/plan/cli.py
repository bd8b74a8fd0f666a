"""Verbs over the ledger, initiatives and gates (`register(app)`).

`plan` (`claim` / `release`: `claims_cli.py`), `status`, `initiative`, `phase`, `status-line`,
`readiness`. Each command parses its options, calls one library function and reports through
`tools.common.output`; library modules are imported inside the commands so `tools --help` stays
fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.layout import ledger_path
from tools.common.output import CommandError, JsonFlag, emit, emit_problems, reporting
from tools.plan import claims_cli


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


def _edit_ledger(root: Path, edit: Callable[[Any], Any]) -> Any:
    """Load, edit and atomically save the ledger under the repo lock (no lost updates)."""
    from tools.common.fsutil import iso_utc, repo_lock
    from tools.plan.ledger import Ledger

    with repo_lock(root):
        path = ledger_path(root)
        ledger = Ledger.load(path) if path.exists() else Ledger("", path)
        result = edit(ledger)
        ledger.stamp_last_updated(iso_utc())
        ledger.save()
    return result


# -- plan --------------------------------------------------------------------------------------
plan_app = typer.Typer(
    help="Read and edit the ledger (fix_plan.md). Environment: TOOLS_AGENT names the agent "
    "that `plan next` and `plan claim` act for (default: this working tree's agent).",
    no_args_is_help=True,
)
plan_app.command("claim")(claims_cli.claim_cmd)
plan_app.command("release")(claims_cli.release_cmd)


@plan_app.command("next")
def plan_next(as_json: JsonFlag = False) -> None:
    """Print the item to work on next: highest priority, dependencies done, not blocked/done.

    Items another agent holds (a live claim, an open attempt) are skipped; you are $TOOLS_AGENT.
    """

    with reporting(as_json):
        from tools.plan.claims import default_owner, next_unclaimed, taken_by_others
        from tools.plan.ledger import Ledger

        root = _root()
        ledger = Ledger.load(ledger_path(root))
        item = next_unclaimed(ledger, taken_by_others(root, default_owner()))
        if item is None:
            emit(ok=True, data=None, as_json=as_json, text="no actionable item")
        summary = item.summary()
        text = f"[{item.item_id}] {item.title} (priority {summary['priority']}, {item.status})"
        emit(ok=True, data=summary, as_json=as_json, text=text)


@plan_app.command("show")
def plan_show(
    item_id: Annotated[str, typer.Argument(help="Ledger item ID, e.g. TRAIN-001.")],
    as_json: JsonFlag = False,
) -> None:
    """Print one item's section exactly as it stands in the ledger."""

    with reporting(as_json):
        from tools.common.fsutil import validate_item_id
        from tools.plan.ledger import Ledger

        ledger = Ledger.load(ledger_path(_root()))
        item = ledger.find(validate_item_id(item_id))
        data = item.summary()
        data["text"] = "".join(ledger.lines[item.start : item.end])
        emit(ok=True, data=data, as_json=as_json, text=data["text"])


@plan_app.command("add")
def plan_add(
    item_id: Annotated[str, typer.Argument(help="New item ID ([A-Z0-9-]+), e.g. TRAIN-002.")],
    title: Annotated[str, typer.Option("--title", help="One-line title of the item.")],
    depends: Annotated[
        list[str] | None, typer.Option("--depends", help="An item this one depends on (repeat).")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Integer priority, lower first.")] = 3,
    status: Annotated[str, typer.Option("--status", help="Initial status.")] = "pending",
    exit_criteria: Annotated[
        str, typer.Option("--exit-criteria", help="When the item is done, in one line.")
    ] = "",
    phase: Annotated[
        list[str] | None,
        typer.Option("--phase", help="A phase of its working plan as 'NAME:Title' (repeat)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Append a new item to the ledger and create the working plan it names.

    The plan is plans/active/<ID>/plan.md with a phase table; an existing plan is kept.
    """

    with reporting(as_json):
        from tools.plan.initiatives import ensure_initiative, parse_phase_specs

        phases = parse_phase_specs(phase)
        root = _root()

        def add(ledger: Any) -> str | None:
            ledger.add_item(
                item_id,
                title,
                depends=depends or [],
                priority=priority,
                status=status,
                exit_criteria=exit_criteria,
            )
            return ensure_initiative(
                root, item_id, title=title, phases=phases, exit_criteria=exit_criteria
            )

        created = _edit_ledger(root, add)
        text = f"added [{item_id}]" + (f"; created {created}" if created else "")
        emit(ok=True, data={"id": item_id, "plan": created}, as_json=as_json, text=text)


@plan_app.command("set")
def plan_set(
    item_id: Annotated[str, typer.Argument(help="Ledger item ID.")],
    status: Annotated[
        str, typer.Option("--status", help="pending, in_progress, blocked, done or archived.")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write `done` without a verified complete attempt; the line then carries "
            "[UNVERIFIED: ...] and `plan lint` warns about it.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set an item's status (rewrites only its Status line, keeping its trailing text).

    `done` is refused (exit 1) unless the item has a complete attempt that verifies.
    """

    with reporting(as_json):
        from tools.plan.verified import set_status

        root = _root()
        claim = _edit_ledger(
            root, lambda ledger: set_status(root, ledger, item_id, status, force=force)
        )
        text = f"[{item_id}] status {status}"
        if claim.unverified:
            text += f" (UNVERIFIED: {claim.unverified})"
        emit(ok=True, data=claim.as_dict(), as_json=as_json, text=text)


@plan_app.command("lint")
def plan_lint(
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Ledger size above which archiving is suggested.")
    ] = 200_000,
    as_json: JsonFlag = False,
) -> None:
    """Check the ledger: statuses, dependencies, cycles, duplicates, attempt order, paths, size."""

    with reporting(as_json):
        from tools.plan.ledger import Ledger

        root = _root()
        path = ledger_path(root)
        emit_problems(
            Ledger.load(path).lint(root, max_bytes=max_bytes),
            as_json=as_json,
            line=lambda p: (
                f"{path.relative_to(root).as_posix()}:{p.line}: {p.severity}: {p.message}"
            ),
            failing=lambda p: p.severity == "error",
            noun="lint error(s)",
            clean="ledger ok",
        )


@plan_app.command("archive")
def plan_archive(
    keep: Annotated[int, typer.Option("--keep", help="Attempt entries to keep per item.")] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Move old attempt entries to docs/archive/<date>_fix_plan_archive.md, leaving a pointer."""

    with reporting(as_json):
        from ptycho_nl.io_utils import atomic_write_text
        from tools.common.fsutil import repo_lock, utc_now
        from tools.plan.archive import archive_attempts
        from tools.plan.ledger import Ledger

        root = _root()
        rel = f"docs/archive/{utc_now():%Y-%m-%d}_fix_plan_archive.md"
        with repo_lock(root):
            ledger = Ledger.load(ledger_path(root))
            blocks, moved = archive_attempts(ledger, keep=keep, archive_rel=rel)
            if moved:
                target = root / rel
                old = target.read_text(encoding="utf-8") if target.exists() else "# Archive\n"
                atomic_write_text(target, old.rstrip("\n") + "\n\n" + "\n".join(blocks))
                ledger.save()
        data = {"moved": moved, "archive": rel if moved else None}
        emit(ok=True, data=data, as_json=as_json, text=f"moved {moved} attempt entries to {rel}")


# -- initiatives and phases --------------------------------------------------------------------
initiative_app = typer.Typer(help="Initiatives under plans/active/<ID>/.", no_args_is_help=True)
phase_app = typer.Typer(help="Phase tables of initiatives.", no_args_is_help=True)


@initiative_app.command("new")
def initiative_new(
    item_id: Annotated[str, typer.Argument(help="Initiative (ledger item) ID.")],
    title: Annotated[str, typer.Option("--title", help="One-line title.")],
    phase: Annotated[
        list[str] | None,
        typer.Option("--phase", help="A phase as 'NAME:Title' (repeat, in order)."),
    ] = None,
    exit_criteria: Annotated[
        str, typer.Option("--exit-criteria", help="When the initiative is done, in one line.")
    ] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create plans/active/<ID>/plan.md (with a phase table) and test_strategy.md."""

    with reporting(as_json):
        from tools.common.fsutil import repo_lock
        from tools.plan.initiatives import new_initiative, parse_phase_specs

        phases = parse_phase_specs(phase)
        root = _root()
        with repo_lock(root):
            directory = new_initiative(
                root, item_id, title=title, phases=phases, exit_criteria=exit_criteria
            )
        rel = directory.relative_to(root).as_posix()
        emit(ok=True, data={"id": item_id, "dir": rel}, as_json=as_json, text=f"created {rel}")


@phase_app.command("set")
def phase_set(
    item_id: Annotated[str, typer.Argument(help="Initiative ID.")],
    phase: Annotated[str, typer.Argument(help="Phase name as in the table, e.g. C or E6.")],
    status: Annotated[
        str, typer.Option("--status", help="pending, in_progress, blocked or complete.")
    ],
    evidence: Annotated[
        str | None,
        typer.Option(
            "--evidence",
            help="Number of a complete attempt that verifies (refused otherwise, exit 1).",
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Phase title (adds the phase if it is new).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Cite an unverified attempt; the cell then carries [UNVERIFIED: ...]."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Update one row of an initiative's phase table."""

    with reporting(as_json):
        from tools.common.fsutil import repo_lock, validate_item_id
        from tools.plan.initiatives import set_phase
        from tools.plan.verified import phase_evidence

        root = _root()
        validate_item_id(item_id)
        with repo_lock(root):
            cell = None
            if evidence is not None:
                cell = phase_evidence(root, item_id, evidence, force=force)
            row = set_phase(root, item_id, phase, status=status, evidence=cell, title=title)
        data = {"id": item_id, **row.__dict__}
        emit(ok=True, data=data, as_json=as_json, text=f"{item_id} phase {phase}: {status}")


def status_line_cmd(
    item_id: Annotated[str | None, typer.Argument(help="Initiative ID (omit with --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="One line per active initiative.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Render status lines from phase tables and the latest attempt records."""

    with reporting(as_json):
        from tools.plan.initiatives import status_line, status_lines

        root = _root()
        if all_ == (item_id is not None):
            raise CommandError("give an initiative ID or --all (not both)")
        lines = status_lines(root) if all_ else {item_id: status_line(root, item_id)}
        text = "\n".join(f"{key}: {value}" for key, value in lines.items())
        emit(ok=True, data=lines, as_json=as_json, text=text or "no active initiatives")


def status_cmd(as_json: JsonFlag = False) -> None:
    """A table of ledger items: status, priority, dependencies, last attempt."""

    with reporting(as_json):
        from tools.plan.ledger import Ledger

        ledger = Ledger.load(ledger_path(_root()))
        rows = [item.summary() for item in ledger.items]
        if as_json:
            emit(ok=True, data=rows, as_json=True)
        from rich.console import Console
        from rich.table import Table

        table = Table("ID", "Title", "Status", "Priority", "Depends", "Last attempt")
        for row in rows:
            last = row["last_attempt"]
            table.add_row(
                row["id"],
                row["title"],
                row["status"] or f"? {row['status_text']}",
                str(row["priority"]),
                ", ".join(row["depends"]) or "—",
                f"#{last['number']} {last['timestamp'] or ''}".strip() if last else "—",
            )
        Console(width=120).print(table)
        raise typer.Exit(0)


# -- readiness (`tools gate` lives in tools/gates/cli.py) ----------------------------------
def readiness_cmd(
    stage: Annotated[
        str | None,
        typer.Argument(help="A stage of specs/gates/readiness_<STAGE>.toml: run its checks now."),
    ] = None,
    no_gates: Annotated[
        bool, typer.Option("--no-gates", help="Skip running gates (they count as not passing).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Per active item: do its gates pass; is its latest attempt complete with valid GREEN?
    With STAGE: the stage's readiness report from checks that run now (tools/gates)."""
    if stage is not None:
        from tools.gates.cli import readiness_stage

        readiness_stage(stage, as_json)
    with reporting(as_json):
        from tools.plan.gates import readiness

        reports = readiness(_root(), run_gates=not no_gates)
        text = "\n".join(
            f"{r.item_id}: {'ready' if r.ready else 'not ready — ' + '; '.join(r.reasons)}"
            for r in reports
        )
        not_ready = [r.item_id for r in reports if not r.ready]
        emit(
            ok=not not_ready,
            data=[r.as_dict() for r in reports],
            error=f"not ready: {', '.join(not_ready)}" if not_ready else None,
            as_json=as_json,
            text=text or "no active items",
        )


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the root `tools` app."""
    app.add_typer(plan_app, name="plan")
    app.add_typer(initiative_app, name="initiative")
    app.add_typer(phase_app, name="phase")
    app.command("status-line")(status_line_cmd)
    app.command("status")(status_cmd)
    app.command("readiness")(readiness_cmd)
