"""Render a study's report (`report.md`, `report.html`, figures) from its manifests alone.

Every number in the report is read from a phase manifest (`manifests/phase_*.json`) or the
comparison record (`manifests/comparisons.json`), and each results row names the job it comes
from, so a reader can trace any figure back to the run that produced it.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.evaluate.figures import save_png
from ptycho_nl.evaluate.metrics import (
    AMPLITUDE_SSIM,
    FRC_RESOLUTION,
    NRMSE,
    PHASE_PSNR,
    PHASE_SSIM,
    MetricSpec,
)
from ptycho_nl.io_utils import atomic_write_text
from ptycho_nl.study.job_kinds import TRAIN_JOB, TrainParams
from ptycho_nl.study.jobs import Phase, PhaseManifest, load_manifest
from ptycho_nl.study.phases import COMPARE, PHASES, TRAIN, VIEWS
from ptycho_nl.study.time_to_quality import (
    figure_quality_vs_time,
    quality_traces,
    time_to_quality_rows,
)
from ptycho_nl.study.verdict import verdict_lines

# The results table's metric columns, in order, with the significant digits each is shown with.
REPORT_METRICS: tuple[tuple[MetricSpec, int], ...] = (
    (PHASE_SSIM, 3),
    (AMPLITUDE_SSIM, 3),
    (NRMSE, 3),
    (PHASE_PSNR, 2),
    (FRC_RESOLUTION, 3),
)
VIEW_COLUMNS = ("dose", "view", "overlap_requested", "overlap_measured", "n_train", "n_test")


class ReportError(Exception):
    pass


def load_manifests(study_dir: Path) -> dict[Phase, PhaseManifest]:
    """Every phase manifest present, in phase order; ReportError if there is none."""
    manifests = {p: m for p in PHASES if (m := load_manifest(study_dir, p.key)) is not None}
    if not manifests:
        raise ReportError(
            f"{study_dir}: no phase manifests under manifests/ (is this a study directory?)"
        )
    return manifests


def results_rows(manifests: dict[Phase, PhaseManifest]) -> list[dict[str, Any]]:
    """One row per (dose, view, method) from the compare phase's job metrics."""
    rows = []
    g = manifests.get(COMPARE)
    if g is None:
        return rows
    for job in g.jobs.values():
        if job.status == "failed":
            continue
        for method, m in job.metrics.get("methods", {}).items():
            rows.append(
                {
                    "dose": job.metrics["dose"],
                    "view": job.metrics["view"],
                    "overlap": job.metrics.get("overlap_measured"),
                    "method": method,
                    "source_job": m.get("source_job"),
                    "compare_job": job.job_id,
                    **{metric.name: m.get(metric.name) for metric, _ in REPORT_METRICS},
                }
            )
    rows.sort(key=lambda r: (r["view"], r["dose"], r["method"]))
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "∞" if value > 0 else "—"
        return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


def _figure_quality_vs_dose(rows: list[dict], out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    if not rows:
        return None
    views = sorted({r["view"] for r in rows})
    fig, axes = plt.subplots(2, len(views), figsize=(4.5 * len(views), 6.5), squeeze=False)
    for col, view in enumerate(views):
        by_method = defaultdict(list)
        for r in rows:
            if r["view"] == view:
                by_method[r["method"]].append(r)
        for method, rs in sorted(by_method.items()):
            rs.sort(key=lambda r: r["dose"])
            doses = [r["dose"] for r in rs]
            axes[0][col].plot(doses, [r[PHASE_SSIM.name] for r in rs], marker="o", label=method)
            axes[1][col].plot(doses, [r[NRMSE.name] for r in rs], marker="o", label=method)
        overlap = next(
            (r["overlap"] for r in rows if r["view"] == view and r["overlap"] is not None), None
        )
        title = f"{view} view" + (f" (overlap {overlap:.2f})" if overlap is not None else "")
        axes[0][col].set_title(title)
        for ax, label in ((axes[0][col], "phase SSIM ↑"), (axes[1][col], "NRMSE ↓")):
            ax.set_xscale("log")
            ax.set_xlabel("dose (photons / pattern)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, out, dpi=110)


def _figure_reconstructions(study_dir: Path, g: PhaseManifest, out: Path) -> Path | None:
    """Aligned phase images, one row per (dose, view), one column per method plus the truth."""
    import matplotlib.pyplot as plt

    jobs = [j for j in g.jobs.values() if j.status != "failed" and "aligned" in j.outputs]
    if not jobs:
        return None
    jobs.sort(key=lambda j: (j.metrics["view"], j.metrics["dose"]))
    loaded = [(j, np.load(study_dir / j.outputs["aligned"].path)) for j in jobs]
    methods = sorted(
        {k[len("phase_") :] for _, arr in loaded for k in arr.files if k.startswith("phase_")}
    )
    columns = ["truth", *[m for m in methods if m != "truth"]]
    fig, axes = plt.subplots(
        len(loaded), len(columns), figsize=(2.2 * len(columns), 2.2 * len(loaded)), squeeze=False
    )
    for row, (job, arr) in enumerate(loaded):
        truth = arr["phase_truth"]
        vmin, vmax = float(truth.min()), float(truth.max())
        for col, method in enumerate(columns):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            key = f"phase_{method}"
            if key in arr.files:
                ax.imshow(arr[key], cmap="twilight", vmin=vmin, vmax=vmax)
            if row == 0:
                ax.set_title(method, fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{job.metrics['view']}\n{job.metrics['dose']:.0e}", fontsize=8)
    fig.suptitle("Aligned phase on the test region")
    fig.tight_layout()
    return save_png(fig, out, dpi=100)


def _figure_frc(g: PhaseManifest, out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    jobs = [j for j in g.jobs.values() if j.status != "failed"]
    if not jobs:
        return None
    fig, axes = plt.subplots(1, len(jobs), figsize=(3.6 * len(jobs), 3.2), squeeze=False)
    for ax, job in zip(
        axes[0], sorted(jobs, key=lambda j: (j.metrics["view"], j.metrics["dose"])), strict=True
    ):
        freqs = threshold = None
        for method, m in sorted(job.metrics.get("methods", {}).items()):
            frc = m.get("frc")
            if frc:
                ax.plot(frc["freqs"], frc["curve"], label=method)
                freqs, threshold = frc["freqs"], frc.get("threshold", threshold)
        if threshold is not None:
            ax.plot(freqs, threshold, "k--", lw=0.8, label="½-bit")
        ax.set_title(f"{job.metrics['view']}, dose {job.metrics['dose']:.0e}", fontsize=9)
        ax.set_xlabel("spatial frequency (cycles/px)")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("FRC")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, out, dpi=100)


def _figure_learning_curves(study_dir: Path, e: PhaseManifest, out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    jobs = [
        j
        for j in e.jobs.values()
        if j.kind == TRAIN_JOB.name and j.status != "failed" and "metrics" in j.outputs
    ]  # a shipped bundle's job (use_pretrained) has no learning curve here
    if not jobs:
        return None
    params = {j.job_id: TrainParams.model_validate(j.params) for j in jobs}
    models = sorted({p.model for p in params.values()})
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        own = sorted((j for j in jobs if params[j.job_id].model == model), key=lambda j: j.job_id)
        for job in own:
            metrics = json.loads((study_dir / job.outputs["metrics"].path).read_text())
            epochs = metrics.get("epochs", [])
            ax.plot(
                [ep["num"] for ep in epochs],
                [ep["val_loss"] for ep in epochs],
                marker=".",
                label=f"{params[job.job_id].view} {params[job.job_id].dose:.0e}",
            )
        ax.set_title(f"{model}: validation loss")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, out, dpi=100)


def _report_environment() -> dict[str, Any]:
    """`provenance.environment()` without the rendering process's thread count (each job set
    its own, so the renderer's says nothing about the study, and a re-render stays identical)."""
    from ptycho_nl.provenance import environment as process_environment

    return {k: v for k, v in process_environment().items() if k != "torch_threads"}


def _figures(
    study_dir: Path, manifests: dict[Phase, PhaseManifest], rows: list[dict], traces: dict
) -> list:
    """Every figure the manifests allow, as {title, path}; quality against time leads."""
    fig_dir = study_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figures = []
    if path := figure_quality_vs_time(traces, fig_dir / "quality_vs_time.png"):
        figures.append({"title": "Quality against wall time", "path": path, "lead": True})
    if (g := manifests.get(COMPARE)) is not None:
        for title, path in (
            ("Quality versus dose", _figure_quality_vs_dose(rows, fig_dir / "quality_vs_dose.png")),
            (
                "Reconstructions side by side",
                _figure_reconstructions(study_dir, g, fig_dir / "reconstructions.png"),
            ),
            ("Fourier ring correlation", _figure_frc(g, fig_dir / "frc.png")),
        ):
            if path is not None:
                figures.append({"title": title, "path": path, "lead": False})
    if (e := manifests.get(TRAIN)) is not None and (
        path := _figure_learning_curves(study_dir, e, fig_dir / "learning_curves.png")
    ):
        figures.append({"title": "Learning curves", "path": path, "lead": False})
    return figures


def _shipped(manifests: dict[Phase, PhaseManifest]) -> list[dict[str, Any]]:
    """The shipped bundles a study scored (`use_pretrained` jobs), with the training they had
    when they were made: the quality traces' seconds of such a method are inference only."""
    e = manifests.get(TRAIN)
    jobs = [] if e is None else [j for j in e.jobs.values() if j.kind == "use_pretrained"]
    return [
        {
            "job": j.job_id,
            "name": j.params["name"],
            "sha256": j.params["sha256"],
            "epochs": j.metrics.get("epochs"),
            "training_seconds": j.metrics.get("training_seconds"),
        }
        for j in sorted(jobs, key=lambda j: j.job_id)
        if j.status != "failed"
    ]


def _job_seconds(job) -> float:
    """A job's own wall time (its compute record), not counting time queued in a pool."""
    return job.compute.wall_s if job.compute is not None else job.duration_s


def _overlaps(manifests: dict[Phase, PhaseManifest]) -> list[dict[str, Any]]:
    """The views phase's measured overlaps, one row per successful job."""
    views = manifests.get(VIEWS)
    if views is None:
        return []
    return [
        {"job": job.job_id, **{k: job.metrics.get(k) for k in VIEW_COLUMNS}}
        for job in views.jobs.values()
        if job.status != "failed"
    ]


def build_context(study_dir: Path) -> dict[str, Any]:
    """Everything the report templates show, read from the study directory."""
    import matplotlib

    matplotlib.use("Agg")
    manifests = load_manifests(study_dir)
    design = (
        json.loads((study_dir / "design.json").read_text())
        if (study_dir / "design.json").exists()
        else {}
    )
    rows = results_rows(manifests)
    traces = quality_traces(study_dir, manifests)
    ttq = time_to_quality_rows(traces, manifests)
    comparisons_path = study_dir / "manifests" / "comparisons.json"
    comparisons = (
        json.loads(comparisons_path.read_text())["comparisons"] if comparisons_path.exists() else []
    )
    failed = [
        {"phase": p.key, "job": j.job_id, "error": j.error}
        for p, m in manifests.items()
        for j in m.jobs.values()
        if j.status == "failed"
    ]
    return {
        "design": design,
        "study_digest": next(iter(manifests.values())).study_digest,
        "phases": [
            {
                "phase": p.key,
                "title": m.title,
                **m.counts(),
                "seconds": round(sum(_job_seconds(j) for j in m.jobs.values()), 1),
            }
            for p, m in manifests.items()
        ],
        "rows": rows,
        "comparisons": comparisons,
        "overlaps": _overlaps(manifests),
        "failed": failed,
        "figures": _figures(study_dir, manifests, rows, traces),
        "time_to_quality": ttq,
        "shipped": _shipped(manifests),
        "verdict": verdict_lines(rows, comparisons, ttq),
        "environment": _report_environment(),
        "report_metrics": REPORT_METRICS,
    }


def _jinja_env():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("ptycho_nl.study", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["fmt"] = _fmt
    env.filters["dose"] = lambda d: f"{d:.0e}"  # 1e+03 rather than 1000.000
    return env


def render_report(study_dir: str | Path) -> dict[str, Path]:
    """Write `report.md` and `report.html` (figures embedded) from the manifests alone."""
    study_dir = Path(study_dir)
    context = build_context(study_dir)
    env = _jinja_env()
    for fig in context["figures"]:
        fig["rel"] = fig["path"].relative_to(study_dir).as_posix()
    md_path = atomic_write_text(
        study_dir / "report.md", env.get_template("report.md.j2").render(**context)
    )
    html_env = _jinja_env()
    html_env.autoescape = True
    for fig in context["figures"]:
        fig["data_uri"] = (
            "data:image/png;base64," + base64.b64encode(fig["path"].read_bytes()).decode()
        )
    html_path = atomic_write_text(
        study_dir / "report.html", html_env.get_template("report.html.j2").render(**context)
    )
    return {"markdown": md_path, "html": html_path}
