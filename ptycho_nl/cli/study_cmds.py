"""`ptycho-nl study run`, `ptycho-nl demo`, and the study report (`ptycho-nl report study`).

Exit codes (tools.common.output): 0 every job succeeded, 1 some job failed (or a report could
not be rendered), 2 invalid design or usage. With --json the `data` of the envelope is the study
summary (StudyResult) or the report's paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import EXIT_FAILED, CommandError, JsonFlag, emit, reporting

study_app = typer.Typer(help="Run dose/overlap studies.", no_args_is_help=True)


def _report_text(paths: dict[str, Path | str]) -> str:
    return f"report: {paths['markdown']}\n        {paths['html']}"


SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the jobs on the Dask scheduler at this address (tcp://host:8786), e.g. a "
        "batch cluster's through dask-jobqueue. Needs ptycho-nl\\[distributed].",
    ),
]
DaskLocalOpt = Annotated[
    int | None,
    typer.Option(
        "--dask-local",
        min=1,
        help="Start a Dask LocalCluster of N one-thread workers for the run (testing the "
        "distributed path on one machine). Needs ptycho-nl\\[distributed].",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--scheduler-timeout", min=0.1, help="Seconds to wait for --scheduler to answer."),
]


def _run(
    design,
    out: Path,
    jobs: int,
    force: bool,
    as_json: bool,
    scheduler: str | None = None,
    dask_local: int | None = None,
    timeout_s: float = 10.0,
) -> None:
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.study.dose_overlap import run_study, summary_table

    with reporting(as_json, failures=(PtychoError,)):
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: exists and is not a directory (a study writes one)")
        result = run_study(
            design,
            out,
            workers=jobs,
            scheduler=scheduler,
            dask_local=dask_local,
            scheduler_timeout_s=timeout_s,
            force=force,
            progress=not as_json,
        )
    paths = {"markdown": result.report_markdown, "html": result.report_html}
    text = summary_table(result) + "\n" + _report_text(paths)
    failed = result.failed_jobs
    error = f"{failed} job(s) failed; see the report's 'Failed jobs' section" if failed else None
    emit(
        ok=not failed, data=result.model_dump(mode="json"), error=error, as_json=as_json, text=text
    )


def _design(design_file: Path | None, preset: str | None):
    from ptycho_nl.config import load_config
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.study.design import PRESETS, StudyDesign

    if (design_file is None) == (preset is None):
        raise CommandError("give exactly one of --design FILE or --preset NAME")
    from ptycho_nl.study.plan import check_pretrained

    if preset is not None:
        if preset not in PRESETS:
            raise CommandError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        chosen = PRESETS[preset]
    else:
        try:
            chosen = load_config(StudyDesign, design_file)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None  # an invalid design is a usage error: exit 2
    try:
        check_pretrained(chosen)  # a shipped bundle named but fitting no cell: usage too
    except ConfigError as exc:
        raise CommandError(f"{design_file or preset}: {exc}") from None
    return chosen


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
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
    scheduler_timeout: TimeoutOpt = 10.0,
    as_json: JsonFlag = False,
) -> None:
    """Run a dose/overlap study: phases C generate, D views, E train, F iterative, G compare.

    Completed jobs whose inputs and configuration are unchanged are skipped on a re-run, so an
    interrupted study resumes where it stopped. A failed job is recorded and the others go on.
    Jobs run in this process (--jobs 1), a local process pool (--jobs N), or on Dask
    (--scheduler ADDRESS or --dask-local N); skipping and resuming work the same on each.
    Exit codes: 0 all jobs succeeded, 1 some job failed (or no scheduler answered), 2 invalid
    design or usage.
    """
    with reporting(as_json):
        chosen = _design(design, preset)
    _run(chosen, out, jobs, force, as_json, scheduler, dask_local, scheduler_timeout)


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Where the demo study and its report go.")
    ] = Path("demo_out"),
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", min=1, help="Jobs to run in parallel (default: one per core, at most 2)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every job.")] = False,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
    scheduler_timeout: TimeoutOpt = 10.0,
    as_json: JsonFlag = False,
) -> None:
    """The main job: simulate, train, reconstruct, compare and report, in a few minutes on CPU.

    Runs the `demo` study preset (two doses, dense and sparse scans, PINN, supervised network,
    ePIE, and each network refined by ePIE) with independent jobs in parallel on the machine's
    cores, and prints a short results table and where the report is.
    """
    import os

    with reporting(as_json):
        chosen = _design(None, "demo")
    # Two workers use both cores of the machines the demo is sized for; more gain nothing on
    # its eight training jobs, which dominate.
    jobs = jobs if jobs is not None else max(1, min(2, os.cpu_count() or 1))
    _run(chosen, out, jobs, force, as_json, scheduler, dask_local, scheduler_timeout)


def report(
    study_dir: Annotated[
        Path, typer.Argument(help="A study directory written by `study run` or `demo`.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Re-render `report.md` and `report.html` of a study from its manifests alone."""
    from ptycho_nl.study.report import ReportError, render_report

    with reporting(as_json):
        if not study_dir.is_dir():
            raise CommandError(f"{study_dir}: not a directory")
        try:
            paths = render_report(study_dir)
        except ReportError as exc:
            raise CommandError(str(exc), exit_code=EXIT_FAILED) from None
    data = {name: str(path) for name, path in paths.items()}
    emit(ok=True, data=data, as_json=as_json, text=_report_text(paths))


def register(app: typer.Typer) -> None:
    """Add `study run` and `demo` to the `ptycho-nl` app (the report: `cli/report_cmds.py`)."""
    app.add_typer(study_app, name="study")
    app.command("demo")(demo)
