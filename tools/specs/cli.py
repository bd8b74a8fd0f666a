"""`tools specs check` and `tools findings add` (`register(app)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.layout import ledger_path
from tools.common.output import JsonFlag, emit, emit_problems, reporting


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


# -- specs, findings ---------------------------------------------------------------------------
specs_app = typer.Typer(help="Check citations and finding IDs.", no_args_is_help=True)
findings_app = typer.Typer(help="docs/findings.md.", no_args_is_help=True)


@specs_app.command("check")
def specs_check(as_json: JsonFlag = False) -> None:
    """Every path:line citation resolves (and matches its quote); every finding ID exists."""

    with reporting(as_json):
        from tools.plan.initiatives import active_initiatives
        from tools.plan.ledger import Ledger
        from tools.specs.check import check_specs

        root = _root()
        ledger = ledger_path(root)
        skip = Ledger.load(ledger).ids() if ledger.exists() else set()
        skip |= set(active_initiatives(root))
        emit_problems(
            check_specs(root, skip_ids=skip),
            as_json=as_json,
            line=lambda p: f"{p.path}:{p.line}: {p.code}: {p.message}",
            clean="specs ok",
        )


@findings_app.command("add")
def findings_add(
    finding_id: Annotated[str, typer.Argument(help="Finding ID, e.g. DATA-001.")],
    synopsis: Annotated[str, typer.Option("--synopsis", help="What was found, one line.")],
    evidence: Annotated[
        str, typer.Option("--evidence", help="Pointer to the evidence (path:line, hub path).")
    ],
    keywords: Annotated[str, typer.Option("--keywords", help="Comma-separated keywords.")] = "",
    status: Annotated[
        str, typer.Option("--status", help="active, superseded or retired.")
    ] = "active",
    as_json: JsonFlag = False,
) -> None:
    """Append one finding to docs/findings.md."""

    with reporting(as_json):
        from tools.specs.findings import add_finding

        row = add_finding(
            _root(),
            finding_id,
            keywords=keywords,
            synopsis=synopsis,
            evidence=evidence,
            status=status,
        )
        emit(ok=True, data=row.__dict__, as_json=as_json, text=f"added {finding_id}")


def register(app: typer.Typer) -> None:
    """Add the `specs` and `findings` groups to the root `tools` app."""
    app.add_typer(specs_app, name="specs")
    app.add_typer(findings_app, name="findings")
