"""The study's job kinds C-F: one typed parameter model and one function per kind.

C `generate` simulates one (dose, view) cell and splits it by region into train.npz / test.npz
(a one-patch gap keeps every test patch disjoint from every training patch), then runs the data
QC gate on them (`qc.json`; a failed gate fails the job). D `describe_view`
validates those files and measures the overlap actually achieved (a view's name and requested
overlap are not taken on trust). E `train_network` trains on the training region and
reconstructs the test region from the bundle; `use_pretrained` does the same with a shipped
bundle (`ptycho_nl/pretrained`). F `run_iterative` runs one solver (known probe)
on the test patterns; `run_hybrid` refines a trained network's test-region object with one. The comparison (G) lives in `study/compare.py`.
"""

from __future__ import annotations

import json

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from ptycho_nl.config import StrictModel, config_digest
from ptycho_nl.io_utils import atomic_write_json
from ptycho_nl.study.design import ModelName, ObjectKind, SolverName
from ptycho_nl.study.jobs import JobContext, JobKind, JobOutput
from ptycho_nl.train.config import ScheduleConfig

PROBE_APERTURE = 0.8  # pupil radius / Nyquist: a ~N/2-wide probe, so each pattern is 2x oversampled
PROBE_DEFOCUS = 10.0
SCAN_JITTER = 0.5
TEST_FRACTION = 0.3


class CellParams(StrictModel):
    """The (dose, view) cell a job belongs to; every study job's parameters carry it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dose: PositiveFloat
    view: str


class GenerateParams(CellParams):
    overlap: float
    object_kind: ObjectKind
    object_size: PositiveInt
    patch_size: PositiveInt
    seed: int


class ObjectsParams(CellParams):
    """A many-object training set at the cell's dose and overlap (network_data = objects)."""

    overlap: float
    object_kind: ObjectKind
    n_objects: PositiveInt
    patch_size: PositiveInt
    seed: int


class ViewParams(CellParams):
    overlap: float


class TrainParams(CellParams):
    model: ModelName
    seed: int
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    gridsize: PositiveInt
    # Left out at their defaults, so the input digests of jobs planned before them hold.
    channels: tuple[int, int, int] = Field(
        (32, 64, 128), exclude_if=lambda v: tuple(v) == (32, 64, 128)
    )
    global_features: int = Field(0, ge=0, exclude_if=lambda v: v == 0)
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, exclude_if=lambda v: v == ScheduleConfig()
    )
    early_stop_patience: int = Field(0, ge=0, exclude_if=lambda v: v == 0)
    moment_rounds: int = Field(0, ge=0, exclude_if=lambda v: v == 0)


class IterativeParams(CellParams):
    method: SolverName
    iterations: PositiveInt
    seed: int


class HybridParams(IterativeParams):
    """A network (its training job's bundle, or a shipped one) refined by `method` for
    `iterations` passes."""

    model: ModelName
    train_seed: int | None  # None for a shipped bundle, which no seed of this study trained
    # Left out when None, so the input digests of hybrids planned before it hold.
    pretrained: str | None = Field(None, exclude_if=lambda v: v is None)


class PretrainedParams(CellParams):
    """A shipped bundle (`ptycho_nl/pretrained`), named and pinned to the hash the plan saw."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    moment_rounds: int = Field(0, ge=0, exclude_if=lambda v: v == 0)


class ViewRecord(BaseModel):
    """`views/<job>/view.json`: what a (dose, view) cell's files actually hold."""

    dose: float
    view: str
    overlap_requested: float
    overlap_measured: float
    overlap_measured_test: float
    n_train: int
    n_test: int
    object_shape: list[int]


def scan_positions_for(object_size: int, patch_size: int, overlap: float) -> int:
    """The largest square raster (positions) whose patches fit the object at this overlap."""
    from ptycho_nl.simulate import (
        ProbeConfig,
        ScanConfig,
        make_probe,
        make_scan,
        min_object_shape,
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
        if max(min_object_shape(positions, patch_size)) + 4 * SCAN_JITTER <= object_size:
            break
        per_side -= 1
    return per_side * per_side


def generate(ctx: JobContext[GenerateParams]) -> JobOutput:
    from ptycho_nl.simulate import (
        ObjectConfig,
        ProbeConfig,
        ScanConfig,
        SimulationConfig,
        simulate_train_test,
    )

    p = ctx.params
    config = SimulationConfig(
        object=ObjectConfig(kind=p.object_kind, size=p.object_size),
        probe=ProbeConfig(
            size=p.patch_size, kind="disk", aperture=PROBE_APERTURE, defocus=PROBE_DEFOCUS
        ),
        scan=ScanConfig(
            kind="raster",
            n_positions=scan_positions_for(p.object_size, p.patch_size, p.overlap),
            overlap=p.overlap,
            jitter=SCAN_JITTER,
        ),
        dose=p.dose,
        seed=p.seed,
        test_fraction=TEST_FRACTION,
    )
    paths = simulate_train_test(config, ctx.out_dir)
    # The cell's data pass the data QC gate before anything trains on them (docs/study.md):
    # a failed gate fails this job, so the cell's later jobs fail as upstream, naming it.
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.gates.data_qc import run_data_qc

    report, record = run_data_qc(ctx.out_dir)
    if not report.passed:
        failing = ", ".join(report.failing(mandatory_only=True))
        raise PtychoError(f"data QC failed (items: {failing}): {record}")
    return JobOutput(
        outputs={
            "train": ctx.rel(paths["train"]),
            "test": ctx.rel(paths["test"]),
            "qc": ctx.rel(record),
        },
        config_digest=config_digest(config),
    )


def describe_view(ctx: JobContext[ViewParams]) -> JobOutput:
    import torch

    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.simulate import measure_overlap

    train = load_npz(ctx.inputs["train"])
    test = load_npz(ctx.inputs["test"])
    probe = torch.from_numpy(np.asarray(train.probe))
    record = ViewRecord(
        dose=ctx.params.dose,
        view=ctx.params.view,
        overlap_requested=ctx.params.overlap,
        overlap_measured=round(measure_overlap(train.positions, probe), 4),
        overlap_measured_test=round(measure_overlap(test.positions, probe), 4),
        n_train=train.n_patterns,
        n_test=test.n_patterns,
        object_shape=list(np.asarray(train.object).shape),
    ).model_dump(mode="json")
    atomic_write_json(ctx.out_dir / "view.json", record)
    return JobOutput(outputs={"view": ctx.rel(ctx.out_dir / "view.json")}, metrics=record)


def train_network(ctx: JobContext[TrainParams]) -> JobOutput:
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.recon.jobs import reconstruct_network_to_dir
    from ptycho_nl.train.config import default_config
    from ptycho_nl.train.loop import train

    p = ctx.params
    config = default_config(
        p.model,
        epochs=p.epochs,
        batch_size=p.batch_size,
        seed=p.seed,
        device="cpu",
        optimizer={"name": "adam", "lr": p.learning_rate, "weight_decay": 0.0},
        schedule=p.schedule.model_dump(),
        data={"gridsize": p.gridsize, "val_fraction": 0.2, "max_groups": None},
        # last_model.pt (resume) and best_model.pt are written every epoch anyway; a numbered
        # checkpoint per epoch would add 7 MB an epoch for the compact PINN (~2 GB in a demo).
        checkpoint_every=p.epochs,
        early_stop_patience=p.early_stop_patience,
    )
    shape = {"channels": tuple(p.channels), "global_features": p.global_features}
    config = config.model_copy(update={"model": config.model.model_copy(update=shape)})
    run_dir = ctx.out_dir / "run"
    result = train(config, ctx.inputs["train"], run_dir, progress=False, qc="require")
    if result.status == "failed":
        raise PtychoError(result.error or "training failed")
    record = reconstruct_network_to_dir(
        result.bundle_path, ctx.inputs["test"], ctx.out_dir / "recon", moment_rounds=p.moment_rounds
    )
    epochs = result.epochs or json.loads((run_dir / "logs" / "metrics.json").read_text())["epochs"]
    return JobOutput(
        outputs={
            "bundle": ctx.rel(result.bundle_path),
            "metrics": ctx.rel(run_dir / "logs" / "metrics.json"),
            "object": ctx.rel(ctx.out_dir / "recon" / "object.npy"),
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


def use_pretrained(ctx: JobContext[PretrainedParams]) -> JobOutput:
    """Copy the shipped bundle into the job (hash checked) and reconstruct the test region."""
    import shutil

    from ptycho_nl.errors import BundleError
    from ptycho_nl.io_utils import atomic_write
    from ptycho_nl.pretrained.index import bundle_file, find_entry
    from ptycho_nl.recon.jobs import reconstruct_network_to_dir

    p = ctx.params
    entry = find_entry(p.name)
    if entry.sha256 != p.sha256:
        raise BundleError(
            f"pretrained {p.name}: the index now records sha256 {entry.sha256}, the study was "
            f"planned with {p.sha256}; re-run the study to plan it afresh"
        )
    bundle = ctx.out_dir / "bundle.zip"
    atomic_write(bundle, lambda tmp: shutil.copyfile(bundle_file(entry), tmp))
    record = reconstruct_network_to_dir(
        bundle, ctx.inputs["test"], ctx.out_dir / "recon", expected_sha256=p.sha256,
        moment_rounds=p.moment_rounds,
    )  # fmt: skip
    return JobOutput(
        outputs={
            "bundle": ctx.rel(bundle),
            "object": ctx.rel(ctx.out_dir / "recon" / "object.npy"),
        },
        metrics={
            "epochs": entry.epochs_trained,
            "training_seconds": entry.training_seconds,
            "inference_seconds": record.total_seconds,
        },
        config_digest=p.sha256,
    )


def run_iterative(ctx: JobContext[IterativeParams]) -> JobOutput:
    from ptycho_nl.recon.jobs import reconstruct_iterative_to_dir
    from ptycho_nl.recon.options import IterativeOptions

    p = ctx.params
    options = IterativeOptions(method=p.method, iterations=p.iterations, seed=p.seed)
    record = reconstruct_iterative_to_dir(ctx.inputs["test"], ctx.out_dir, options=options)
    return JobOutput(
        outputs={"object": ctx.rel(ctx.out_dir / "object.npy")},
        metrics={
            "seconds_per_iteration": record.seconds_per_iteration,
            "final_fourier_error": record.errors[-1] if record.errors else None,
            "first_fourier_error": record.errors[0] if record.errors else None,
        },
        config_digest=config_digest(options),
    )


def run_hybrid(ctx: JobContext[HybridParams]) -> JobOutput:
    from ptycho_nl.recon.jobs import reconstruct_hybrid_to_dir
    from ptycho_nl.recon.options import IterativeOptions

    p = ctx.params
    options = IterativeOptions(method=p.method, iterations=p.iterations, seed=p.seed)
    # A trained bundle is checked against its run's manifest; a shipped one against the index.
    expected = None
    if p.pretrained is not None:
        from ptycho_nl.pretrained.index import find_entry

        expected = find_entry(p.pretrained).sha256
    record = reconstruct_hybrid_to_dir(
        ctx.inputs["bundle"], ctx.inputs["test"], ctx.out_dir, refine=options,
        expected_sha256=expected,
    )  # fmt: skip
    return JobOutput(
        outputs={"object": ctx.rel(ctx.out_dir / "object.npy")},
        metrics={
            "network_seconds": record.stages["network"],
            "refine_seconds": record.stages[p.method],
            "seconds_per_iteration": record.seconds_per_iteration,
            "final_fourier_error": record.errors[-1] if record.errors else None,
        },
        config_digest=config_digest(options),
    )


def build_objects(ctx: JobContext[ObjectsParams]) -> JobOutput:
    """The cell's many-object training set, QC-gated like the cell's own data."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.gates.data_qc import run_data_qc
    from ptycho_nl.simulate import ProbeConfig, ScanConfig
    from ptycho_nl.simulate.training_set import TrainingSetConfig, write_training_set

    p = ctx.params
    config = TrainingSetConfig(
        n_objects=p.n_objects,
        # The test object's own pictures never enter training (procedural tiles draw from a
        # seed stream no study object uses).
        exclude=["camera", "moon"] if p.object_kind == "camera_moon" else [],
        tile_size=3 * p.patch_size,
        probe=ProbeConfig(
            size=p.patch_size, kind="disk", aperture=PROBE_APERTURE, defocus=PROBE_DEFOCUS
        ),
        scan=ScanConfig(overlap=p.overlap, jitter=SCAN_JITTER),
        dose=p.dose,
        seed=p.seed,
    )
    path = write_training_set(config, ctx.out_dir / "objects.npz")
    report, record = run_data_qc(path)
    if not report.passed:
        failing = ", ".join(report.failing(mandatory_only=True))
        raise PtychoError(f"data QC failed (items: {failing}): {record}")
    return JobOutput(
        outputs={"train": ctx.rel(path), "qc": ctx.rel(record)},
        config_digest=config_digest(config),
    )


GENERATE_JOB = JobKind("generate", generate, GenerateParams)
OBJECTS_JOB = JobKind("build_objects", build_objects, ObjectsParams)
VIEW_JOB = JobKind("describe_view", describe_view, ViewParams)
TRAIN_JOB = JobKind("train_network", train_network, TrainParams)
ITERATIVE_JOB = JobKind("run_iterative", run_iterative, IterativeParams)
HYBRID_JOB = JobKind("run_hybrid", run_hybrid, HybridParams)
PRETRAINED_JOB = JobKind("use_pretrained", use_pretrained, PretrainedParams)
