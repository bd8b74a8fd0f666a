"""Network inference on a full R1 scan (484 patterns, predict + phase-synchronised stitch) versus
the time rPIE needs to reach the same phase SSIM, same data, same process, 2 threads.

With --bundle BUNDLE.zip (a network trained elsewhere, patch size 64) the target SSIM is that
network's own score on R1. Without one, an untrained `supervised` network of the standard size
is timed (inference cost does not depend on the weights) and the target is --target-ssim
(default 0.56: the best network phase SSIM of scenario R1-net at dose 1e4, docs/performance.md).

    OMP_NUM_THREADS=2 python benchmarks/bench_inference.py [--bundle B.zip] [--dose 1e4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Passive OpenMP waiting before torch loads: on shared, oversubscribed cores torch's default
# spin-waiting made 2-thread iterations ~100x slower (measured: 10 s vs 0.05 s per R1 iteration).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--dose", type=float, default=1e4)
    parser.add_argument("--target-ssim", type=float, default=0.56)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iterations", type=int, default=30)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from r1 import r1_data, score

    from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative
    from ptycho_nl.recon.network import reconstruct_from_bundle

    data = r1_data(args.dose)
    if args.bundle is not None:
        from ptycho_nl.train.bundle import load_bundle

        net = load_bundle(args.bundle)
        label = f"bundle {args.bundle.name} ({net.model_name})"
    else:
        from ptycho_nl.models.registry import build_model

        class Untrained:
            patch_size = 64
            model = build_model("supervised", n=64).eval()

            def predict(self, diffraction, *, batch_size=256, device="cpu"):
                with torch.no_grad():
                    return self.model(diffraction)

        net = Untrained()
        label = "untrained supervised network (timing only)"
    net_times, result = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = reconstruct_from_bundle(net, data, phase_sync=True)
        net_times.append(time.perf_counter() - start)
    net_seconds = statistics.median(net_times)
    target = score(result.object.numpy(), data.object)["phase_ssim"] if args.bundle else None
    target = target if target is not None else args.target_ssim

    # rPIE with its defaults, run for k = 1, 2, ... iterations (deterministic: the k-iteration
    # run is the prefix of longer ones) until its object reaches the target; the time is that
    # run's solver loop (set-up and scoring excluded).
    probe = torch.from_numpy(data.probe)
    solver_seconds, reached = 0.0, None
    for k in range(1, args.max_iterations + 1):
        options = IterativeOptions(method="rpie", iterations=k)
        run = reconstruct_iterative(data, options=options, initial_probe=probe)
        solver_seconds = run.total_seconds
        if score(run.object.numpy(), data.object)["phase_ssim"] >= target:
            reached = k
            break
    print(
        f"network: {label}: {net_seconds:.3f} s for {data.n_patterns} patterns "
        f"(median of {args.repeats}, predict + phase sync + stitch)"
    )
    if reached is None:
        print(
            f"rPIE did not reach phase SSIM {target:.3f} in {args.max_iterations} iterations "
            f"({solver_seconds:.2f} s)"
        )
        return
    print(
        f"rPIE reached phase SSIM {target:.3f} after {reached} iterations, {solver_seconds:.3f} s"
    )
    print(f"ratio (rPIE time / network time): {solver_seconds / net_seconds:.1f}x")


if __name__ == "__main__":
    main()
