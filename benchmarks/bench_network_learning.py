"""Do the networks learn held-out object patches on a CPU budget?

Trains `pinn` and `supervised` on the training region of a study-style dataset, then compares,
on the held-out test region and measured in the same run:
- per-patch error (best complex scalar removed per patch, weighted by |P|^2) against a flat patch;
- stitched phase/amplitude SSIM and NRMSE against a constant object (the study's floor);
- the Poisson deviance of the training fit against the true object's and a flat object's.
Ratios below 1 (error) or above 1 (SSIM) mean the network learned something a constant lacks.

    python benchmarks/bench_network_learning.py --object-size 320 --epochs 30 --dose 1e5
    python benchmarks/bench_network_learning.py --models pinn --gridsize 2 --pinn-epochs 30
    python benchmarks/bench_network_learning.py --dose 1e4 --channels 16,32,64 \
        --global-features 0,256  # network shapes side by side (finding NET-003)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # finding PERF-001

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ptycho_nl import physics  # noqa: E402
from ptycho_nl.data.npz import load_npz  # noqa: E402
from ptycho_nl.evaluate.align import DEFAULT_MAX_SHIFT, align_to_truth  # noqa: E402
from ptycho_nl.evaluate.metrics import compute_metrics  # noqa: E402
from ptycho_nl.models.pinn import poisson_deviance, predicted_rate  # noqa: E402
from ptycho_nl.recon.network import reconstruct_from_bundle  # noqa: E402
from ptycho_nl.study.compare import held_out_region_mask  # noqa: E402
from ptycho_nl.study.job_kinds import GenerateParams, generate  # noqa: E402
from ptycho_nl.study.jobs import JobContext  # noqa: E402
from ptycho_nl.train.bundle import load_bundle  # noqa: E402
from ptycho_nl.train.config import default_config  # noqa: E402
from ptycho_nl.train.loop import train  # noqa: E402


def patch_error(patches: torch.Tensor, truth: torch.Tensor, probe: torch.Tensor) -> float:
    """Mean over patches of the |P|^2-weighted relative error after the best per-patch scalar."""
    w = probe.abs().square()
    w = w / w.max()
    scalar = (w * patches.conj() * truth).sum((-2, -1)) / (w * patches.abs().square()).sum((-2, -1))
    fitted = patches * scalar[:, None, None]
    err = (w * (fitted - truth).abs().square()).sum((-2, -1)) / (w * truth.abs().square()).sum(
        (-2, -1)
    )
    return float(err.sqrt().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dose", type=float, default=1e5)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=16, help="groups per step")
    parser.add_argument("--models", default="pinn,supervised", help="comma-separated models")
    parser.add_argument("--gridsize", type=int, default=1, help="PINN neighbour groups g x g")
    parser.add_argument("--overlap-weight", type=float, default=None, help="PINN overlap term")
    parser.add_argument("--loss", default=None, help="PINN data term: poisson or amplitude_mae")
    parser.add_argument("--pinn-epochs", type=int, default=None, help="PINN epochs (else --epochs)")
    parser.add_argument(
        "--global-features", default="0", help="dense bottleneck widths to compare, e.g. 0,256"
    )
    parser.add_argument("--channels", default="32,64,128", help="encoder widths")
    parser.add_argument("--input-transform", default="linear", help="linear or log1p")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the data keep seed 0)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="netlearn-"))
    params = GenerateParams(
        dose=args.dose,
        view="dense",
        overlap=0.7,
        object_kind="procedural",
        object_size=args.object_size,
        patch_size=32,
        seed=0,
    )
    generate(
        JobContext(study_dir=work, job_id="C", params=params, inputs={}, out_dir=work, threads=2)
    )
    train_data, test = load_npz(work / "train.npz"), load_npz(work / "test.npz")
    probe = torch.from_numpy(np.asarray(test.probe))
    truth_patches = torch.from_numpy(np.asarray(test.patches))
    truth = np.asarray(test.object)
    mask = held_out_region_mask(test)
    flat = compute_metrics(np.ones_like(truth), truth, mask=mask, register=False)
    flat_patch = patch_error(torch.ones_like(truth_patches), truth_patches, probe)
    counts = physics.amplitude_to_counts(
        torch.from_numpy(np.asarray(train_data.diffraction)), train_data.intensity_scale
    )
    train_truth = torch.from_numpy(np.asarray(train_data.patches))
    dev_truth = float(
        poisson_deviance(predicted_rate(train_truth, probe, train_data.intensity_scale), counts)
    )
    dev_flat = float(
        poisson_deviance(
            predicted_rate(torch.full_like(train_truth, 0.75), probe, train_data.intensity_scale),
            counts,
        )
    )
    print(
        f"data: {train_data.n_patterns} training and {test.n_patterns} test patterns of 32x32, dose {args.dose:g}"
    )
    print(f"training deviance of the true object {dev_truth:.3f}, of a flat object {dev_flat:.3f}")
    print(
        f"constant object on the test region: phase SSIM {flat['phase_ssim']:.3f}, "
        f"amplitude SSIM {flat['amplitude_ssim']:.3f}, NRMSE {flat['nrmse']:.3f}; flat-patch error {flat_patch:.3f}"
    )
    channels = [int(c) for c in args.channels.split(",")]
    arms = [(m, int(g)) for m in args.models.split(",") for g in args.global_features.split(",")]
    for model, global_features in arms:
        overrides: dict = {}
        if model == "pinn":
            loss = default_config(model).loss.model_dump()
            if args.overlap_weight is not None:
                loss["overlap_weight"] = args.overlap_weight
            if args.loss is not None:
                loss["kind"] = args.loss
            overrides = {"loss": loss, "data": {"gridsize": args.gridsize}}
        epochs = args.pinn_epochs if model == "pinn" and args.pinn_epochs else args.epochs
        cfg = default_config(
            model,
            epochs=epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            device="cpu",
            optimizer={"name": "adam", "lr": args.lr, "weight_decay": 0.0},
            **overrides,
        )
        shape = {
            "channels": tuple(channels),
            "global_features": global_features,
            "input_transform": args.input_transform,
        }
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update=shape)})
        start = time.perf_counter()
        run = train(
            cfg, work / "train.npz", work / f"run-{model}-{global_features}", progress=False
        )
        seconds = time.perf_counter() - start
        bundle = load_bundle(run.bundle_path)
        predicted = bundle.predict(torch.from_numpy(np.asarray(test.diffraction)))
        err = patch_error(predicted, truth_patches, probe)
        stitched = reconstruct_from_bundle(bundle, test, phase_sync=True).object.numpy()
        aligned = align_to_truth(stitched, truth, mask, max_shift=DEFAULT_MAX_SHIFT).recon
        m = compute_metrics(aligned, truth, mask=mask, register=False)
        print(
            f"{model:<10} channels {args.channels} global {global_features:<4} "
            f"{args.input_transform} {seconds:6.1f} s train, best val loss {run.best_val_loss:.3f}; "
            f"patch error {err:.3f} (x{err / flat_patch:.2f} of flat); "
            f"phase SSIM {m['phase_ssim']:.3f} (constant {flat['phase_ssim']:.3f}), "
            f"amplitude SSIM {m['amplitude_ssim']:.3f} (constant {flat['amplitude_ssim']:.3f}), "
            f"NRMSE {m['nrmse']:.3f} (x{m['nrmse'] / flat['nrmse']:.2f} of constant)"
        )


if __name__ == "__main__":
    main()
