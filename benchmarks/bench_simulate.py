"""Simulation throughput against the bare batched FFT ceiling, measured in the same run.

Prints diffraction patterns per second for N x N patterns (default 64) for:
  ceiling                   torch.fft.fft2 over the same number of (N, N) complex64 arrays
  physics.forward_intensity gather (+ sub-pixel Fourier shift) + probe product + FFT + |.|^2
  poisson sampling only     torch.poisson over the same number of patterns: a floor that no
                            exact Poisson simulator can beat
  simulator core            ground-truth patches + far field + Poisson counts + amplitudes
  simulate (end to end)     ptycho_nl.simulate.simulate in memory (object, probe, scan, overlap)
and each as a ratio of the ceiling (goal: >= 0.8). Median of --repeats runs, 2 threads.

    python benchmarks/bench_simulate.py [--patterns 1024] [--size 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ptycho_nl import physics
from ptycho_nl import simulate as sim
from ptycho_nl.simulate.dataset import _diffract


def median_seconds(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each function; runs are interleaved so that load from other
    processes on the machine affects every candidate alike."""
    for fn in fns.values():
        fn()  # warm-up: allocator, FFT plans, lazy imports
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=1024)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--integer-positions",
        action="store_true",
        help="Round scan positions to whole pixels (no sub-pixel shift).",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    n = args.patterns
    config = sim.SimulationConfig(
        probe=sim.ProbeConfig(size=args.size),
        scan=sim.ScanConfig(
            kind="spiral", n_positions=n, view="dense", integer_positions=args.integer_positions
        ),
        dose=1e6,
    )
    data = sim.simulate(config)  # set-up, not timed: the object and scan to reuse
    obj, probe = torch.from_numpy(data.object), torch.from_numpy(data.probe)
    positions = torch.from_numpy(data.positions)
    waves = torch.randn(n, args.size, args.size, dtype=torch.complex64)

    intensities = physics.forward_intensity(obj, probe, positions).double()
    rate = intensities * physics.photon_scale(intensities, config.dose) ** 2

    timings = median_seconds(
        {
            "ceiling (fft2)": lambda: torch.fft.fft2(waves),
            "physics.forward_intensity": lambda: physics.forward_intensity(obj, probe, positions),
            "poisson sampling only": lambda: torch.poisson(rate),
            "simulator core": lambda: _diffract(obj, probe, positions, config.dose, 0, None),
            "simulate (end to end)": lambda: sim.simulate(config),
        },
        args.repeats,
    )
    ceiling = n / timings["ceiling (fft2)"]
    print(
        f"{n} patterns of {args.size}x{args.size}, 2 threads, median of {args.repeats}, "
        f"sub-pixel positions: {not args.integer_positions}"
    )
    for name, seconds in timings.items():
        throughput = n / seconds
        print(f"{name:26s} {throughput:10.0f} patterns/s   {throughput / ceiling:6.3f} x ceiling")


if __name__ == "__main__":
    main()
