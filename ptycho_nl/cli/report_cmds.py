"""`ptycho-nl report ...`: reports rendered from records that runs left, never typed by hand.

One group, one subcommand per kind of record: `study` (a study directory's manifests). Each
subcommand's function lives with the code it reports on and is added here by name.
"""

from __future__ import annotations

import typer

from ptycho_nl.cli.gate_cmds import baseline as baseline_report
from ptycho_nl.cli.stability_cmds import stability as stability_report
from ptycho_nl.cli.study_cmds import report as study_report

report_app = typer.Typer(help="Render reports from the records runs left.", no_args_is_help=True)
report_app.command("study")(study_report)
report_app.command("baseline")(baseline_report)
report_app.command("stability")(stability_report)


def register(app: typer.Typer) -> None:
    """Add the `report` group to the `ptycho-nl` app."""
    app.add_typer(report_app, name="report")
