"""Quality against wall time, per (dose, view) cell, from the reconstruction records alone.

Every reconstruction of a study's test region (network, iterative solver, hybrid) keeps a
quality trace in its `recon.json` (`recon/quality_trace.py`), scored on the same region as the
comparison. This module reads those traces through the compare manifest (each compared method
names its source job, whose `object` output sits beside its record), and derives the time each
method needs to reach the best final NRMSE of the iterative solvers in its cell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptycho_nl.recon.quality_trace import QualityPoint, time_to_reach
from ptycho_nl.study.jobs import Phase, PhaseManifest
from ptycho_nl.study.phases import COMPARE, ITERATIVE

Cell = tuple[float, str]  # (dose, view)


def _object_paths(manifests: dict[Phase, PhaseManifest]) -> dict[str, str]:
    """job id -> study-relative path of the object it wrote."""
    return {
        job.job_id: job.outputs["object"].path
        for m in manifests.values()
        for job in m.jobs.values()
        if job.status != "failed" and "object" in job.outputs
    }


def quality_traces(
    study_dir: Path, manifests: dict[Phase, PhaseManifest]
) -> dict[Cell, dict[str, list[QualityPoint]]]:
    """cell -> method -> its trace (methods without a recorded trace are left out)."""
    g = manifests.get(COMPARE)
    if g is None:
        return {}
    objects = _object_paths(manifests)
    traces: dict[Cell, dict[str, list[QualityPoint]]] = {}
    for job in g.jobs.values():
        if job.status == "failed":
            continue
        cell = (float(job.metrics["dose"]), str(job.metrics["view"]))
        for method, m in job.metrics.get("methods", {}).items():
            path = objects.get(m.get("source_job") or "")
            record = study_dir / Path(path).parent / "recon.json" if path else None
            if record is None or not record.is_file():
                continue
            points = json.loads(record.read_text(encoding="utf-8")).get("quality", [])
            if points:
                trace = [QualityPoint.model_validate(p) for p in points]
                traces.setdefault(cell, {})[method] = trace
    return traces


def _iterative_methods(manifests: dict[Phase, PhaseManifest]) -> set[str]:
    f = manifests.get(ITERATIVE)
    if f is None:
        return set()
    return {j.params["method"] for j in f.jobs.values() if j.kind == "run_iterative"}


def time_to_quality_rows(
    traces: dict[Cell, dict[str, list[QualityPoint]]], manifests: dict[Phase, PhaseManifest]
) -> list[dict[str, Any]]:
    """One row per (cell, method): its final NRMSE and wall time, the cell's target (the best
    final NRMSE of its iterative solvers) and the seconds the method took to reach it (None:
    not reached; the target is None when the cell has no iterative solver)."""
    solvers = _iterative_methods(manifests)
    rows = []
    for (dose, view), methods in sorted(traces.items()):
        finals = [t[-1].nrmse for name, t in methods.items() if name in solvers]
        target = min(finals) if finals else None
        for method, trace in sorted(methods.items()):
            rows.append(
                {
                    "dose": dose,
                    "view": view,
                    "method": method,
                    "final_nrmse": trace[-1].nrmse,
                    "seconds": trace[-1].seconds,
                    "target_nrmse": target,
                    "seconds_to_target": None if target is None else time_to_reach(trace, target),
                }
            )
    return rows


def figure_quality_vs_time(
    traces: dict[Cell, dict[str, list[QualityPoint]]], out: Path
) -> Path | None:
    """NRMSE against wall time, one panel per cell (log time), one line per method."""
    import matplotlib.pyplot as plt

    from ptycho_nl.evaluate.figures import save_png

    if not traces:
        return None
    cells = sorted(traces)
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells), 3.6), squeeze=False)
    for ax, cell in zip(axes[0], cells, strict=True):
        for method, trace in sorted(traces[cell].items()):
            seconds = [max(p.seconds, 1e-3) for p in trace]
            ax.plot(seconds, [p.nrmse for p in trace], marker="o", ms=3, label=method)
        ax.set_xscale("log")
        ax.set_title(f"dose {cell[0]:.0e}, {cell[1]} view")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("NRMSE ↓")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, out, dpi=110)
