"""Does training on many objects help a network on an object it has never seen?

Trains the PINN (gridsize 2, the study's settings) twice with the same number of optimiser
steps, measured in the same run:
- "region": on the training region of the study object (what the study does today);
- "objects": on a many-object training set (`simulate/training_set.py`: scikit-image pictures
  and textures, rotated and flipped, the test object's images excluded), same probe, dose and
  overlap;
then scores both on the held-out test region of the study object against a constant object.
Ratios below 1 (NRMSE against the constant) mean the network learned something a constant lacks.

    OMP_NUM_THREADS=2 python benchmarks/bench_generalisation.py --dose 1e5 --steps 3000
    python benchmarks/bench_generalisation.py --arms objects --procedural-fraction 1
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # finding PERF-001

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ptycho_nl.data.grouping import group_neighbours  # noqa: E402
from ptycho_nl.data.npz import load_npz  # noqa: E402
from ptycho_nl.evaluate.align import DEFAULT_MAX_SHIFT, align_to_truth  # noqa: E402
from ptycho_nl.evaluate.metrics import compute_metrics  # noqa: E402
from ptycho_nl.recon.network import reconstruct_from_bundle  # noqa: E402
from ptycho_nl.simulate.config import ProbeConfig, ScanConfig  # noqa: E402
from ptycho_nl.simulate.training_set import TrainingSetConfig, write_training_set  # noqa: E402
from ptycho_nl.study.compare import held_out_region_mask  # noqa: E402
from ptycho_nl.study.job_kinds import (  # noqa: E402
    PROBE_APERTURE,
    PROBE_DEFOCUS,
    SCAN_JITTER,
    GenerateParams,
    generate,
)
from ptycho_nl.study.jobs import JobContext  # noqa: E402
from ptycho_nl.train.bundle import load_bundle  # noqa: E402
from ptycho_nl.train.config import default_config  # noqa: E402
from ptycho_nl.train.loop import train  # noqa: E402


def _score(bundle_path: Path, test) -> dict:
    bundle = load_bundle(bundle_path)
    truth, mask = np.asarray(test.object), held_out_region_mask(test)
    stitched = reconstruct_from_bundle(bundle, test, phase_sync=True).object.numpy()
    aligned = align_to_truth(stitched, truth, mask, max_shift=DEFAULT_MAX_SHIFT).recon
    return compute_metrics(aligned, truth, mask=mask, register=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dose", type=float, default=1e5)
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps of each run")
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--tile-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16, help="groups per step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--procedural-fraction", type=float, default=0.25, help="share of texture tiles"
    )
    parser.add_argument("--arms", default="region,objects", help="comma-separated arms to run")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    work = Path(tempfile.mkdtemp(prefix="generalise-"))
    params = GenerateParams(
        dose=args.dose, view="dense", overlap=0.7, object_kind="procedural",
        object_size=256, patch_size=32, seed=0,
    )  # fmt: skip
    generate(
        JobContext(study_dir=work, job_id="C", params=params, inputs={}, out_dir=work, threads=2)
    )
    test = load_npz(work / "test.npz")
    objects = TrainingSetConfig(
        n_objects=args.objects,
        tile_size=args.tile_size,
        probe=ProbeConfig(size=32, kind="disk", aperture=PROBE_APERTURE, defocus=PROBE_DEFOCUS),
        scan=ScanConfig(overlap=0.7, jitter=SCAN_JITTER),
        dose=args.dose,
        seed=1,
        procedural_fraction=args.procedural_fraction,
    )
    write_training_set(objects, work / "objects.npz")
    truth, mask = np.asarray(test.object), held_out_region_mask(test)
    flat = compute_metrics(np.ones_like(truth), truth, mask=mask, register=False)
    print(f"constant object: phase SSIM {flat['phase_ssim']:.3f}, NRMSE {flat['nrmse']:.3f}")
    arms = {"region": work / "train.npz", "objects": work / "objects.npz"}
    for name in args.arms.split(","):
        path = arms[name]
        data = load_npz(path)
        groups = len(group_neighbours(data.positions, 2))
        steps_per_epoch = math.ceil(0.8 * groups / args.batch_size)  # 20% validation
        epochs = max(1, round(args.steps / steps_per_epoch))
        cfg = default_config(
            "pinn",
            epochs=epochs,
            batch_size=args.batch_size,
            device="cpu",
            optimizer={"name": "adam", "lr": args.lr, "weight_decay": 0.0},
            data={"gridsize": 2, "val_fraction": 0.2, "max_groups": None},
        )
        start = time.perf_counter()
        run = train(cfg, path, work / f"run-{name}", progress=False)
        seconds = time.perf_counter() - start
        m = _score(run.bundle_path, test)
        print(
            f"{name:<8} {data.n_patterns} patterns, {epochs} epochs (~{epochs * steps_per_epoch} "
            f"steps) in {seconds:.0f} s: phase SSIM {m['phase_ssim']:.3f}, NRMSE "
            f"{m['nrmse']:.3f} (x{m['nrmse'] / flat['nrmse']:.2f} of constant)"
        )


if __name__ == "__main__":
    main()
