"""Does a network's object cut the iterative solvers' time to their best quality? Scenario R1.

Issue 17's hybrid goal, measured on R1 (docs/performance.md, "Scenarios"; known probe) at one
dose, every arm in the same run on the same data:
- **iterative**: each solver of `--solvers` from an object of ones, every pass scored. The best
  iterative NRMSE is the lowest any of them reaches; each of `--tolerances` makes a target,
  that value times (1 + tolerance), and the iterative time to a target is the fastest solver's.
- **network**: a network trained on other objects (R1-net: scikit-image pictures and textures,
  R1's `camera` and `moon` excluded, R1's probe, scan step and dose), its stitched,
  phase-synchronised object on R1.
- **network + moments**: that object after 1, 2 and 3 corrections of its coarse amplitude and
  phase from the data's per-pattern total counts and centres of mass (`recon/moments.py`), no
  iterative pass; timed from the network stage on.
- **hybrid**: that object refined by `--refine-method`, every pass scored; its time includes the
  network stage. One row per `--starts` entry `H:R`: the solver starts from the network's
  amplitude and its phase without the Gaussian low-pass of H probe diameters (0: the whole
  object), then R moment rounds (`recon/hybrid.py`).
- **moments from ones**: no network: an object of ones after `--ones-rounds` moment rounds,
  refined the same way (what the moments give without the network).
- **oracle starts**: the truth blurred by a Gaussian of sigma pixels (real and imaginary parts),
  refined the same way, to show how good a start must be. Their time is the refinement only.

The clock excludes scoring (`recon/quality_trace.py`). The goal: hybrid time <= 20% of the
iterative time.

    OMP_NUM_THREADS=2 python benchmarks/bench_hybrid.py          # trains 64 tiles x 12 epochs
    python benchmarks/bench_hybrid.py --bundle run/bundle.zip      # score a trained bundle
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # finding PERF-001
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from r1 import SCORE, STEP, N, r1_data, r1_probe  # noqa: E402

from ptycho_nl import physics  # noqa: E402
from ptycho_nl.data.npz import save_npz  # noqa: E402
from ptycho_nl.data.types import PtychoData  # noqa: E402
from ptycho_nl.recon.hybrid import reconstruct_hybrid  # noqa: E402
from ptycho_nl.recon.iterative import reconstruct_iterative  # noqa: E402
from ptycho_nl.recon.options import IterativeOptions  # noqa: E402
from ptycho_nl.recon.quality_trace import QualityTrace, time_to_reach  # noqa: E402
from ptycho_nl.simulate.config import ObjectConfig  # noqa: E402
from ptycho_nl.simulate.training_set import (  # noqa: E402
    TrainingSetConfig,
    make_tiles,
    place_tiles,
    scanned_data,
)
from ptycho_nl.train.bundle import load_bundle  # noqa: E402
from ptycho_nl.train.config import default_config  # noqa: E402
from ptycho_nl.train.loop import train  # noqa: E402

R1_IMAGES = ["camera", "moon"]  # R1's amplitude and phase: never in the training set


def training_set(args) -> PtychoData:
    """Tiles of other objects in R1's ranges, each scanned like R1 (9 px raster, +-1 px jitter)
    with R1's probe, Poisson noise at the dose with one intensity scale for all tiles."""
    config = TrainingSetConfig(
        n_objects=args.tiles,
        tile_size=args.tile_size,
        exclude=R1_IMAGES,
        object=ObjectConfig(kind="procedural", amplitude_min=0.5, max_phase=math.pi / 2),
        procedural_fraction=args.procedural_fraction,
        seed=1,
    )
    mosaic, origins = place_tiles(make_tiles(config), N)
    side, rng = args.tile_size, np.random.default_rng(1)
    grid = np.arange(0, side - N + 1, STEP, dtype=np.float64)
    corners = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    positions = []
    for origin in origins:
        jittered = np.clip(corners + rng.uniform(-1, 1, corners.shape), 0, side - N)
        positions.append(jittered + N / 2 + np.array(origin))
    pos = torch.from_numpy(np.concatenate(positions))
    return scanned_data(
        mosaic,
        torch.from_numpy(r1_probe()),
        pos,
        args.dose,
        seed=1,
        metadata={"generator": "benchmarks/bench_hybrid.py", "split": "train"},
    )


def train_network(args, work: Path):
    path = save_npz(training_set(args), work / "objects.npz")
    config = default_config(
        args.model,
        epochs=args.epochs,
        batch_size=16,
        seed=0,
        device="cpu",
        optimizer={"name": "adam", "lr": args.lr, "weight_decay": 0.0},
        schedule={"name": "cosine", "warmup_epochs": 2, "min_lr_factor": 0.05},
        data={"gridsize": args.gridsize, "val_fraction": 0.1, "max_groups": None},
        checkpoint_every=args.epochs,
    )
    shape = {"channels": (16, 32, 64), "global_features": 256}  # the presets' compact network
    config = config.model_copy(update={"model": config.model.model_copy(update=shape)})
    start = time.perf_counter()
    run = train(config, path, work / "run", progress=True)
    if run.status == "failed":
        raise SystemExit(f"training failed: {run.error}")
    return load_bundle(run.bundle_path), time.perf_counter() - start


def _fmt(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dose", type=float, default=1e4)
    parser.add_argument("--solvers", default="epie,rpie", help="iterative arms from scratch")
    parser.add_argument("--iterations", type=int, default=300, help="passes from scratch")
    parser.add_argument("--refine-method", default="epie")
    parser.add_argument("--refine", type=int, default=120, help="passes of the hybrid")
    parser.add_argument("--tolerances", default="0.01,0.05", help="targets above the best NRMSE")
    parser.add_argument("--model", default="supervised", choices=["supervised", "pinn"])
    parser.add_argument("--gridsize", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--tiles", type=int, default=64)
    parser.add_argument("--tile-size", type=int, default=160)
    parser.add_argument("--procedural-fraction", type=float, default=0.25)
    parser.add_argument(
        "--starts", default="0:0,2:0,0:1,2:1,2:2",
        help="hybrid starts H:R, H the phase high-pass in probe diameters (0: whole), R rounds",
    )  # fmt: skip
    parser.add_argument("--ones-rounds", type=int, default=5, help="moment rounds from ones")
    parser.add_argument("--work", type=Path, help="keep the training set and run here")
    parser.add_argument("--bundle", type=Path, help="score this bundle instead of training one")
    parser.add_argument("--oracle-sigmas", default="4,8,16", help="blurred-truth starts, px")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    data = r1_data(args.dose)
    truth = np.asarray(data.object)
    mask = np.zeros(truth.shape, dtype=bool)
    mask[SCORE, SCORE] = True

    def trace(passes: int) -> QualityTrace:
        return QualityTrace(truth, mask, checkpoints=passes)

    runs: dict[str, QualityTrace] = {}
    for method in args.solvers.split(","):
        runs[method] = trace(args.iterations)
        options = IterativeOptions(method=method, iterations=args.iterations)
        reconstruct_iterative(data, options=options, trace=runs[method])
    best = min(p.nrmse for t in runs.values() for p in t.points)
    targets = [best * (1 + float(tol)) for tol in args.tolerances.split(",")]
    iterative = {}  # target -> the fastest solver's time to it
    print(f"R1, dose {args.dose:g}, known probe; best iterative NRMSE {best:.4f}")
    for method, t in runs.items():
        final = t.points[-1]
        reached = ", ".join(f"{target:.4f} at {_fmt(time_to_reach(t.points, target))}"
                            for target in targets)  # fmt: skip
        print(f"  {method:<6} from ones: {reached}; after {final.iteration} passes "
              f"{final.seconds:.2f} s, NRMSE {final.nrmse:.4f}")  # fmt: skip
    for target in targets:
        times = [time_to_reach(t.points, target) for t in runs.values()]
        iterative[target] = min((s for s in times if s is not None), default=None)

    def against(points) -> str:
        parts = []
        for target, base in iterative.items():
            seconds = time_to_reach(points, target)
            share = "" if seconds is None or base is None else f" = {seconds / base:.0%}"
            parts.append(f"{target:.4f} at {_fmt(seconds)} vs {_fmt(base)}{share}")
        return "; ".join(parts)

    refine = IterativeOptions(method=args.refine_method, iterations=args.refine)
    if args.bundle is not None:
        bundle, train_seconds = load_bundle(args.bundle), float("nan")
    elif args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        bundle, train_seconds = train_network(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-hybrid-") as tmp:
            bundle, train_seconds = train_network(args, Path(tmp))
    alone = trace(1)
    network = reconstruct_hybrid(bundle, data, refine=None, trace=alone)
    made = (
        f"bundle {args.bundle}"
        if args.bundle is not None
        else f"{args.model}, gridsize {args.gridsize}, {args.epochs} epochs on {args.tiles} other "
        f"objects, trained in {train_seconds:.0f} s"
    )
    print(f"network ({made}): network stage {network.network_seconds:.2f} s, NRMSE "
          f"{alone.points[0].nrmse:.4f}")  # fmt: skip
    from ptycho_nl.recon.hybrid import warm_start
    from ptycho_nl.recon.moments import correct_coarse
    from ptycho_nl.recon.network import reconstruct_from_bundle

    for rounds in (1, 2, 3):
        begin = time.perf_counter()
        start = warm_start(reconstruct_from_bundle(bundle, data), data)
        fixed, outcome = correct_coarse(start, data, rounds)
        seconds = time.perf_counter() - begin
        scored = QualityTrace(truth, mask, checkpoints=1)
        scored.record(seconds, 0, fixed, "network")
        print(f"  network + {rounds} moment round(s) ({outcome.rounds} kept), no iterative pass: "
              f"{seconds:.2f} s, NRMSE {scored.points[0].nrmse:.4f}")  # fmt: skip
    for entry in args.starts.split(","):
        cut, rounds = float(entry.split(":")[0]), int(entry.split(":")[1])
        hybrid_trace = trace(args.refine)
        hybrid = reconstruct_hybrid(
            bundle, data, refine=refine, trace=hybrid_trace, phase_highpass=cut,
            moment_rounds=rounds,
        )  # fmt: skip
        start = f"phase without its {cut:g}-diameter low-pass" if cut else "the whole object"
        kept = f", {hybrid.coarse.rounds} of {rounds} moment rounds" if rounds else ""
        print(f"  hybrid ({args.refine_method} from the network's {start}{kept}; network stage "
              f"{hybrid.network_seconds:.2f} s): {against(hybrid_trace.points)}; after "
              f"{args.refine} passes NRMSE {hybrid_trace.points[-1].nrmse:.4f}")  # fmt: skip
    begin = time.perf_counter()
    ones = torch.ones(truth.shape, dtype=torch.complex64)
    ones = (
        ones
        * (
            float(np.square(np.asarray(data.diffraction, np.float64)).sum())
            / float(
                physics.forward_intensity(
                    ones, torch.as_tensor(data.probe), torch.as_tensor(data.positions)
                ).sum()
            )
        )
        ** 0.5
    )
    ones, outcome = correct_coarse(ones, data, args.ones_rounds)  # fmt: skip
    seconds = time.perf_counter() - begin
    from_ones = trace(args.refine)
    from_ones.offset = seconds
    from_ones.record(0.0, 0, ones, "moments")
    reconstruct_iterative(data, options=refine, initial_object=ones, trace=from_ones)
    print(f"  ones + {outcome.rounds} moment rounds ({seconds:.2f} s, no network), then "
          f"{args.refine_method}: start NRMSE {from_ones.points[0].nrmse:.4f}; "
          f"{against(from_ones.points)}")  # fmt: skip
    from scipy.ndimage import gaussian_filter

    for sigma in [float(s) for s in args.oracle_sigmas.split(",") if s]:
        start = gaussian_filter(truth.real, sigma) + 1j * gaussian_filter(truth.imag, sigma)
        oracle = trace(args.refine)
        reconstruct_iterative(
            data, options=refine, initial_object=torch.from_numpy(start.astype(np.complex64)),
            trace=oracle,
        )  # fmt: skip
        print(f"  truth blurred, sigma {sigma:g} px (start NRMSE {oracle.points[0].nrmse:.4f}), "
              f"refinement only: {against(oracle.points)}")  # fmt: skip


if __name__ == "__main__":
    main()
