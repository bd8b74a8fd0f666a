"""The dose/overlap study: run every phase of a design, compare, report.

Question: how does reconstruction quality depend on photon dose and scan overlap, and does the
physics-informed network beat the supervised baseline and the iterative solver?

Where each stage lives: `phases.py` (the phases C-G and their directories), `plan.py` (the jobs
of a design), `job_kinds.py` (generate, views, train, iterative), `compare.py` (scoring and the
paired comparisons), `jobs.py` (the generic runner), `report.py` (the report from manifests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ptycho_nl.io_utils import atomic_write_json, atomic_write_text
from ptycho_nl.study.compare import paired_comparisons
from ptycho_nl.study.design import StudyDesign
from ptycho_nl.study.jobs import JobRecord, Phase, PhaseManifest, run_phases
from ptycho_nl.study.phases import COMPARE
from ptycho_nl.study.plan import plan_jobs


class StudyResult(BaseModel):
    """What `run_study` returns (and `ptycho-nl study run --json` prints)."""

    study_dir: str
    design_digest: str
    phases: dict[str, dict[str, int]]  # phase key -> job counts by status
    failed_jobs: int
    rows: list[dict[str, Any]]
    report_markdown: str
    report_html: str


def run_study(
    design: StudyDesign,
    out_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    scheduler_timeout_s: float = 10.0,
    force: bool = False,
    progress: bool = False,
) -> StudyResult:
    """Run (or resume) every phase of `design` in `out_dir`, then render the report.

    The jobs run on one executor for the whole study (`ptycho_nl.execution.make_executor`):
    `workers` local processes, or a Dask scheduler at `scheduler`, or `dask_local` Dask workers
    started here. An executor that cannot start raises `ExecutionError` before any job runs.
    """
    from ptycho_nl.execution import make_executor
    from ptycho_nl.progress import progress_bar
    from ptycho_nl.study.report import render_report, results_rows

    study_dir = Path(out_dir)
    phases = plan_jobs(design)
    manifests: dict[Phase, PhaseManifest] = {}
    # The executor first: a scheduler that does not answer leaves no study directory behind.
    with (
        make_executor(
            workers, scheduler=scheduler, dask_local=dask_local, timeout_s=scheduler_timeout_s
        ) as executor,
        progress_bar(enabled=progress) as bar,
    ):
        study_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            study_dir / "design.json", {**design.model_dump(mode="json"), "digest": design.digest}
        )
        task = bar.add_task("study", total=sum(len(j) for j in phases.values()))

        def on_done(record: JobRecord) -> None:
            bar.update(task, advance=1, description=f"{record.job_id} {record.status}")

        # Every phase at once: each job starts as soon as the jobs it needs are done.
        manifests = run_phases(
            study_dir,
            {phase: jobs for phase, jobs in phases.items() if jobs},
            study_digest=design.digest,
            executor=executor,
            force=force,
            on_done=on_done,
        )
    comparisons = paired_comparisons(manifests.get(COMPARE), design.digest)
    atomic_write_text(
        study_dir / "manifests" / "comparisons.json", comparisons.model_dump_json(indent=2) + "\n"
    )
    paths = render_report(study_dir)
    return StudyResult(
        study_dir=str(study_dir),
        design_digest=design.digest,
        phases={p.key: m.counts() for p, m in manifests.items()},
        failed_jobs=sum(m.counts()["failed"] for m in manifests.values()),
        rows=results_rows(manifests),
        report_markdown=str(paths["markdown"]),
        report_html=str(paths["html"]),
    )


def summary_table(result: StudyResult) -> str:
    """A short plain-text results table for the terminal."""
    from ptycho_nl.evaluate.metrics import AMPLITUDE_SSIM, NRMSE, PHASE_SSIM

    # The method column as wide as its longest name ("pinn-pretrained+epie"), so columns align.
    width = max([12, *(len(r["method"]) for r in result.rows)])
    lines = [
        f"{'view':<8} {'dose':>8} {'method':<{width}} {'phase SSIM':>10} {'amp SSIM':>9} "
        f"{'NRMSE':>7}"
    ]
    for r in result.rows:
        lines.append(
            f"{r['view']:<8} {r['dose']:>8.0e} {r['method']:<{width}} "
            f"{r[PHASE_SSIM.name]:>10.3f} {r[AMPLITUDE_SSIM.name]:>9.3f} {r[NRMSE.name]:>7.3f}"
        )
    counts = ", ".join(
        f"{p}: {c['completed'] + c['skipped']}/{sum(c.values())}" for p, c in result.phases.items()
    )
    lines.append(f"jobs ok per phase — {counts}; failed: {result.failed_jobs}")
    return "\n".join(lines)
