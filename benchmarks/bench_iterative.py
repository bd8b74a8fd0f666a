"""Seconds per iteration and final quality of our ePIE / rPIE / LSQML on scenario R1, against
PtyLab's ePIE (and, with --peers ptychi-lsqml, pty-chi's LSQML) on the identical data in the same run
(when installed: the `bench` extra; otherwise the peer is not run). Ratios are against the fastest
peer of the run.

R1-known: probe fixed to the truth. R1-blind: probe starts as a flat-phase disk of matched power
and is refined. Each solver runs --repeats times for --iterations iterations, the runs of all
solvers interleaved so a load change on the machine hits all alike; s/iter is the median over the
runs of the whole run's time / iterations (so a blind run's fast-changing first passes count as
much as the rest), 2 threads. Quality: the last run, scored as docs/performance.md describes (central 192x192,
sub-pixel registration, best complex scalar; NRMSE also with the phase ramp removed). After each
variant, one line gives the time of the bare FFT round trip over all patterns (the floor any of
our iterations pays) as a share of each of our solvers' s/iter. Our solvers use IterativeOptions'
defaults (batch 128, momentum 0.8, probe box, sub-pixel probe shifts); "ours epie round" rounds
positions to whole pixels as PtyLab does.

    OMP_NUM_THREADS=2 python benchmarks/bench_iterative.py [--doses 1e3 1e4 1e6] [--iterations 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Passive OpenMP waiting before torch loads: on shared, oversubscribed cores torch's default
# spin-waiting made 2-thread iterations ~100x slower (measured: 10 s vs 0.05 s per R1 iteration).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")


def fft_round_trip_seconds(data, batch_size: int, repeats: int = 5) -> float:
    """Median time of one pass of fft2 + ifft2 (complex64) over every pattern in mini-batches:
    the floor of any of our solvers' iterations, to say how much of the rest is FFT."""
    import time

    import torch

    psi = torch.randn(len(data.positions), *data.probe.shape, dtype=torch.complex64)
    for chunk in psi.split(batch_size):  # warm-up: FFT plans are built on first use
        torch.fft.ifft2(torch.fft.fft2(chunk, norm="ortho"), norm="ortho")
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in psi.split(batch_size):
            torch.fft.ifft2(torch.fft.fft2(chunk, norm="ortho"), norm="ortho")
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doses", type=float, nargs="+", default=[1e3, 1e4, 1e6])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["known", "blind"])
    parser.add_argument(
        "--peers",
        nargs="*",
        default=["ptylab"],
        choices=["ptylab", "ptychi-lsqml"],
        help="peer solvers to run when installed (pty-chi LSQML adds ~1 min per variant)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["epie", "epie-round", "rpie", "lsqml"],
        help="our solvers; NAME-round rounds positions to whole pixels",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="positions per mini-batch (default: IterativeOptions' default, 64)",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from peers import ptychi_available, ptylab_available, run_ptychi_lsqml, run_ptylab_epie
    from r1 import flat_disk_probe, r1_data, score

    from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative

    def ours(data, options, iterations, probe):
        full = options.model_copy(update={"iterations": iterations})
        result = reconstruct_iterative(data, options=full, initial_probe=probe)
        return result.object.numpy(), result.seconds_per_iteration

    use_ptylab = "ptylab" in args.peers and ptylab_available()
    use_ptychi = "ptychi-lsqml" in args.peers and ptychi_available()
    print(
        f"threads 2 (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); "
        f"PtyLab {'runs' if use_ptylab else 'not run (not asked or not installed)'}; "
        f"pty-chi LSQML {'runs' if use_ptychi else 'not run (not asked or not installed)'}"
    )
    header = f"{'variant':7} {'dose':>7} {'solver':16} {'s/iter':>8} {'NRMSE':>7} {'(ramp)':>7} "
    print(header + f"{'phSSIM':>7} {'phPSNR':>7} {'x faster than fastest peer':>27}")
    workdir = Path(tempfile.mkdtemp(prefix="bench_r1_"))
    for dose in args.doses:
        data = r1_data(dose)
        for variant in args.variants:
            blind = variant == "blind"
            start_probe = flat_disk_probe(data.diffraction) if blind else data.probe
            solvers = {}
            if use_ptylab:
                solvers["PtyLab ePIE"] = lambda k, d=data, p=start_probe, b=blind: run_ptylab_epie(
                    d, p, iterations=k, blind=b, workdir=workdir
                )
            if use_ptychi:
                solvers["pty-chi LSQML"] = lambda k, d=data, p=start_probe, b=blind: (
                    run_ptychi_lsqml(d, p, iterations=k, blind=b)
                )
            peers = list(solvers)
            for name in args.methods:
                method, _, rounded = name.partition("-")
                extra = {} if args.batch_size is None else {"batch_size": args.batch_size}
                if rounded:
                    extra["subpixel"] = "round"
                options = IterativeOptions(method=method, update_probe=blind, **extra)
                solvers[f"ours {method} {rounded}".rstrip()] = (
                    lambda k, d=data, o=options, p=start_probe: ours(d, o, k, p)
                )
            times = {name: [] for name in solvers}
            last = {}
            for _ in range(args.repeats):
                for name, solve in solvers.items():
                    last[name], seconds = solve(args.iterations)
                    times[name].append(seconds)
            rows = [
                (name, statistics.median(times[name]), score(last[name], data.object))
                for name in solvers
            ]
            # The ratio is against the fastest peer of this run (the goal's baseline).
            peer_time = min((t for n, t, _ in rows if n in peers), default=None)
            for name, seconds, m in rows:
                ratio = f"{peer_time / seconds:27.1f}" if peer_time else f"{'-':>27}"
                print(
                    f"{variant:7} {dose:7.0e} {name:16} {seconds:8.4f} {m['nrmse']:7.4f} "
                    f"{m['nrmse_ramp_removed']:7.4f} {m['phase_ssim']:7.3f} "
                    f"{m['phase_psnr']:7.2f} {ratio}",
                    flush=True,
                )
            fft = fft_round_trip_seconds(data, args.batch_size or IterativeOptions().batch_size)
            print(
                f"{'':7} {'':7} FFT round trip alone: {fft:.4f} s/iter "
                + ", ".join(
                    f"= {100 * fft / t:.0f}% of {n}" for n, t, _ in rows if t and n not in peers
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
