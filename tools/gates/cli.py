"""`tools gate`: run or add a pytest gate; run the post-training gate or a reproduction on a
training run directory (`register(app)`).

Library modules, `ptycho_nl.gates` among them, are imported inside the commands so `tools`
starts without torch. Exit codes: 0 the gate passed, 1 it failed (or its target is not there),
2 usage errors.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting
from tools.gates.data_cli import gate_data

gate_app = typer.Typer(
    help="Gates: pytest selections (plans/gates.json) and checklists on run directories "
    "(specs/gates.md). Exit 0 only when every mandatory item passes.",
    no_args_is_help=True,
)


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


@gate_app.command("run")
def gate_run(
    name: Annotated[str, typer.Argument(help="Gate name from plans/gates.json.")],
    as_json: JsonFlag = False,
) -> None:
    """Run a named pytest gate: its selection must collect enough tests and pass."""
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


@gate_app.command("add")
def gate_add(
    name: Annotated[str, typer.Argument(help="New gate name (letters, digits, _ - .).")],
    pytest_args: Annotated[
        str,
        typer.Option(
            "--pytest-args", help='Arguments after `pytest`, shell-quoted: "-k training_cli".'
        ),
    ],
    min_collected: Annotated[
        int, typer.Option("--min-collected", help="Tests the selection must collect.")
    ] = 1,
    items: Annotated[
        list[str] | None, typer.Option("--item", help="Ledger item the gate guards (repeat).")
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Limit for each pytest subprocess, seconds.")
    ] = 600.0,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a gate of that name.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add a pytest gate to plans/gates.json (validated, atomic, under the repository lock)."""
    with reporting(as_json):
        from tools.common.fsutil import validate_item_id
        from tools.gates.pytest_gates import add_gate, make_gate

        try:
            argv = shlex.split(pytest_args)
        except ValueError as exc:
            raise CommandError(f"--pytest-args: cannot split {pytest_args!r} ({exc})") from None
        for item in items or []:
            validate_item_id(item)
        gate = make_gate(
            argv, min_collected=min_collected, items=list(items or []), timeout_s=timeout_s
        )
        path = add_gate(_root(), name, gate, replace=replace)
        emit(
            ok=True,
            data={"name": name, "path": str(path), **gate.model_dump()},
            as_json=as_json,
            text=f"gate {name} written to {path}: pytest {shlex.join(argv)}",
        )


@gate_app.command("post-training")
def gate_post_training(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    gate_file: Annotated[
        Path | None,
        typer.Option(
            "--gate", help="Gate definition TOML (default specs/gates/post_training.toml)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Judge a finished training run item by item; write gate_report.md/.json into it.

    Attach the result to the current attempt: `tools attempt artifact RUN_DIR/gate_report.json`.
    """
    with reporting(as_json):
        from ptycho_nl.gates.model import GateError

        try:
            from ptycho_nl.gates.definitions import load_definition
            from ptycho_nl.gates.post_training import CHECKS, post_training_gate
            from ptycho_nl.gates.render import table_text, write_report

            definition = load_definition(gate_file, CHECKS) if gate_file else None
            report = post_training_gate(run_dir, definition)
            written = write_report(report, run_dir)
        except GateError as exc:
            raise CommandError(str(exc), exit_code=1) from None
        failing = report.failing(mandatory_only=True)
        emit(
            ok=report.passed,
            data={
                **report.model_dump(mode="json"),
                "written": {k: str(v) for k, v in written.items()},
            },
            error=None if report.passed else f"gate {report.gate} failed: {', '.join(failing)}",
            as_json=as_json,
            text=table_text(report) + f"\nwritten: {written['markdown']}, {written['json']}",
        )


@gate_app.command("reproduce")
def gate_reproduce(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Compare only the first K epochs (a shorter rerun)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-train from the run's own config and seed in a fresh directory and compare the loss
    trajectories: bit-identical on CPU, within the stated tolerance on CUDA."""
    with reporting(as_json):
        from ptycho_nl.gates.model import GateError

        try:
            from ptycho_nl.gates.reproduce import reproduce_run

            result = reproduce_run(run_dir, epochs=epochs)
        except GateError as exc:
            raise CommandError(str(exc), exit_code=1) from None
        emit(
            ok=result.passed,
            data=result.model_dump(mode="json"),
            error=None if result.passed else f"not reproduced: {result.summary}",
            as_json=as_json,
            text=result.text(),
        )


gate_app.command("data")(gate_data)  # the data QC gate (tools/gates/data_cli.py)


def readiness_stage(stage: str, as_json: bool) -> None:
    """`tools readiness STAGE` (registered by tools/plan/cli.py): READY only when every
    mandatory check of the stage passes; the report goes to plans/readiness/<STAGE>/<UTC>/."""
    with reporting(as_json):
        from tools.gates.readiness import stage_readiness

        data = stage_readiness(_root(), stage)
        lines = [f"readiness {stage}: {data['status']}"]
        for item in data["items"]:
            lines.append(f"  {item['name']}: {item['verdict']} — {item['command'] or '-'}")
            lines.append(
                f"      evidence {item['evidence'] or '-'}; {item['note'] or ''}".rstrip("; ")
            )
        lines.append(f"report: {data['written']['markdown']}")
        failing = [i["name"] for i in data["items"] if i["mandatory"] and i["verdict"] != "pass"]
        emit(
            ok=data["passed"],
            data=data,
            error=None if data["passed"] else f"not ready: {', '.join(failing)}",
            as_json=as_json,
            text="\n".join(lines),
        )


def register(app: typer.Typer) -> None:
    """Add `gate` to the root `tools` app."""
    app.add_typer(gate_app, name="gate")
