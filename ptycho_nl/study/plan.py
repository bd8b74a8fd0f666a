"""Every job of a dose/overlap study, derived from its design.

Each (dose, view) cell gets one job per phase kind: C generate, D describe the view, E one per
(model, seed), F one per solver, G one compare job reading every reconstruction of the cell.
Job ids are `<phase key>-<dose>-<view>[-...]`; inputs are study-relative paths inside the
producing job's directory (`Phase.job_dir`), so no directory name is spelled here.
"""

from __future__ import annotations

from typing import NamedTuple

from ptycho_nl.study.compare import COMPARE_JOB, CompareParams, object_input
from ptycho_nl.study.design import StudyDesign, ViewSpec
from ptycho_nl.study.job_kinds import (
    GENERATE_JOB,
    HYBRID_JOB,
    ITERATIVE_JOB,
    OBJECTS_JOB,
    PRETRAINED_JOB,
    TRAIN_JOB,
    VIEW_JOB,
    GenerateParams,
    HybridParams,
    IterativeParams,
    ObjectsParams,
    PretrainedParams,
    TrainParams,
    ViewParams,
)
from ptycho_nl.study.jobs import Job, Phase
from ptycho_nl.study.phases import COMPARE, GENERATE, ITERATIVE, PHASES, TRAIN, VIEWS, cell_tag
from ptycho_nl.train.config import ScheduleConfig

# Estimated run times (seconds on one core of the 2-core reference machine), fitted to the demo
# preset's job records (2026-12-02): they only order ready jobs (`Job.cost`), so the longest
# chains start first. Work scales with the patterns of a view, 1 / (1 - overlap)^2 for a
# raster scan (dense 0.7: 11.1, sparse 0.35: 2.4), and with epochs or iterations. Measured:
# a supervised epoch 1.1 s on the dense view, a gridsize-2 PINN epoch 2.2x that (2.45 s), an
# ePIE iteration 0.015 s; generating a cell 0.2-0.4 s.
_SECONDS_PER_EPOCH = 0.1  # supervised, per unit of scan density
_SECONDS_PER_ITERATION = 0.0014  # per unit of scan density
_PINN_EPOCH_FACTOR = 0.55  # x gridsize^2: a gridsize-2 PINN epoch costs 2.2 supervised ones


def _density(overlap: float) -> float:
    """Patterns of a raster scan per unit area, relative to a step of one probe width."""
    return 1.0 / (1.0 - overlap) ** 2


def _training_cost(params: TrainParams, overlap: float) -> float:
    factor = _PINN_EPOCH_FACTOR * params.gridsize**2 if params.model == "pinn" else 1.0
    return params.epochs * _density(overlap) * _SECONDS_PER_EPOCH * factor


def _generate_cost(overlap: float) -> float:
    """One simulated scan of one object."""
    return 0.1 + 0.03 * _density(overlap)


def _solver_cost(iterations: int, overlap: float) -> float:
    return 0.2 + iterations * _density(overlap) * _SECONDS_PER_ITERATION


class _Recon(NamedTuple):
    """A reconstruction job of a cell: the method it is compared as and the object it writes."""

    phase: Phase
    method: str
    job: Job
    path: str
    bundle: str | None = None  # a network's bundle, which its hybrid arms refine from


def generate_params(design: StudyDesign, dose: float, view: ViewSpec) -> GenerateParams:
    """What the (dose, view) cell's data are simulated from: a shipped bundle fits the cell
    whose parameters equal the ones it was trained on."""
    return GenerateParams(
        dose=dose,
        view=view.name,
        overlap=view.overlap,
        object_kind=design.object_kind,
        object_size=design.object_size,
        patch_size=design.patch_size,
        seed=design.simulation_seed,
    )


def plan_jobs(design: StudyDesign) -> dict[Phase, list[Job]]:
    """Every job of every phase, in a stable order, with inputs as study-relative paths.

    ConfigError when a pretrained bundle of the design is unknown or fits none of its cells."""
    check_pretrained(design)
    phases: dict[Phase, list[Job]] = {p: [] for p in PHASES}
    for dose in design.doses:
        for view in design.views:
            for job_phase, job in _cell_jobs(design, dose, view):
                phases[job_phase].append(job)
    return phases


def check_pretrained(design: StudyDesign) -> None:
    """ConfigError when a pretrained bundle the design names is unknown or fits no cell."""
    from ptycho_nl.errors import BundleError, ConfigError
    from ptycho_nl.pretrained.index import find_entry

    cells = [generate_params(design, d, v) for d in design.doses for v in design.views]
    for name in design.pretrained:
        try:
            entry = find_entry(name)
        except BundleError as exc:
            raise ConfigError(f"design {design.name}: pretrained: {exc}") from None
        if entry.data not in cells:
            d = entry.data
            raise ConfigError(
                f"design {design.name}: pretrained {name} was trained on dose {d.dose:g}, view "
                f"{d.view} (overlap {d.overlap}), a {d.object_size}-pixel {d.object_kind} object "
                f"(seed {d.seed}) with {d.patch_size}-pixel patterns; no cell of the design is that"
            )


def _cell_jobs(design: StudyDesign, dose: float, view: ViewSpec) -> list[tuple[Phase, Job]]:
    """The jobs of one (dose, view) cell, each with its phase."""
    tag = cell_tag(dose, view.name)
    cell = {"dose": dose, "view": view.name}
    c_id = GENERATE.job_id(tag)
    data = generate_params(design, dose, view)
    generate = Job(c_id, GENERATE_JOB, data, cost=_generate_cost(view.overlap))
    files = {name: f"{GENERATE.job_dir(c_id)}/{name}.npz" for name in ("train", "test")}
    d_id = VIEWS.job_id(tag)
    describe = Job(
        d_id,
        VIEW_JOB,
        ViewParams(**cell, overlap=view.overlap),
        inputs=files,
        requires=(c_id,),
        cost=0.01,
    )
    network_files, network_source = files, c_id
    objects = None
    if design.network_data == "objects" and design.models:
        o_id = GENERATE.job_id(tag, "objects")
        objects = Job(
            o_id,
            OBJECTS_JOB,
            ObjectsParams(
                **cell,
                overlap=view.overlap,
                object_kind=design.object_kind,
                n_objects=design.training_objects,
                patch_size=design.patch_size,
                # Its own seed stream: never the study object's.
                seed=design.simulation_seed + 1,
            ),
            cost=design.training_objects * _generate_cost(view.overlap),
        )
        network_files = {**files, "train": f"{GENERATE.job_dir(o_id)}/objects.npz"}
        network_source = o_id
    trained = _train_jobs(design, cell, tag, network_files, c_id, network_source, view.overlap)
    trained += _pretrained_jobs(design, cell, tag, files, c_id, data)
    recons = [
        *trained,
        *_iterative_jobs(design, cell, tag, files, c_id, view.overlap),
        *_hybrid_jobs(design, cell, tag, files, trained, view.overlap),
    ]
    compare_inputs = {"test": files["test"], "view": f"{VIEWS.job_dir(d_id)}/view.json"}
    compare_inputs.update({object_input(r.method): r.path for r in recons})
    compare = Job(
        COMPARE.job_id(tag),
        COMPARE_JOB,
        CompareParams(
            **cell,
            tiles_per_side=design.tiles_per_side,
            sources={r.method: r.job.job_id for r in recons},
        ),
        inputs=compare_inputs,
        requires=(d_id, *(r.job.job_id for r in recons)),
        cost=0.2,
    )
    return [
        (GENERATE, generate),
        *([(GENERATE, objects)] if objects is not None else []),
        (VIEWS, describe),
        *((r.phase, r.job) for r in recons),
        (COMPARE, compare),
    ]


def _train_jobs(
    design: StudyDesign,
    cell: dict,
    tag: str,
    files: dict[str, str],
    c_id: str,
    source: str,
    overlap: float,
) -> list[_Recon]:
    """One training job per (model, seed); the method is the model name, with `@s<seed>` when
    the design has several seeds."""
    out = []
    for model in design.models:
        pinn = model == "pinn"
        for seed in design.seeds:
            method = model if len(design.seeds) == 1 else f"{model}@s{seed}"
            e_id = TRAIN.job_id(tag, model, f"s{seed}")
            params = TrainParams(
                **cell,
                model=model,
                seed=seed,
                epochs=design.pinn_epochs if pinn else design.epochs,
                batch_size=design.batch_size,
                learning_rate=(design.pinn_learning_rate or design.learning_rate)
                if pinn
                else design.learning_rate,
                gridsize=design.pinn_gridsize if pinn else 1,
                channels=design.channels,
                global_features=design.global_features,
                schedule=design.pinn_schedule if pinn else ScheduleConfig(),
                early_stop_patience=design.early_stop_patience,
                moment_rounds=design.network_moment_rounds,
            )
            requires = (c_id,) if source == c_id else (c_id, source)
            job = Job(
                e_id,
                TRAIN_JOB,
                params,
                inputs=files,
                requires=requires,
                cost=_training_cost(params, overlap),
            )
            path = f"{TRAIN.job_dir(e_id)}/recon/object.npy"
            out.append(_Recon(TRAIN, method, job, path, f"{TRAIN.job_dir(e_id)}/run/bundle.zip"))
    return out


def _pretrained_jobs(
    design: StudyDesign,
    cell: dict,
    tag: str,
    files: dict[str, str],
    c_id: str,
    data: GenerateParams,
) -> list[_Recon]:
    """One job per shipped bundle trained on this cell's data: its test-region object."""
    from ptycho_nl.pretrained.index import find_entry

    out = []
    for name in design.pretrained:
        entry = find_entry(name)
        if entry.data != data:
            continue
        e_id = TRAIN.job_id(tag, "pretrained", name)
        job = Job(
            e_id,
            PRETRAINED_JOB,
            PretrainedParams(
                **cell, name=name, sha256=entry.sha256, moment_rounds=design.network_moment_rounds
            ),
            inputs={"test": files["test"]},
            requires=(c_id,),
            cost=0.3,  # inference only: it was trained when it was made
        )
        path = f"{TRAIN.job_dir(e_id)}/recon/object.npy"
        out.append(_Recon(TRAIN, entry.method, job, path, f"{TRAIN.job_dir(e_id)}/bundle.zip"))
    return out


def _iterative_jobs(
    design: StudyDesign, cell: dict, tag: str, files: dict[str, str], c_id: str, overlap: float
) -> list[_Recon]:
    """One job per iterative solver."""
    out = []
    for method in design.iterative:
        f_id = ITERATIVE.job_id(tag, method)
        params = IterativeParams(
            **cell, method=method, iterations=design.iterations, seed=design.simulation_seed
        )
        job = Job(
            f_id,
            ITERATIVE_JOB,
            params,
            inputs={"test": files["test"]},
            requires=(c_id,),
            cost=_solver_cost(design.iterations, overlap),
        )
        out.append(_Recon(ITERATIVE, method, job, f"{ITERATIVE.job_dir(f_id)}/object.npy"))
    return out


def _hybrid_jobs(
    design: StudyDesign,
    cell: dict,
    tag: str,
    files: dict[str, str],
    trained: list[_Recon],
    overlap: float,
) -> list[_Recon]:
    """One job per (network, hybrid solver): the network's bundle refines from its test-region
    object; compared as '<network method>+<solver>'. Networks are trained or shipped ones."""
    out = []
    for net in trained:
        params = net.job.params
        shipped = isinstance(params, PretrainedParams)
        if shipped:
            from ptycho_nl.pretrained.index import find_entry

            model, train_seed, source = find_entry(params.name).model, None, params.name
            id_parts = ("pretrained", params.name)
        else:
            model, train_seed, source = params.model, params.seed, None
            id_parts = (params.model, f"s{params.seed}")
        for method in design.hybrid:
            f_id = ITERATIVE.job_id(tag, "hybrid", *id_parts, method)
            job = Job(
                f_id,
                HYBRID_JOB,
                HybridParams(
                    **cell,
                    method=method,
                    iterations=design.hybrid_iterations,
                    seed=design.simulation_seed,
                    model=model,
                    train_seed=train_seed,
                    pretrained=source,
                ),
                inputs={"test": files["test"], "bundle": net.bundle},
                requires=(net.job.job_id,),
                # the network's inference first (~0.3 s), then the refinement
                cost=0.3 + _solver_cost(design.hybrid_iterations, overlap),
            )
            path = f"{ITERATIVE.job_dir(f_id)}/object.npy"
            out.append(_Recon(ITERATIVE, f"{net.method}+{method}", job, path))
    return out
