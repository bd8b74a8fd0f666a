"""Verbs over the ledger, initiatives and gates (`register(app)`).

`plan`, `status`, `initiative`, `phase`, `status-line`, `gate`, `readiness`. Each command parses
its options, calls one library function and reports through `tools.common.output`; library modules
are imported inside the commands so `tools --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.layout import LEDGER_NAME, ledger_path
from tools.common.output import CommandError, JsonFlag, emit, emit_problems, reporting


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
plan_app = typer.Typer(help="Read and edit the ledger (fix_plan.md).", no_args_is_help=True)


@plan_app.command("next")
def plan_next(as_json: JsonFlag = False) -> None:
    """Print the item to work on next: highest priority, dependencies done, not blocked/done."""

    with reporting(as_json):
        from tools.plan.ledger import Ledger

        ledger = Ledger.load(ledger_path(_root()))
        item = ledger.next_item()
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
    as_json: JsonFlag = False,
) -> None:
    """Append a new item section to the ledger."""

    with reporting(as_json):
        root = _root()
        _edit_ledger(
            root,
            lambda ledger: ledger.add_item(
                item_id,
                title,
                depends=depends or [],
                priority=priority,
                status=status,
                exit_criteria=exit_criteria,
            ),
        )
        emit(ok=True, data={"id": item_id}, as_json=as_json, text=f"added [{item_id}]")


@plan_app.command("set")
def plan_set(
    item_id: Annotated[str, typer.Argument(help="Ledger item ID.")],
    status: Annotated[
        str, typer.Option("--status", help="pending, in_progress, blocked, done or archived.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Set an item's status (rewrites only its Status line)."""

    with reporting(as_json):
        from tools.common.fsutil import validate_item_id

        validate_item_id(item_id)
        line = _edit_ledger(_root(), lambda ledger: ledger.set_status(item_id, status))
        data = {"id": item_id, "status": status, "line": line + 1}
        emit(ok=True, data=data, as_json=as_json, text=f"[{item_id}] status {status}")


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
            line=lambda p: f"{LEDGER_NAME}:{p.line}: {p.severity}: {p.message}",
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
        from tools.plan.initiatives import new_initiative

        phases = []
        for spec in phase or ["A:Plan and first tests"]:
            name, sep, phase_title = spec.partition(":")
            if not sep or not name.strip() or not phase_title.strip():
                raise CommandError(
                    f"--phase {spec!r}: expected 'NAME:Title', e.g. 'A:Data contract'"
                )
            phases.append((name.strip(), phase_title.strip()))
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
        str | None, typer.Option("--evidence", help="Attempt number that evidences this.")
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Phase title (adds the phase if it is new).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Update one row of an initiative's phase table."""

    with reporting(as_json):
        from tools.common.fsutil import repo_lock
        from tools.plan.initiatives import set_phase

        root = _root()
        with repo_lock(root):
            row = set_phase(root, item_id, phase, status=status, evidence=evidence, title=title)
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


# -- gates -------------------------------------------------------------------------------------
def gate_cmd(
    name: Annotated[str, typer.Argument(help="Gate name from plans/gates.json.")],
    as_json: JsonFlag = False,
) -> None:
    """Run a named gate: its pytest selection must collect enough tests and pass."""

    with reporting(as_json):
        from tools.plan.gates import load_gates, run_gate

        root = _root()
        gates = load_gates(root)
        if name not in gates:
            raise CommandError(f"no gate {name!r} in plans/gates.json (known: {', '.join(gates)})")
        result = run_gate(root, name, gates[name])
        text = (
            f"gate {name}: {'ok' if result.ok else 'failed'} — collected {result.collected}, "
            f"passed {result.passed}, failed {result.failed}, errors {result.errors} "
            f"({result.reason})"
        )
        emit(
            ok=result.ok,
            data=result.as_dict(),
            error=None if result.ok else f"gate {name} failed: {result.reason}",
            as_json=as_json,
            text=text,
        )


def readiness_cmd(
    no_gates: Annotated[
        bool, typer.Option("--no-gates", help="Skip running gates (they count as not passing).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Per active item: do its gates pass; is its latest attempt complete with valid GREEN?"""

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
    app.command("gate")(gate_cmd)
    app.command("readiness")(readiness_cmd)
