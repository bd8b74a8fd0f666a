"""Phase G of the study: score every reconstruction of a (dose, view) cell on the test region,
then compare all methods pairwise over the whole study.

Each reconstruction is aligned to the truth once (global scalar, bounded sub-pixel shift) and
scored with `evaluate.metrics`, whole and per tile; a constant object is scored too, as the
floor any method must clear. The per-tile scores of every pair of methods, on every metric of
`COMPARED_METRICS`, in every cell, are Benjamini–Hochberg adjusted together.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, PositiveInt

from ptycho_nl.evaluate.metrics import SCALAR_METRICS, TILE_METRICS
from ptycho_nl.evaluate.stats import PairedComparison
from ptycho_nl.study.job_kinds import CellParams, ViewRecord
from ptycho_nl.study.jobs import JobContext, JobKind, JobOutput, PhaseManifest

ALPHA = 0.05
COMPARED_METRICS = TILE_METRICS  # compared per tile, so the names are the tile scores'
FLOOR = "constant"  # the featureless object every method must beat
OBJECT_INPUT = "object:"  # compare inputs named object:<method> are reconstructions


class CompareParams(CellParams):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiles_per_side: PositiveInt
    sources: dict[str, str]  # method -> the job id that reconstructed it


class StudyComparison(PairedComparison):
    """One paired comparison, with the cell and the compare job it came from."""

    dose: float
    view: str
    compare_job: str


class ComparisonsRecord(BaseModel):
    """`manifests/comparisons.json`."""

    study_digest: str
    alpha: float
    metrics: dict[str, bool]  # metric -> higher is better
    comparisons: list[StudyComparison]


def object_input(method: str) -> str:
    """The compare job's input name for `method`'s reconstructed object."""
    return f"{OBJECT_INPUT}{method}"


def held_out_region_mask(data) -> np.ndarray:
    """The test scan's scored region: `recon.stitch.scored_region`, the same rule
    `ptycho-nl evaluate` and the reconstruction records' quality traces apply."""
    from ptycho_nl.recon.stitch import scored_region

    return scored_region(data)


def compare(ctx: JobContext[CompareParams]) -> JobOutput:
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.evaluate.align import DEFAULT_MAX_SHIFT, align_to_truth, bounding_box
    from ptycho_nl.evaluate.metrics import compute_metrics, tile_metrics

    test = load_npz(ctx.inputs["test"])
    truth = np.asarray(test.object)
    mask = held_out_region_mask(test)
    rs, cs = bounding_box(mask)
    view = ViewRecord.model_validate_json(ctx.inputs["view"].read_text())
    recons = {
        name.removeprefix(OBJECT_INPUT): np.load(path)
        for name, path in ctx.inputs.items()
        if name.startswith(OBJECT_INPUT)
    }
    recons[FLOOR] = np.ones_like(truth)
    methods: dict[str, Any] = {}
    aligned_images: dict[str, np.ndarray] = {"phase_truth": np.angle(truth[rs, cs])}
    for method, obj in recons.items():
        # Align once; the metrics, the tiles and the figure all see the same image.
        alignment = align_to_truth(
            obj, truth, mask, register=method != FLOOR, max_shift=DEFAULT_MAX_SHIFT
        )
        m = compute_metrics(alignment.recon, truth, mask=mask, register=False)
        aligned = alignment.recon[rs, cs]
        aligned_images[f"phase_{method}"] = np.angle(aligned).astype(np.float32)
        methods[method] = {
            "source_job": ctx.params.sources.get(method),
            "shift_px": list(alignment.shift),
            **{metric.name: m[metric.name] for metric in SCALAR_METRICS},
            "frc": m["frc"],
            "tiles": tile_metrics(aligned, truth[rs, cs], ctx.params.tiles_per_side),
        }
    out = ctx.out_dir / "aligned.npz"
    np.savez(out, **aligned_images)
    return JobOutput(
        outputs={"aligned": ctx.rel(out)},
        metrics={
            "dose": ctx.params.dose,
            "view": ctx.params.view,
            "overlap_measured": view.overlap_measured,
            "region": {
                "rows": [int(rs.start), int(rs.stop)],
                "cols": [int(cs.start), int(cs.stop)],
            },
            "methods": methods,
        },
    )


COMPARE_JOB = JobKind("compare", compare, CompareParams)


def paired_comparisons(
    g: PhaseManifest | None, study_digest: str, *, seed: int = 0
) -> ComparisonsRecord:
    """All method pairs on every compared metric in every (dose, view), BH-adjusted together
    (none when the compare phase did not run)."""
    from ptycho_nl.evaluate.stats import benjamini_hochberg, decide, paired_comparison

    found = []
    for job in g.jobs.values() if g is not None else ():
        if job.status == "failed":
            continue
        methods = job.metrics["methods"]
        for metric in COMPARED_METRICS:
            for a, b in combinations(sorted(methods), 2):
                c = paired_comparison(
                    methods[a]["tiles"][metric.name],
                    methods[b]["tiles"][metric.name],
                    metric=metric.name,
                    method_a=a,
                    method_b=b,
                    higher_is_better=metric.higher_is_better,
                    seed=seed,
                )
                found.append((job, c))
    adjusted = benjamini_hochberg([c.p_value for _, c in found])
    comparisons = []
    for (job, c), p_adj in zip(found, adjusted, strict=True):
        c.p_adjusted = p_adj
        c.verdict = decide(c, alpha=ALPHA)
        comparisons.append(
            StudyComparison(
                dose=job.metrics["dose"],
                view=job.metrics["view"],
                compare_job=job.job_id,
                **c.model_dump(),
            )
        )
    return ComparisonsRecord(
        study_digest=study_digest,
        alpha=ALPHA,
        metrics={m.name: m.higher_is_better for m in COMPARED_METRICS},
        comparisons=comparisons,
    )
