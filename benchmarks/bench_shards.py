"""Sharded generation: two worker processes against one, measured in the same run.

Writes the same shard set (a raster scan of --patterns N x N patterns in --shards shards) twice
into temporary directories: once with one worker (the shards one after another in this
process, one torch thread) and once through the local process pool of `ptycho_nl.execution`
with two one-thread workers (what `ptycho-nl simulate --shards K --workers 2` runs). Prints both
wall times and the speed-up (goal on 2 cores: >= 1.7), and checks that the two sets are byte
for byte the same. The pool's time includes starting its workers (spawn, importing torch);
that start-up, timed separately as a pool running two trivial jobs from the same module, is
also printed, with the speed-up it leaves (an interpretation, not the goal's figure).

    python benchmarks/bench_shards.py [--patterns 16384] [--size 64] [--shards 8]

The default set (16384 patterns of 64 x 64, 0.8 GB per set on disk, one set at a time) is sized
so that starting the workers (about 2 s on an idle machine) is small beside the work.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (finding PERF-001)

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from ptycho_nl.execution import SerialExecutor, make_executor  # noqa: E402
from ptycho_nl.simulate import ProbeConfig, ScanConfig, SimulationConfig  # noqa: E402
from ptycho_nl.simulate.shards import shard_file, write_shard_set  # noqa: E402


def timed(config: SimulationConfig, out: Path, shards: int, workers: int) -> tuple[float, list]:
    start = time.perf_counter()
    if workers == 1:
        index, _ = write_shard_set(config, out, shards, executor=SerialExecutor())
    else:
        with make_executor(workers, threads=1) as executor:
            index, _ = write_shard_set(config, out, shards, executor=executor)
    return time.perf_counter() - start, [e.sha256 for e in index.shards]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=16384)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one worker = one core, as each pool worker gets
    config = SimulationConfig(
        probe=ProbeConfig(size=args.size, kind="gaussian", sigma=args.size / 8),
        scan=ScanConfig(kind="raster", n_positions=args.patterns, view="dense"),
        dose=1e6,
    )
    with tempfile.TemporaryDirectory() as tmp:
        one, hashes_one = timed(config, Path(tmp) / "one", args.shards, 1)
        shutil.rmtree(Path(tmp) / "one")  # one set on disk at a time
        two, hashes_two = timed(config, Path(tmp) / "two", args.shards, 2)
    assert hashes_one == hashes_two, "the two runs wrote different shards"
    start = time.perf_counter()
    with make_executor(2, threads=1) as executor:
        list(executor.run(shard_file, [("a", (0,)), ("b", (1,))]))
    startup = time.perf_counter() - start
    print(f"{args.patterns} patterns of {args.size}x{args.size} in {args.shards} shards")
    print(f"  one worker   {one:8.2f} s")
    print(f"  two workers  {two:8.2f} s")
    print(f"  speed-up     {one / two:8.2f}x  (goal >= 1.7 on 2 cores; identical shards)")
    print(
        f"  pool start-up {startup:7.2f} s; speed-up without it {one / max(two - startup, 1e-9):.2f}x"
    )


if __name__ == "__main__":
    main()
