"""Training-step speed of the study's networks on CPU: the PINN's gridsize-2 step (network,
merged-group Poisson loss, Adam) with the PatchNet's convolution weights in the default
(channels-first) layout against channels-last, the layout the models now use, in one process
with repeats interleaved.

    OMP_NUM_THREADS=1 python benchmarks/bench_train_step.py [--patch 32] [--batch 16] [--repeats 7]

One thread by default: each study job trains on one core. Prints milliseconds per step for
each layout, their ratio and the largest difference of the two networks' outputs.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="groups of 4 patterns per step")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    args = parser.parse_args()

    import torch

    from ptycho_nl.models.backbone import LossContext
    from ptycho_nl.models.registry import build_model
    from ptycho_nl.study.design import COMPACT_CHANNELS, COMPACT_DENSE

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.use_deterministic_algorithms(True, warn_only=True)  # as the trainer runs
    n, b = args.patch, args.batch
    torch.manual_seed(0)
    model = build_model("pinn", n=n, channels=list(COMPACT_CHANNELS), global_features=COMPACT_DENSE)
    layouts = {
        "channels-first": copy.deepcopy(model).to(memory_format=torch.contiguous_format),
        "channels-last": copy.deepcopy(model).to(memory_format=torch.channels_last),
    }
    grid = torch.tensor([[0.0, 0.0], [0.0, n / 4], [n / 4, 0.0], [n / 4, n / 4]])
    batch = {
        "diffraction": torch.rand(b, 4, n, n) * 3,
        "positions": grid[None] + torch.rand(b, 1, 2) * 4 * n,
    }
    axis = (torch.arange(n) - n / 2) ** 2
    probe = torch.exp(-(axis[:, None] + axis[None, :]) / (n * 1.5)).to(torch.complex64)
    context = LossContext(probe=probe, intensity_scale=10.0, overlap_weight=1000.0)
    optimisers = {k: torch.optim.Adam(m.parameters(), 2e-3) for k, m in layouts.items()}
    with torch.no_grad():
        x = batch["diffraction"][:, 0]
        first, last = (layouts[k](x) for k in layouts)
        diff = float((first - last).abs().max())

    def step(name: str) -> None:
        opt = optimisers[name]
        opt.zero_grad(set_to_none=True)
        loss, _ = layouts[name].training_loss(batch, context)
        loss.backward()
        opt.step()

    for name in layouts:  # warm-up: oneDNN primitives, allocator
        for _ in range(3):
            step(name)
    times: dict[str, list[float]] = {name: [] for name in layouts}
    for _ in range(args.repeats):
        for name in layouts:
            start = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            times[name].append((time.perf_counter() - start) / args.steps)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"PINN gridsize-2 step, N={n}, {b} groups, {torch.get_num_threads()} thread(s), "
        f"median of {args.repeats} x {args.steps} steps"
    )
    for name, value in med.items():
        print(f"{name:<15} {value * 1e3:7.1f} ms/step")
    print(
        f"ratio channels-first / channels-last: {med['channels-first'] / med['channels-last']:.2f}x"
        f"; max |output difference| {diff:.1e}"
    )


if __name__ == "__main__":
    main()
