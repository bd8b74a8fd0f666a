"""Making a shipped bundle: one study cell's network, trained longer than a demo can afford.

A recipe is a one-cell study design derived from a preset: the preset's object, probe, dose,
view, network shape, batch and learning-rate schedule, with only the epochs raised (and no early
stop, no solver). `make_pretrained` runs that study, copies the network's bundle beside the
index, and records its hash, its held-out metrics and how it was made. The bundle is bit-for-bit
reproducible only on the same CPU kind and thread count (finding NET-008: training follows the
rounding of the machine's kernels); its recorded metrics are what the test reproduces.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write, atomic_write_text, sha256_file
from ptycho_nl.pretrained.index import (
    INDEX_FILE,
    PACKAGE_DIR,
    HeldOutMetrics,
    PretrainedEntry,
    load_index,
)
from ptycho_nl.study.design import DENSE, PRESETS, ModelName, StudyDesign, ViewSpec

# The demo's dense, highest-dose PINN trained for 2x the demo's 60 epochs, its cosine schedule
# stretched over them (finding NET-008: held-out quality against epochs).
DEMO_PRETRAIN_EPOCHS = 120


def one_cell_recipe(
    base: StudyDesign, dose: float, view: ViewSpec, *, model: ModelName, epochs: int
) -> StudyDesign:
    """`base` cut to the (dose, view) cell and `model`, trained for `epochs`, nothing else run."""
    pinn = model == "pinn"
    return StudyDesign.model_validate(
        {
            **base.model_dump(),
            "name": f"{base.name}-pretrain-{model}",
            "doses": [dose],
            "views": [view.model_dump()],
            "models": [model],
            "iterative": [],
            "hybrid": [],
            "pretrained": [],
            "seeds": [base.seeds[0]],
            "early_stop_patience": 0,
            # The recipe trains; the bundle's recorded metrics are of its object as is.
            "network_moment_rounds": 0,
            **({"pinn_epochs": epochs} if pinn else {"epochs": epochs}),
        }
    )


RECIPES: dict[str, Callable[[], StudyDesign]] = {
    "demo-pinn-d1e5-dense": lambda: one_cell_recipe(
        PRESETS["demo"], 1e5, DENSE, model="pinn", epochs=DEMO_PRETRAIN_EPOCHS
    ),
}


def recipe_for(name: str) -> StudyDesign:
    if name not in RECIPES:
        raise PtychoError(
            f"no recipe for pretrained bundle {name!r} (recipes: {', '.join(RECIPES)})"
        )
    return RECIPES[name]()


def make_pretrained(
    name: str,
    recipe: StudyDesign,
    work_dir: str | Path,
    *,
    directory: str | Path = PACKAGE_DIR,
    progress: bool = False,
) -> PretrainedEntry:
    """Train `recipe` in `work_dir`, then write `<directory>/<name>.zip` and its index entry.

    Both files are written atomically (the bundle before the entry that names it), so a crash
    leaves the old index valid. Raises PtychoError when the recipe's study fails.
    """
    import torch

    from ptycho_nl.study.dose_overlap import run_study
    from ptycho_nl.study.jobs import load_manifest
    from ptycho_nl.study.phases import COMPARE, TRAIN, cell_tag
    from ptycho_nl.study.plan import generate_params
    from ptycho_nl.train.bundle import load_bundle

    if len(recipe.doses) != 1 or len(recipe.views) != 1 or len(recipe.models) != 1:
        raise PtychoError(f"recipe {recipe.name}: needs one dose, one view and one model")
    work_dir, directory = Path(work_dir), Path(directory)
    result = run_study(recipe, work_dir, progress=progress)
    if result.failed_jobs:
        raise PtychoError(f"recipe {recipe.name}: {result.failed_jobs} job(s) failed in {work_dir}")
    dose, view, model = recipe.doses[0], recipe.views[0], recipe.models[0]
    tag = cell_tag(dose, view.name)
    train_job = load_manifest(work_dir, TRAIN.key).jobs[
        TRAIN.job_id(tag, model, f"s{recipe.seeds[0]}")
    ]
    scores = load_manifest(work_dir, COMPARE.key).jobs[COMPARE.job_id(tag)].metrics["methods"]
    source = work_dir / train_job.outputs["bundle"].path
    load_bundle(source)  # checked against its run's manifest before it is copied
    run_record = json.loads((source.parent / "manifest.json").read_text(encoding="utf-8"))
    target = directory / f"{name}.zip"
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    compute = train_job.compute
    entry = PretrainedEntry(
        name=name,
        file=target.name,
        sha256=sha256_file(target),
        size_bytes=target.stat().st_size,
        model=model,
        data=generate_params(recipe, dose, view),
        recipe=recipe,
        epochs_trained=int(train_job.metrics["epochs"]),
        training_seconds=compute.wall_s if compute is not None else train_job.duration_s,
        metrics=HeldOutMetrics(**{k: scores[model][k] for k in HeldOutMetrics.model_fields}),
        made_with={
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            # the training job's own thread count (the runner sets it per job)
            "threads": str(run_record["environment"]["torch_threads"]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        },
        command=f"ptycho-nl pretrained make {name}",
    )
    index = load_index(directory)
    index.bundles[name] = entry
    atomic_write_text(directory / INDEX_FILE, index.model_dump_json(indent=2) + "\n")
    return entry
