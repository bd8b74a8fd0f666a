"""`tools report session [--since UTC]` (`register(app)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

report_app = typer.Typer(help="Reports drawn from records.", no_args_is_help=True)


def render_session(report) -> str:
    """The Markdown report from `SessionReport` through templates/session.md.j2."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # one cell
    return env.get_template("session.md.j2").render(r=report)


@report_app.command("session")
def session_cmd(
    since: Annotated[
        str | None,
        typer.Option("--since", help="ISO-8601 UTC time (2026-12-01T09:00:00Z); default: all."),
    ] = None,
    budget_file: Annotated[
        Path | None, typer.Option("--budget-file", help="A TOML budget file (see `tools budget`).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What the records hold since a time: attempts finished (run verdicts, evidence counts),
    QC records, gates and readiness reports, budget used and remaining, readiness, blockers and
    `plan next`. Every entry names its record (path#pointer or path:line). Exit 0, or 2 on
    bad input."""
    with reporting(as_json):
        from tools.budget.records import parse_utc
        from tools.common.fsutil import find_repo_root
        from tools.report.assemble import build_session_report

        moment = None
        if since is not None:
            moment = parse_utc(since)
            if moment is None:
                raise CommandError(
                    f"--since {since!r}: expected ISO-8601 UTC, e.g. 2026-12-01T09:00:00Z"
                )
        report = build_session_report(find_repo_root(), moment, budget_file)
    emit(ok=True, data=report.model_dump(mode="json"), as_json=as_json, text=render_session(report))


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
