"""The dose/overlap study: phases C generate, D views, E train, F iterative, G compare.

Question: how does reconstruction quality depend on photon dose and scan overlap, and does the
physics-informed network beat the supervised baseline and the iterative solver?

- C  one object, one raster scan per (dose, view), split by region into train.npz / test.npz
     (a one-patch gap keeps every test patch disjoint from every training patch).
- D  validates each view's files against the contract and measures the overlap actually
     achieved (the view's name and requested overlap are not taken on trust).
- E  trains each network on the training region, then reconstructs the test region from its
     bundle (stitched, per-patch phase synchronised).
- F  runs each iterative solver (known probe) on the test patterns.
- G  aligns every reconstruction to the truth and scores it on the test region, whole and per
     tile; a constant object is scored too, as the floor any method must clear.
Then all paired comparisons (per tile) are Benjamini–Hochberg adjusted together and the report
is rendered from the manifests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from ptycho_nl.config import config_digest
from ptycho_nl.io_utils import atomic_write_json
from ptycho_nl.study.design import StudyDesign
from ptycho_nl.study.jobs import Job, JobContext, JobOutput, PhaseManifest, run_phase

ALPHA = 0.05
COMPARED_METRICS = {"ssim_phase": True, "ssim_amplitude": True, "nrmse": False}  # higher is better?
PROBE_APERTURE = 0.8  # pupil radius / Nyquist: a ~N/2-wide probe, so each pattern is 2x oversampled
PROBE_DEFOCUS = 10.0
SCAN_JITTER = 0.5
TEST_FRACTION = 0.3
COVERAGE_THRESHOLD = 0.5
MIN_TILE = 12  # pixels per tile side: room for the 7x7 SSIM window with margin


def dose_tag(dose: float) -> str:
    mantissa, exponent = f"{dose:.0e}".split("e")
    return f"d{mantissa}e{int(exponent)}"


def _rel(ctx: JobContext, path: Path) -> str:
    return Path(path).relative_to(ctx.study_dir).as_posix()


# --- phase C: generate ----------------------------------------------------------------------


def scan_positions_for(object_size: int, patch_size: int, overlap: float) -> int:
    """The largest square raster (positions) whose patches fit the object at this overlap."""
    from ptycho_nl.simulate import (
        ProbeConfig,
        ScanConfig,
        make_probe,
        make_scan,
        object_shape_for,
        probe_diameter,
    )

    probe = make_probe(
        ProbeConfig(size=patch_size, kind="disk", aperture=PROBE_APERTURE, defocus=PROBE_DEFOCUS)
    )
    diameter = probe_diameter(probe)
    per_side = max(2, int(object_size / ((1.0 - overlap) * diameter)) + 1)
    while per_side > 2:
        scan = ScanConfig(
            kind="raster", n_positions=per_side**2, overlap=overlap, jitter=SCAN_JITTER
        )
        # Jitter can only widen the scan by a few pixels: leave room for it.
        positions = make_scan(scan, diameter=diameter, patch_size=patch_size)
        if max(object_shape_for(positions, patch_size)) + 4 * SCAN_JITTER <= object_size:
            break
        per_side -= 1
    return per_side * per_side


def generate(ctx: JobContext) -> JobOutput:
    from ptycho_nl.simulate import (
        ObjectConfig,
        ProbeConfig,
        ScanConfig,
        SimulationConfig,
        simulate_train_test,
    )

    p = ctx.params
    config = SimulationConfig(
        object=ObjectConfig(kind=p["object_kind"], size=p["object_size"]),
        probe=ProbeConfig(
            size=p["patch_size"], kind="disk", aperture=PROBE_APERTURE, defocus=PROBE_DEFOCUS
        ),
        scan=ScanConfig(
            kind="raster",
            n_positions=scan_positions_for(p["object_size"], p["patch_size"], p["overlap"]),
            overlap=p["overlap"],
            jitter=SCAN_JITTER,
        ),
        dose=p["dose"],
        seed=p["seed"],
        test_fraction=TEST_FRACTION,
    )
    paths = simulate_train_test(config, ctx.out_dir)
    return JobOutput(
        outputs={"train": _rel(ctx, paths["train"]), "test": _rel(ctx, paths["test"])},
        config_digest=config_digest(config),
    )


# --- phase D: views -------------------------------------------------------------------------


def describe_view(ctx: JobContext) -> JobOutput:
    import torch

    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.simulate import measure_overlap

    train = load_npz(ctx.inputs["train"])
    test = load_npz(ctx.inputs["test"])
    probe = torch.from_numpy(np.asarray(train.probe))
    record = {
        "dose": ctx.params["dose"],
        "view": ctx.params["view"],
        "overlap_requested": ctx.params["overlap"],
        "overlap_measured": round(measure_overlap(train.positions, probe), 4),
        "overlap_measured_test": round(measure_overlap(test.positions, probe), 4),
        "n_train": train.n_patterns,
        "n_test": test.n_patterns,
        "object_shape": list(np.asarray(train.object).shape),
    }
    atomic_write_json(ctx.out_dir / "view.json", record)
    return JobOutput(outputs={"view": _rel(ctx, ctx.out_dir / "view.json")}, metrics=record)


# --- phase E: train networks and reconstruct the test region -------------------------------


def train_network(ctx: JobContext) -> JobOutput:
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.recon.jobs import reconstruct_network_to_dir
    from ptycho_nl.train.config import default_config
    from ptycho_nl.train.loop import train

    p = ctx.params
    config = default_config(
        p["model"],
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        seed=p["seed"],
        device="cpu",
        optimizer={"name": "adam", "lr": p["learning_rate"], "weight_decay": 0.0},
        data={"gridsize": p["gridsize"], "val_fraction": 0.2, "max_groups": None},
    )
    run_dir = ctx.out_dir / "run"
    result = train(config, ctx.inputs["train"], run_dir, progress=False)
    if result.status == "failed":
        raise PtychoError(result.error or "training failed")
    record = reconstruct_network_to_dir(
        result.bundle_path, ctx.inputs["test"], ctx.out_dir / "recon"
    )
    epochs = result.epochs or json.loads((run_dir / "logs" / "metrics.json").read_text())["epochs"]
    return JobOutput(
        outputs={
            "bundle": _rel(ctx, result.bundle_path),
            "metrics": _rel(ctx, run_dir / "logs" / "metrics.json"),
            "object": _rel(ctx, ctx.out_dir / "recon" / "object.npy"),
        },
        metrics={
            "best_val_loss": result.best_val_loss,
            "first_train_loss": epochs[0]["train_loss"] if epochs else None,
            "last_train_loss": epochs[-1]["train_loss"] if epochs else None,
            "epochs": len(epochs),
            "inference_seconds": record.total_seconds,
        },
        config_digest=result.config_digest,
    )


# --- phase F: iterative baselines -----------------------------------------------------------


def run_iterative(ctx: JobContext) -> JobOutput:
    from ptycho_nl.recon.iterative import IterativeOptions
    from ptycho_nl.recon.jobs import reconstruct_iterative_to_dir

    p = ctx.params
    options = IterativeOptions(method=p["method"], iterations=p["iterations"], seed=p["seed"])
    record = reconstruct_iterative_to_dir(ctx.inputs["test"], ctx.out_dir, options=options)
    return JobOutput(
        outputs={"object": _rel(ctx, ctx.out_dir / "object.npy")},
        metrics={
            "seconds_per_iteration": record.seconds_per_iteration,
            "final_fourier_error": record.errors[-1] if record.errors else None,
            "first_fourier_error": record.errors[0] if record.errors else None,
        },
        config_digest=config_digest(options),
    )


# --- phase G: compare -----------------------------------------------------------------------


def test_region_mask(data) -> np.ndarray:
    """Pixels whose probe illumination from the test scan reaches COVERAGE_THRESHOLD of the max."""
    import torch

    from ptycho_nl.recon.stitch import illumination

    probe = torch.as_tensor(np.asarray(data.probe))
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    coverage = illumination(probe, positions, tuple(np.asarray(data.object).shape))
    return (coverage >= COVERAGE_THRESHOLD * coverage.max()).numpy()


def _wrapped(phase: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * phase))


def tile_scores(
    aligned: np.ndarray, truth: np.ndarray, tiles_per_side: int
) -> dict[str, list[float]]:
    """Per-tile phase SSIM, amplitude SSIM and NRMSE of an aligned reconstruction (data ranges
    are the whole region's, as in `compute_metrics`)."""
    from ptycho_nl.evaluate.metrics import ssim

    ref = np.angle(truth.mean())
    ph_t = _wrapped(np.angle(truth) - ref)
    ph_r = ph_t + _wrapped(np.angle(aligned) - np.angle(truth))
    data_range = float(np.ptp(ph_t)) or 1.0
    # At most tiles_per_side per axis, but never tiles smaller than the SSIM window allows.
    rows = np.array_split(
        np.arange(truth.shape[0]), max(1, min(tiles_per_side, truth.shape[0] // MIN_TILE))
    )
    cols = np.array_split(
        np.arange(truth.shape[1]), max(1, min(tiles_per_side, truth.shape[1] // MIN_TILE))
    )
    amp_t, amp_r = np.abs(truth), np.abs(aligned)
    amp_range = float(np.ptp(amp_t)) or 1.0
    out: dict[str, list[float]] = {"ssim_phase": [], "ssim_amplitude": [], "nrmse": []}
    for r in rows:
        for c in cols:
            block = np.ix_(r, c)
            out["ssim_phase"].append(ssim(ph_r[block], ph_t[block], data_range))
            out["ssim_amplitude"].append(ssim(amp_r[block], amp_t[block], amp_range))
            out["nrmse"].append(
                float(np.linalg.norm(aligned[block] - truth[block]) / np.linalg.norm(truth[block]))
            )
    return out


def compare(ctx: JobContext) -> JobOutput:
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.evaluate.align import DEFAULT_MAX_SHIFT, align_to_truth, bounding_box
    from ptycho_nl.evaluate.metrics import compute_metrics

    test = load_npz(ctx.inputs["test"])
    truth = np.asarray(test.object)
    mask = test_region_mask(test)
    rs, cs = bounding_box(mask)
    view = json.loads(ctx.inputs["view"].read_text())
    recons = {
        name[len("object:") :]: np.load(path)
        for name, path in ctx.inputs.items()
        if name.startswith("object:")
    }
    recons["constant"] = np.ones_like(truth)  # the floor: a method must beat a featureless object
    methods: dict[str, Any] = {}
    aligned_images: dict[str, np.ndarray] = {"phase_truth": np.angle(truth[rs, cs])}
    for method, obj in recons.items():
        # Align once; the metrics, the tiles and the figure all see the same image.
        alignment = align_to_truth(
            obj, truth, mask, register=method != "constant", max_shift=DEFAULT_MAX_SHIFT
        )
        m = compute_metrics(alignment.recon, truth, mask=mask, register=False)
        aligned = alignment.recon[rs, cs]
        aligned_images[f"phase_{method}"] = np.angle(aligned).astype(np.float32)
        frc = m["frc"]
        methods[method] = {
            "source_job": ctx.params["sources"].get(method),
            "shift_px": list(alignment.shift),
            "ssim_phase": m["phase_ssim"],
            "ssim_amplitude": m["amplitude_ssim"],
            "nrmse": m["nrmse"],
            "nrmse_ramp_removed": m["nrmse_ramp_removed"],
            "psnr_phase": m["phase_psnr"],
            "frc_resolution": frc["resolution_px"],
            "frc": {"freq": frc["freqs"], "curve": frc["curve"], "threshold": frc["threshold"]},
            "tiles": tile_scores(aligned, truth[rs, cs], ctx.params["tiles_per_side"]),
        }
    out = ctx.out_dir / "aligned.npz"
    np.savez(out, **aligned_images)
    return JobOutput(
        outputs={"aligned": _rel(ctx, out)},
        metrics={
            "dose": ctx.params["dose"],
            "view": ctx.params["view"],
            "overlap_measured": view["overlap_measured"],
            "region": {
                "rows": [int(rs.start), int(rs.stop)],
                "cols": [int(cs.start), int(cs.stop)],
            },
            "methods": methods,
        },
    )


# --- the study ------------------------------------------------------------------------------


class StudyResult(BaseModel):
    study_dir: str
    design_digest: str
    phases: dict[str, dict[str, int]]
    failed_jobs: int
    rows: list[dict[str, Any]]
    report_markdown: str
    report_html: str


PHASE_TITLES = {"C": "generate", "D": "views", "E": "train", "F": "iterative", "G": "compare"}
FN = "ptycho_nl.study.dose_overlap"


def plan_jobs(design: StudyDesign) -> dict[str, list[Job]]:
    """Every job of every phase, in a stable order, with inputs as study-relative paths."""
    phases: dict[str, list[Job]] = {p: [] for p in PHASE_TITLES}
    for dose in design.doses:
        for view in design.views:
            tag = f"{dose_tag(dose)}-{view.name}"
            data_dir = f"data/C-{tag}"
            c_id = f"C-{tag}"
            phases["C"].append(
                Job(
                    c_id,
                    f"{FN}:generate",
                    {
                        "dose": dose,
                        "view": view.name,
                        "overlap": view.overlap,
                        "object_kind": design.object_kind,
                        "object_size": design.object_size,
                        "patch_size": design.patch_size,
                        "seed": design.simulation_seed,
                    },
                )
            )
            files = {"train": f"{data_dir}/train.npz", "test": f"{data_dir}/test.npz"}
            d_id = f"D-{tag}"
            phases["D"].append(
                Job(
                    d_id,
                    f"{FN}:describe_view",
                    {"dose": dose, "view": view.name, "overlap": view.overlap},
                    inputs=files,
                    requires=(c_id,),
                )
            )
            compare_inputs = {"test": files["test"], "view": f"views/{d_id}/view.json"}
            sources: dict[str, str] = {}
            requires = [d_id]
            for model in design.models:
                for seed in design.seeds:
                    method = model if len(design.seeds) == 1 else f"{model}@s{seed}"
                    e_id = f"E-{tag}-{model}-s{seed}"
                    phases["E"].append(
                        Job(
                            e_id,
                            f"{FN}:train_network",
                            {
                                "dose": dose,
                                "view": view.name,
                                "model": model,
                                "seed": seed,
                                "epochs": design.pinn_epochs if model == "pinn" else design.epochs,
                                "batch_size": design.batch_size,
                                "learning_rate": design.learning_rate,
                                "gridsize": design.pinn_gridsize if model == "pinn" else 1,
                            },
                            inputs=files,
                            requires=(c_id,),
                        )
                    )
                    compare_inputs[f"object:{method}"] = f"runs/{e_id}/recon/object.npy"
                    sources[method] = e_id
                    requires.append(e_id)
            for method in design.iterative:
                f_id = f"F-{tag}-{method}"
                phases["F"].append(
                    Job(
                        f_id,
                        f"{FN}:run_iterative",
                        {
                            "dose": dose,
                            "view": view.name,
                            "method": method,
                            "iterations": design.iterations,
                            "seed": design.simulation_seed,
                        },
                        inputs={"test": files["test"]},
                        requires=(c_id,),
                    )
                )
                compare_inputs[f"object:{method}"] = f"iterative/{f_id}/object.npy"
                sources[method] = f_id
                requires.append(f_id)
            phases["G"].append(
                Job(
                    f"G-{tag}",
                    f"{FN}:compare",
                    {
                        "dose": dose,
                        "view": view.name,
                        "tiles_per_side": design.tiles_per_side,
                        "sources": sources,
                    },
                    inputs=compare_inputs,
                    requires=tuple(requires),
                )
            )
    return phases


def paired_comparisons(g: PhaseManifest, *, seed: int = 0) -> list[dict[str, Any]]:
    """All method pairs on every compared metric in every (dose, view), BH-adjusted together."""
    from itertools import combinations

    from ptycho_nl.evaluate.stats import benjamini_hochberg, decide, paired_comparison

    found = []
    for job in g.jobs.values():
        if job.status == "failed":
            continue
        methods = job.metrics["methods"]
        for metric, higher in COMPARED_METRICS.items():
            for a, b in combinations(sorted(methods), 2):
                c = paired_comparison(
                    methods[a]["tiles"][metric],
                    methods[b]["tiles"][metric],
                    metric=metric,
                    method_a=a,
                    method_b=b,
                    higher_is_better=higher,
                    seed=seed,
                )
                found.append((job, c))
    adjusted = benjamini_hochberg([c.p_value for _, c in found])
    out = []
    for (job, c), p_adj in zip(found, adjusted, strict=True):
        c.p_adjusted = p_adj
        c.verdict = decide(c, alpha=ALPHA)
        out.append(
            {
                "dose": job.metrics["dose"],
                "view": job.metrics["view"],
                "compare_job": job.job_id,
                **c.model_dump(mode="json"),
            }
        )
    return out


def run_study(
    design: StudyDesign,
    out_dir: str | Path,
    *,
    workers: int = 1,
    force: bool = False,
    progress: bool = False,
) -> StudyResult:
    """Run (or resume) every phase of `design` in `out_dir`, then render the report."""
    from ptycho_nl.study.report import render_report, results_rows

    study_dir = Path(out_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        study_dir / "design.json", {**design.model_dump(mode="json"), "digest": design.digest}
    )
    phases = plan_jobs(design)
    total = sum(len(j) for j in phases.values())
    bar = task = None
    if progress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("study", total=total)
        bar.start()

    def on_done(record) -> None:
        if bar is not None:
            bar.update(task, advance=1, description=f"{record.job_id} {record.status}")

    succeeded: set[str] = set()
    manifests: dict[str, PhaseManifest] = {}
    try:
        for phase, jobs in phases.items():
            if not jobs:
                continue
            manifests[phase] = run_phase(
                study_dir,
                phase=phase,
                title=PHASE_TITLES[phase],
                study_digest=design.digest,
                jobs=jobs,
                workers=workers,
                force=force,
                succeeded=succeeded,
                on_done=on_done,
            )
    finally:
        if bar is not None:
            bar.stop()
    comparisons = paired_comparisons(manifests["G"]) if "G" in manifests else []
    atomic_write_json(
        study_dir / "manifests" / "comparisons.json",
        {
            "study_digest": design.digest,
            "alpha": ALPHA,
            "metrics": COMPARED_METRICS,
            "comparisons": comparisons,
        },
    )
    paths = render_report(study_dir)
    return StudyResult(
        study_dir=str(study_dir),
        design_digest=design.digest,
        phases={p: m.counts() for p, m in manifests.items()},
        failed_jobs=sum(m.counts()["failed"] for m in manifests.values()),
        rows=results_rows(manifests),
        report_markdown=str(paths["markdown"]),
        report_html=str(paths["html"]),
    )


def summary_table(result: StudyResult) -> str:
    """A short plain-text results table for the terminal."""
    lines = [
        f"{'view':<8} {'dose':>8} {'method':<12} {'phase SSIM':>10} {'amp SSIM':>9} {'NRMSE':>7}"
    ]
    for r in result.rows:
        lines.append(
            f"{r['view']:<8} {r['dose']:>8.0e} {r['method']:<12} {r['ssim_phase']:>10.3f} "
            f"{r['ssim_amplitude']:>9.3f} {r['nrmse']:>7.3f}"
        )
    counts = ", ".join(
        f"{p}: {c['completed'] + c['skipped']}/{sum(c.values())}" for p, c in result.phases.items()
    )
    lines.append(f"jobs ok per phase — {counts}; failed: {result.failed_jobs}")
    return "\n".join(lines)
