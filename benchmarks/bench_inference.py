"""Full-scan network inference speed on R1 (484 patterns of 64x64): patterns per second of the
whole reconstruction (predict, phase synchronisation, stitching) and each stage's share, for
today's pipeline and the current one, in the same process, repeats interleaved.

"Today's" is the code of git revision --baseline (default: the commit before the speed-up):
its recon/phase_sync.py, recon/stitch.py, recon/network.py and train/bundle.py are read with
`git show` and loaded as private modules, so both pipelines run side by side on the same data
and the same network weights. Its stages are timed by wrapping its own predict and phase_offsets.
Option rows vary one setting of the current pipeline: predict batch size, bfloat16 autocast
(meant for GPUs; on CPU only where it has bfloat16 instructions) and, with --compile,
torch.compile (its compile time is printed and not hidden in the median). Each row gives wall
clock and process CPU seconds (the latter not inflated by other processes on shared cores).

Without --bundle an untrained `supervised` network of the standard size is timed (inference cost
does not depend on the weights), and a row "new, CHANNELS+DENSE net" times another network
shape through the current pipeline (--shape, default the compact 16-32-64 network with a
256-wide dense bottleneck that trains as fast and scores better, finding NET-003). --rpie adds the old comparison: the time rPIE needs to reach the
network's phase SSIM (a bundle's own score, or --target-ssim).

    OMP_NUM_THREADS=2 python benchmarks/bench_inference.py [--bundle B.zip] [--repeats 5]
        [--device cuda] [--compile] [--rpie]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Passive OpenMP waiting before torch loads: on shared, oversubscribed cores torch's default
# spin-waiting made 2-thread iterations ~100x slower (measured: 10 s vs 0.05 s per R1 iteration).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "043f258dbd9b5216bc1596310e6c3ec7a7c61fab"  # before the inference speed-up
STAGES = ("predict", "phase_sync", "stitch")


def _module_from_revision(rev: str, path: str, name: str, swaps: dict):
    """Load `path` as it was at `rev` into a fresh module; `swaps` stand in, while it loads, for
    the library modules it imports (so old code calls old code)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    saved = {key: sys.modules.get(key) for key in swaps}
    sys.modules.update(swaps)
    try:
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, None))
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        exec(compile(source, f"{rev[:7]}:{path}", "exec"), module.__dict__)
    finally:
        for key, value in saved.items():
            sys.modules.pop(key) if value is None else sys.modules.__setitem__(key, value)
    return module


class Timed:
    """Wraps a function and adds its seconds to `clock[key]`."""

    def __init__(self, fn, clock: dict, key: str):
        self.fn, self.clock, self.key = fn, clock, key

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.clock[self.key] = self.clock.get(self.key, 0.0) + time.perf_counter() - start


def baseline_pipeline(rev: str, model, meta: dict, device: str = "cpu"):
    """Today's reconstruct_from_bundle, its Bundle.predict and phase sync, instrumented."""
    ps = _module_from_revision(rev, "ptycho_nl/recon/phase_sync.py", "old_phase_sync", {})
    swap = {"ptycho_nl.recon.phase_sync": ps}
    stitch = _module_from_revision(rev, "ptycho_nl/recon/stitch.py", "old_stitch", swap)
    net = _module_from_revision(
        rev, "ptycho_nl/recon/network.py", "old_network", {**swap, "ptycho_nl.recon.stitch": stitch}
    )
    bundle_mod = _module_from_revision(rev, "ptycho_nl/train/bundle.py", "old_bundle", {})
    bundle = bundle_mod.Bundle(model=model, meta=meta, path=Path("baseline"), sha256="")
    clock: dict = {}
    bundle.predict = Timed(bundle.predict, clock, "predict")
    stitch.phase_offsets = Timed(ps.phase_offsets, clock, "phase_sync")

    def run(data):
        clock.clear()
        result = net.reconstruct_from_bundle(bundle, data, phase_sync=True, device=device)
        stages = {"predict": clock["predict"], "phase_sync": clock["phase_sync"]}
        stages["stitch"] = result.seconds - sum(stages.values())
        return result.object, stages

    return run


def current_pipeline(bundle, **options):
    from ptycho_nl.recon.network import reconstruct_from_bundle

    def run(data):
        result = reconstruct_from_bundle(bundle, data, phase_sync=True, **options)
        return result.object, result.stages

    return run


def _network(args, torch):
    if args.bundle is not None:
        from ptycho_nl.train.bundle import load_bundle

        loaded = load_bundle(args.bundle)
        return loaded.model, loaded.meta, f"bundle {args.bundle.name} ({loaded.model_name})"
    from ptycho_nl.models.registry import build_model

    torch.manual_seed(0)  # the same untrained weights every run (bfloat16's error depends on them)
    model = build_model("supervised", n=64).eval()
    meta = {"patch_size": 64, "model_name": "supervised"}
    return model, meta, "untrained supervised network (timing only)"


def _pipelines(args, torch, model, meta):
    import copy

    from ptycho_nl.train.bundle import Bundle

    dev = args.device

    def bundle(m):
        return Bundle(model=m, meta=meta, path=Path("current"), sha256="")

    rows = {
        "today": baseline_pipeline(args.baseline, copy.deepcopy(model), meta, dev),
        "new": current_pipeline(bundle(copy.deepcopy(model)), device=dev),
        "new, batch 64": current_pipeline(bundle(copy.deepcopy(model)), batch_size=64, device=dev),
        "new, bfloat16": current_pipeline(
            bundle(copy.deepcopy(model)), precision="bfloat16", device=dev
        ),
    }
    if args.shape and args.bundle is None:
        channels, dense = args.shape.split(":")
        from ptycho_nl.models.registry import build_model

        torch.manual_seed(0)
        compact = build_model(
            "supervised",
            n=64,
            channels=[int(c) for c in channels.split(",")],
            global_features=int(dense),
        ).eval()
        rows[f"new, {channels}+{dense} net"] = current_pipeline(bundle(compact), device=dev)
        rows[f"new, bf16, {channels}+{dense} net"] = current_pipeline(
            bundle(copy.deepcopy(compact)), precision="bfloat16", device=dev
        )
    if args.compile:
        compiled = torch.compile(copy.deepcopy(model).to(memory_format=torch.channels_last))
        rows["new, torch.compile"] = current_pipeline(bundle(compiled), device=dev)
    return rows


def _rpie_seconds(data, target: float, max_iterations: int):
    """Iterations and solver seconds rPIE needs to reach phase SSIM `target` (None if never)."""
    import torch
    from r1 import score

    from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative

    probe = torch.from_numpy(data.probe)
    for k in range(1, max_iterations + 1):  # deterministic: the k-run is a prefix of longer ones
        run = reconstruct_iterative(
            data, options=IterativeOptions(method="rpie", iterations=k), initial_probe=probe
        )
        if score(run.object.numpy(), data.object)["phase_ssim"] >= target:
            return k, run.total_seconds
    return None, run.total_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--dose", type=float, default=1e4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of today's pipeline")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile row")
    parser.add_argument("--device", default="cpu", help="where the network runs (cuda on a GPU)")
    parser.add_argument("--rpie", action="store_true", help="also time rPIE to the same SSIM")
    parser.add_argument("--target-ssim", type=float, default=0.56)
    parser.add_argument("--max-iterations", type=int, default=30)
    parser.add_argument(
        "--shape",
        default="16,32,64:256",
        help="CHANNELS:DENSE of another network's row (the study's compact network); '' for none",
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from r1 import r1_data, score

    data = r1_data(args.dose)
    model, meta, label = _network(args, torch)
    rows = _pipelines(args, torch, model, meta)
    times = {name: [] for name in rows}
    cpu = {
        name: [] for name in rows
    }  # process CPU seconds: what load on the machine cannot inflate
    stages = {name: [] for name in rows}
    objects = {}
    for name, run in rows.items():  # first calls (warm-up; torch.compile compiles here)
        start = time.perf_counter()
        objects[name] = run(data)[0]
        print(f"first call {name}: {time.perf_counter() - start:.2f} s")
    for _ in range(args.repeats):  # interleaved, so a load change hits every row alike
        for name, run in rows.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            _, parts = run(data)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            stages[name].append(parts)

    n = data.n_patterns
    print(f"\n{label}; {n} patterns, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(
        f"{'pipeline':<28} {'s':>7} {'pattern/s':>10} {'predict':>8} {'sync':>6} {'stitch':>7}"
        f" {'x today':>8} {'CPU s':>7} {'x today':>8}  max|O - O_today|/max|O_today|"
    )
    today = statistics.median(times["today"])
    today_cpu = statistics.median(cpu["today"])
    ref = objects["today"].numpy()
    for name in rows:
        total = statistics.median(times[name])
        share = {k: statistics.median(s[k] for s in stages[name]) / total for k in STAGES}
        # Another network's row gives another object: its difference says nothing.
        same_net = not name.endswith(" net")
        diff = np.abs(objects[name].numpy() - ref).max() / np.abs(ref).max() if same_net else None
        total_cpu = statistics.median(cpu[name])
        print(
            f"{name:<28} {total:7.3f} {n / total:10.0f} {share['predict']:8.0%} "
            f"{share['phase_sync']:6.0%} {share['stitch']:7.0%} {today / total:7.1f}x"
            f" {total_cpu:7.3f} {today_cpu / total_cpu:7.1f}x  "
            + (f"{diff:.1e}" if diff is not None else "another network")
        )
    new, new_cpu = statistics.median(times["new"]), statistics.median(cpu["new"])
    print(
        f"ratio (patterns per second, new / today): {today / new:.2f}x wall clock, "
        f"{today_cpu / new_cpu:.2f}x per CPU second"
    )
    if args.rpie:
        target = score(objects["new"].numpy(), data.object)["phase_ssim"] if args.bundle else None
        target = args.target_ssim if target is None else target
        reached, seconds = _rpie_seconds(data, target, args.max_iterations)
        print(
            f"rPIE to phase SSIM {target:.3f}: "
            + (
                f"{reached} iterations, {seconds:.3f} s ({seconds / statistics.median(times['new']):.1f}"
                "x the new network time)"
                if reached
                else f"not reached in {args.max_iterations}"
            )
        )


if __name__ == "__main__":
    main()
