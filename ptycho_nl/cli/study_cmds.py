"""`ptycho-nl study run`, `ptycho-nl demo`, `ptycho-nl report`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ptycho_nl.cli.common import EXIT_INVALID, EXIT_USAGE, die, print_json

study_app = typer.Typer(help="Run dose/overlap studies.", no_args_is_help=True)


def _run(design, out: Path, jobs: int, force: bool, as_json: bool) -> None:
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.study.dose_overlap import run_study, summary_table

    try:
        result = run_study(design, out, workers=jobs, force=force, progress=not as_json)
    except PtychoError as exc:
        die(str(exc), EXIT_INVALID)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        sys.stdout.write(summary_table(result) + "\n")
        sys.stdout.write(f"report: {result.report_markdown}\n        {result.report_html}\n")
    if result.failed_jobs:
        sys.stderr.write(
            f"{result.failed_jobs} job(s) failed; see the report's 'Failed jobs' section\n"
        )
        raise typer.Exit(EXIT_INVALID)


def _design(design_file: Path | None, preset: str | None):
    from ptycho_nl.config import load_config
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.study.design import PRESETS, StudyDesign

    if (design_file is None) == (preset is None):
        die("give exactly one of --design FILE or --preset NAME", EXIT_USAGE)
    if preset is not None:
        if preset not in PRESETS:
            die(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}", EXIT_USAGE)
        return PRESETS[preset]
    try:
        return load_config(StudyDesign, design_file)
    except ConfigError as exc:
        die(str(exc), EXIT_USAGE)


@study_app.command("run")
def study_run(
    out: Annotated[
        Path, typer.Option("--out", help="Study directory (created; re-use it to resume).")
    ],
    design: Annotated[Path | None, typer.Option("--design", help="Study design JSON file.")] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="A named design: demo, small or paper.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, help="Jobs to run in parallel on this machine.")
    ] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Redo every job, even unchanged completed ones.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the study summary as one JSON object.")
    ] = False,
) -> None:
    """Run a dose/overlap study: phases C generate, D views, E train, F iterative, G compare.

    Completed jobs whose inputs and configuration are unchanged are skipped on a re-run, so an
    interrupted study resumes where it stopped. A failed job is recorded and the others go on.
    Exit codes: 0 all jobs succeeded, 1 some job failed, 2 invalid design or usage.
    """
    _run(_design(design, preset), out, jobs, force, as_json)


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Where the demo study and its report go.")
    ] = Path("demo_out"),
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Jobs to run in parallel.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Redo every job.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the study summary as one JSON object.")
    ] = False,
) -> None:
    """The main job: simulate, train, reconstruct, compare and report, in a few minutes on CPU.

    Runs the `demo` study preset (two doses, dense and sparse scans, PINN, supervised network and
    ePIE) and prints a short results table and where the report is.
    """
    _run(_design(None, "demo"), out, jobs, force, as_json)


def report(
    study_dir: Annotated[
        Path, typer.Argument(help="A study directory written by `study run` or `demo`.")
    ],
) -> None:
    """Re-render `report.md` and `report.html` of a study from its manifests alone."""
    from ptycho_nl.study.report import ReportError, render_report

    if not study_dir.is_dir():
        die(f"{study_dir}: not a directory", EXIT_USAGE)
    try:
        paths = render_report(study_dir)
    except ReportError as exc:
        die(str(exc), EXIT_INVALID)
    sys.stdout.write(f"report: {paths['markdown']}\n        {paths['html']}\n")


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
    app.command("demo")(demo)
    app.command("report")(report)
