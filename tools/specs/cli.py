"""`tools specs check` and `tools findings add` (`register(app)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.layout import ledger_path
from tools.common.output import JsonFlag, emit, reporting


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


# -- specs, findings ---------------------------------------------------------------------------
specs_app = typer.Typer(help="Check citations and finding IDs.", no_args_is_help=True)
findings_app = typer.Typer(
    help="The findings table (docs/findings.md, or `findings` in \\[tool.ptycho-nl.tools]).",
    no_args_is_help=True,
)


@specs_app.command("check")
def specs_check(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Rewrite fixable citations in place (bare names, moved symbols and quotes), "
            "atomically, then check again.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every path:line citation resolves, is not blank and still holds its symbol or quote;
    every finding ID exists. Scans the ledger, plans/ and the specs dirs (specs/, docs/).

    Warnings (a bare file name that resolves to one path, a findings file without a table)
    do not fail the check. The ledger and folders follow `tools --ledger PATH`,
    $TOOLS_LEDGER and the pyproject.toml table tool.ptycho-nl.tools.
    """

    with reporting(as_json):
        from tools.common.fsutil import repo_lock
        from tools.specs.check import check_specs
        from tools.specs.fix import apply_fixes

        root = _root()
        fixed = []
        if fix:
            with repo_lock(root):
                fixed = apply_fixes(root, check_specs(root, skip_ids=_skip_ids(root)))
        problems = check_specs(root, skip_ids=_skip_ids(root))
        failed = [p for p in problems if p.severity == "error"]
        lines = [f"{p.path}:{p.line}: fixed: {p.message}" for p in fixed]
        lines += [
            f"{p.path}:{p.line}: {'warning: ' if p.severity == 'warning' else ''}{p.code}: "
            f"{p.message}"
            for p in problems
        ]
        data = [p.as_dict() for p in problems]
        emit(
            ok=not failed,
            data={"fixed": [p.as_dict() for p in fixed], "problems": data} if fix else data,
            error=f"{len(failed)} problem(s)" if failed else None,
            as_json=as_json,
            text="\n".join(lines) or "specs ok",
        )


def _skip_ids(root: Path) -> set[str]:
    """Ledger item and initiative IDs: they look like finding IDs but are not findings."""
    from tools.plan.initiatives import active_initiatives
    from tools.plan.ledger import Ledger

    ledger = ledger_path(root)
    skip = Ledger.load(ledger).ids() if ledger.exists() else set()
    return skip | set(active_initiatives(root))


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
