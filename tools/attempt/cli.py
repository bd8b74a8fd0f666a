"""`tools attempt ...`: thin Typer commands over the `tools.attempt` modules (imported inside each
command so `tools --help` does not pay for pydantic, Jinja or GitPython)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.output import EXIT_FAILED, JsonFlag, emit, reporting
from tools.common.vocabulary import ArtifactFolder, FinishStatus, Mode, RunKind

attempt_app = typer.Typer(
    name="attempt",
    help="Open an attempt hub, capture RED/GREEN/CLI runs and artifacts, finish with a summary.",
    no_args_is_help=True,
)

NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Log name (<kind>/<name>.log); default <kind>-<n>."),
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
    as_json: JsonFlag = False,
) -> None:
    """Open the next attempt of ITEM_ID, create its hub and make it the current attempt."""
    from tools.attempt.lifecycle import start

    with reporting(as_json):
        record = start(root=_root(), item_id=item_id, focus=focus, mode=mode, slug=slug)
    emit(ok=True, data=_dump(record), as_json=as_json, text=record.hub)


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
    as_json: JsonFlag = False,
) -> None:
    """Run a command, tee it into the hub and record its verdict (exit 1 if not as asked)."""
    from tools.attempt.capture import default_echo, run

    with reporting(as_json):
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
    emit(
        ok=entry.valid,
        data=_dump(entry),
        error=None if entry.valid else entry.verdict,
        as_json=as_json,
        text=text,
    )


@attempt_app.command("collect")
def collect_cmd(
    command: Annotated[list[str], typer.Argument(help="pytest SELECTOR ..., after `--`.")],
    name: NameOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove a selector collects tests (`--collect-only -q`); 0 collected fails (exit 1)."""
    from tools.attempt.capture import collect, default_echo

    with reporting(as_json):
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
    as_json: JsonFlag = False,
) -> None:
    """Copy files into the current hub and record their sizes and SHA-256."""
    from tools.attempt.artifacts import artifact

    with reporting(as_json):
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
    as_json: JsonFlag = False,
) -> None:
    """Record a blocker for the current attempt."""
    from tools.attempt.lifecycle import block

    with reporting(as_json):
        blocker = block(
            root=_root(), signature=signature, root_cause=root_cause, fixes=fix, evidence=evidence
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
    as_json: JsonFlag = False,
) -> None:
    """Close the current attempt, render summary.md and append the ledger entry."""
    from tools.attempt.lifecycle import finish

    with reporting(as_json):
        result = finish(root=_root(), status=status, next_step=next_step)
    record = result.record
    data = {
        "record": _dump(record),
        "summary": str(result.summary),
        "ledger_appended": record.ledger_appended,
        "ledger_note": result.ledger_note,
    }
    text = f"{record.status}: {result.summary}"
    if result.ledger_note:
        text += f"\nledger not updated: {result.ledger_note}"
    emit(ok=True, data=data, as_json=as_json, text=text)


@attempt_app.command("show")
def show_cmd(
    item_id: Annotated[
        str | None, typer.Argument(help="Item ID; default: the current attempt.")
    ] = None,
    number: Annotated[
        int | None, typer.Option("--number", help="Attempt number; default the latest.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show an attempt record."""
    from tools.attempt.queries import show

    with reporting(as_json):
        record = show(root=_root(), item_id=item_id, number=number)
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
    """List attempts (number, status, focus, hub)."""
    from tools.attempt.queries import list_records

    with reporting(as_json):
        records = list_records(root=_root(), item_id=item_id)
    text = "\n".join(
        f"{r.item_id} #{r.number} {r.status:8} {r.started_at} {r.focus} -> {r.hub}" for r in records
    )
    data = [
        {k: _dump(r)[k] for k in ("item_id", "number", "status", "focus", "mode", "hub")}
        for r in records
    ]
    emit(ok=True, data=data, as_json=as_json, text=text or "no attempts")


@attempt_app.command("verify")
def verify_cmd(
    item_id: Annotated[str | None, typer.Argument(help="Item ID; default: all items.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every recorded hash; exit 1 if a log or artifact was edited or removed."""
    from tools.attempt.queries import verify

    with reporting(as_json):
        checked, problems = verify(root=_root(), item_id=item_id)
    data = {"checked": checked, "problems": [p.as_dict() for p in problems]}
    if problems:
        lines = [f"{p.problem}: {p.hub}/{p.path}" for p in problems]
        emit(
            ok=False,
            data=data,
            error=f"{len(problems)} of {checked} recorded file(s) changed or missing",
            as_json=as_json,
            text="\n".join(lines),
            exit_code=EXIT_FAILED,
        )
    emit(ok=True, data=data, as_json=as_json, text=f"ok: {checked} file(s) match their hashes")
