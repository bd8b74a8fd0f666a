"""`tools attempt ...`: thin Typer commands over the `tools.attempt` modules (imported inside each
command so `tools --help` does not pay for pydantic, Jinja or GitPython)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting
from tools.common.vocabulary import ArtifactFolder, FinishStatus, Mode, RunKind

attempt_app = typer.Typer(
    name="attempt",
    help=(
        "Open an attempt hub, capture RED/GREEN/CLI runs and artifacts, finish with a summary."
        "\n\nEach verb acts on the caller's current attempt, or on --attempt ID#N|HUB. "
        "Environment: TOOLS_AGENT=NAME gives each agent in one repository its own current "
        "attempt (plans/active/.agents/NAME.json; without it, one per working tree); "
        "TOOLS_ATTEMPT=ID#N|HUB selects the attempt like --attempt; TOOLS_ROOT sets the "
        "repository root."
    ),
    no_args_is_help=True,
)

NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Log name (<kind>/<name>.log); default <kind>-<n>."),
]


AttemptOpt = Annotated[
    str | None,
    typer.Option(
        "--attempt",
        metavar="ID#N|HUB",
        help="The attempt to act on, e.g. CORE-001#2 or its hub path; default: your current "
        "attempt ($TOOLS_AGENT's pointer, or this working tree's). Same as $TOOLS_ATTEMPT.",
    ),
]
SwitchOpt = Annotated[
    bool,
    typer.Option(
        "--switch",
        help="Leave your open attempt open (resume it later) instead of being refused.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `attempt` group to the root `tools` app."""
    app.add_typer(attempt_app, name="attempt")


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


@attempt_app.command("start")
def start_cmd(
    item_id: Annotated[str, typer.Argument(help="Ledger or initiative ID, e.g. TRAIN-001.")],
    focus: Annotated[str, typer.Option("--focus", help="What this attempt works on, one line.")],
    mode: Annotated[
        Mode, typer.Option("--mode", help="Working mode; TDD requires RED before GREEN.")
    ] = "TDD",
    slug: Annotated[
        str | None,
        typer.Option(
            "--slug",
            help="Hub folder name (letters, digits, dashes); default: the focus's first five "
            "words, e.g. 'fix-the-crlf-ledger-parser'.",
        ),
    ] = None,
    switch: SwitchOpt = False,
    as_json: JsonFlag = False,
) -> None:
    """Open the next attempt of ITEM_ID, create its hub and make it your current attempt.

    Prints the attempt id (ID#N, for --attempt) and the hub.

    Refused (exit 1) while you have another attempt open: finish or abandon it, or --switch.
    """
    from tools.attempt.lifecycle import start
    from tools.attempt.store import attempt_id

    with reporting(as_json):
        record = start(
            root=_root(), item_id=item_id, focus=focus, mode=mode, slug=slug, switch=switch
        )
    data = {**_dump(record), "attempt_id": attempt_id(record)}
    emit(ok=True, data=data, as_json=as_json, text=f"{attempt_id(record)} {record.hub}")


@attempt_app.command("run")
def run_cmd(
    kind: Annotated[RunKind, typer.Argument(help="red, green or cli.")],
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    name: NameOpt = None,
    shell: Annotated[
        bool, typer.Option("--shell", help="Run the command through /bin/sh (pipes, globs).")
    ] = False,
    expect_exit: Annotated[
        int, typer.Option("--expect-exit", help="For cli runs: the exit code that counts as ok.")
    ] = 0,
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a command, tee it into the hub and record its verdict (exit 1 if not as asked)."""
    from tools.attempt.capture import default_echo, run
    from tools.attempt.store import attempt_env

    with reporting(as_json), attempt_env(attempt):
        result = run(
            root=_root(),
            kind=kind,
            argv=command,
            name=name,
            shell=shell,
            expected_exit=expect_exit,
            echo=default_echo(as_json),
        )
    entry = result.run
    text = f"{entry.kind} {'valid' if entry.valid else 'INVALID'}: {entry.verdict} ({entry.log})"
    if entry.kind in ("red", "green") and entry.git is not None and entry.git.tree is None:
        # Said at once: without the tree hash this run cannot pair a RED with its GREEN, and
        # `attempt finish --status complete` would refuse only at the end.
        text += "\nwarning: the tested source tree could not be hashed (git); this run cannot "
        text += "bind a RED to a GREEN"
    emit(
        ok=entry.valid,
        data=_dump(entry),
        error=None if entry.valid else entry.verdict + _refusal_hint(entry.verdict),
        as_json=as_json,
        text=text,
    )


def _refusal_hint(verdict: str) -> str:
    """What would count, for a refused RED (said here, not in the stored verdict, which
    `attempt verify` re-derives from the log and compares byte for byte)."""
    if verdict.startswith("invalid RED: failures are not assertions"):
        # An uncaught exception may be a typo or a crash: the behaviour must be an assert.
        return (
            "; assert the expected behaviour instead (pytest.raises, or warnings recorded and "
            "asserted empty)"
        )
    return ""


@attempt_app.command("collect")
def collect_cmd(
    command: Annotated[list[str], typer.Argument(help="pytest SELECTOR ..., after `--`.")],
    name: NameOpt = None,
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove a selector collects tests (`--collect-only -q`); 0 collected fails (exit 1)."""
    from tools.attempt.capture import collect, default_echo
    from tools.attempt.store import attempt_env

    with reporting(as_json), attempt_env(attempt):
        result = collect(root=_root(), argv=command, name=name, echo=default_echo(as_json))
    entry = result.collection
    emit(
        ok=entry.valid,
        data=_dump(entry),
        error=None if entry.valid else entry.verdict,
        as_json=as_json,
        text=f"collect {'valid' if entry.valid else 'INVALID'}: {entry.verdict} ({entry.log})",
    )


@attempt_app.command("artifact")
def artifact_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files to copy into the hub.")],
    into: Annotated[
        ArtifactFolder, typer.Option("--into", help="Hub folder to copy into.")
    ] = "data",
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Copy files into the current hub and record their sizes and SHA-256."""
    from tools.attempt.artifacts import artifact
    from tools.attempt.store import attempt_env

    with reporting(as_json), attempt_env(attempt):
        added = artifact(root=_root(), paths=paths, into=into)
    text = "\n".join(f"{item.path}  {item.size} B  {item.sha256}" for item in added)
    emit(ok=True, data=[_dump(item) for item in added], as_json=as_json, text=text)


@attempt_app.command("block")
def block_cmd(
    root_cause: Annotated[str, typer.Option("--root-cause", help="Why it fails, one line.")],
    fix: Annotated[list[str], typer.Option("--fix", help="A candidate fix; repeat for several.")],
    signature: Annotated[
        str | None,
        typer.Option("--signature", help="The error signature, e.g. \"KeyError: 'diff3d'\"."),
    ] = None,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence", help="A captured log in the hub; the signature can come from it."
        ),
    ] = None,
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a blocker for the current attempt."""
    from tools.attempt.lifecycle import block

    with reporting(as_json):
        blocker = block(
            root=_root(),
            signature=signature,
            root_cause=root_cause,
            fixes=fix,
            evidence=evidence,
            attempt=attempt,
        )
    emit(ok=True, data=_dump(blocker), as_json=as_json, text=f"blocker: {blocker.signature}")


@attempt_app.command("finish")
def finish_cmd(
    status: Annotated[
        FinishStatus,
        typer.Option("--status", help="complete needs a valid GREEN (and RED first in TDD mode)."),
    ] = "complete",
    next_step: Annotated[
        str | None, typer.Option("--next", help="The next action, one line.")
    ] = None,
    phase: Annotated[
        str | None,
        typer.Option(
            "--phase",
            help="The initiative phase this attempt worked on: its row becomes complete "
            "(blocked / in_progress for those results) with Evidence 'Attempt #N'.",
        ),
    ] = None,
    closes: Annotated[
        bool,
        typer.Option(
            "--closes",
            help="The attempt meets the item's exit criteria: its ledger Status becomes done "
            "(needs --status complete).",
        ),
    ] = False,
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Close the attempt: summary.md, the ledger entry, the item's Status and phase row.

    The Status and the --phase row follow the lifecycle rule of specs/fix_plan_format.md.

    What the rule cannot apply is printed as the exact command to run.
    """
    from tools.attempt.lifecycle import finish

    with reporting(as_json):
        result = finish(
            root=_root(),
            status=status,
            next_step=next_step,
            attempt=attempt,
            phase=phase,
            closes=closes,
        )
    _emit_closed(result, as_json)


def _hint_line(hint: str) -> str:
    """A command `finish` did not run. A phase row is the agent's call: one complete attempt
    need not finish its phase, so the line says when the command applies."""
    if hint.startswith("tools phase set "):
        return f"phase row not updated; if this attempt finished that phase, run: {hint}"
    return f"not updated, run: {hint}"


def _emit_closed(result: Any, as_json: bool) -> None:
    """The report of `finish` and `abandon`."""
    record = result.record
    data = {
        "record": _dump(record),
        "summary": str(result.summary),
        "ledger_appended": record.ledger_appended,
        "ledger_note": result.ledger_note,
        "changes": result.changes,
        "hints": result.hints,
    }
    text = f"{record.status}: {result.summary}"
    if result.ledger_note:
        text += f"\nledger not updated: {result.ledger_note}"
    text += "".join(f"\nupdated {change}" for change in result.changes)
    text += "".join(f"\n{_hint_line(hint)}" for hint in result.hints)
    emit(ok=True, data=data, as_json=as_json, text=text)


@attempt_app.command("resume")
def resume_cmd(
    attempt: Annotated[
        str, typer.Argument(metavar="ID#N|HUB", help="An open attempt, e.g. CORE-001#2.")
    ],
    switch: SwitchOpt = False,
    take: Annotated[
        bool,
        typer.Option("--take", help="Take it over from the agent whose pointer holds it."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Make an open attempt your current attempt again (e.g. in a new session)."""
    from tools.attempt.lifecycle import resume
    from tools.attempt.store import attempt_id

    with reporting(as_json):
        record = resume(root=_root(), attempt=attempt, switch=switch, take=take)
    data = {**_dump(record), "attempt_id": attempt_id(record)}
    emit(ok=True, data=data, as_json=as_json, text=f"{attempt_id(record)} {record.hub}")


@attempt_app.command("abandon")
def abandon_cmd(
    reason: Annotated[str, typer.Option("--reason", help="Why it is given up, one line.")],
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Close an open attempt as abandoned (summary.md and ledger entry; no Status change)."""
    from tools.attempt.lifecycle import abandon

    with reporting(as_json):
        result = abandon(root=_root(), reason=reason, attempt=attempt)
    _emit_closed(result, as_json)


@attempt_app.command("show")
def show_cmd(
    item_id: Annotated[
        str | None, typer.Argument(help="Item ID; default: the current attempt.")
    ] = None,
    number: Annotated[
        int | None, typer.Option("--number", help="Attempt number; default the latest.")
    ] = None,
    attempt: AttemptOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Show an attempt record."""
    from tools.attempt.queries import show

    with reporting(as_json):
        record = show(root=_root(), item_id=item_id, number=number, attempt=attempt)
    lines = [
        f"{record.item_id} #{record.number} [{record.status}] {record.focus} ({record.mode})",
        f"hub: {record.hub}",
        *(f"  {run.kind:5} {run.name}: {run.verdict}" for run in record.runs),
        *(f"  collect {item.name}: {item.verdict}" for item in record.collections),
        *(f"  artifact {item.path} {item.sha256[:12]}" for item in record.artifacts),
    ]
    emit(ok=True, data=_dump(record), as_json=as_json, text="\n".join(lines))


@attempt_app.command("list")
def list_cmd(
    item_id: Annotated[str | None, typer.Argument(help="Item ID; default: all items.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List attempts (number, status, focus, hub, and which agents' pointers hold open ones)."""
    from tools.attempt.queries import held_by, list_records

    with reporting(as_json):
        root = _root()
        records = list_records(root=root, item_id=item_id)
        holders = held_by(root)
    text = "\n".join(
        f"{r.item_id} #{r.number} {r.status:8} {r.started_at} {r.focus} -> {r.hub}"
        + (f" [held by {', '.join(holders[r.hub])}]" if r.hub in holders else "")
        for r in records
    )
    data = [
        {k: _dump(r)[k] for k in ("item_id", "number", "status", "focus", "mode", "hub")}
        | {"held_by": holders.get(r.hub, [])}
        for r in records
    ]
    emit(ok=True, data=data, as_json=as_json, text=text or "no attempts")


@attempt_app.command("verify")
def verify_cmd(
    item_id: Annotated[str | None, typer.Argument(help="Item ID; default: all items.")] = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="Every hub of every item (the default without ITEM_ID).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Verify the records, not only bytes: seal, hashes, verdicts and counts re-derived from the
    stored JUnit/probe/log, times, summary.md; a hub without attempt.json fails (exit 1)."""
    from tools.attempt.verify import report_verification, verify_repository

    with reporting(as_json):
        if all_items and item_id:
            raise CommandError("give ITEM_ID or --all, not both")
        report = verify_repository(_root(), item_id=item_id, ledger=False)
    report_verification(report, as_json=as_json)
