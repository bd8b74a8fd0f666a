"""Adam's step on CPU for the study's compact PINN: torch's per-tensor loop (its CPU default)
against the multi-tensor `foreach` step that `make_optimizer` asks for, repeats interleaved in
one process, plus the largest difference of the parameters after the same steps (0: the same
arithmetic).

    OMP_NUM_THREADS=1 python benchmarks/bench_optimizer.py [--repeats 7] [--steps 50]
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
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per timed repeat")
    args = parser.parse_args()

    import torch

    from ptycho_nl.models.registry import build_model
    from ptycho_nl.study.design import COMPACT_CHANNELS, COMPACT_DENSE

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    model = build_model(
        "pinn", n=32, channels=list(COMPACT_CHANNELS), global_features=COMPACT_DENSE
    )
    models = {"loop": copy.deepcopy(model), "foreach": copy.deepcopy(model)}
    optimisers = {
        k: torch.optim.Adam(m.parameters(), 3e-3, foreach=(k == "foreach"))
        for k, m in models.items()
    }
    gen = torch.Generator().manual_seed(1)
    for grads in zip(*(list(m.parameters()) for m in models.values()), strict=True):
        g = torch.randn(grads[0].shape, generator=gen)
        for p in grads:
            p.grad = g.clone()
    times: dict[str, list[float]] = {k: [] for k in models}
    for k in models:  # warm-up
        for _ in range(3):
            optimisers[k].step()
    for _ in range(args.repeats):
        for k, opt in optimisers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                opt.step()
            times[k].append((time.perf_counter() - start) / args.steps * 1e3)
    diff = max(
        float((a - b).detach().abs().max())
        for a, b in zip(*(m.parameters() for m in models.values()), strict=True)
    )
    params = sum(p.numel() for p in model.parameters())
    loop, fast = (statistics.median(times[k]) for k in ("loop", "foreach"))
    print(f"Adam step, {params / 1e6:.2f} M parameters, {torch.get_num_threads()} thread(s)")
    print(f"  per-tensor loop  {loop:.2f} ms")
    print(f"  foreach          {fast:.2f} ms")
    print(f"  ratio            {loop / fast:.2f}x   max |difference| {diff:.1e}")


if __name__ == "__main__":
    main()
