"""Sharded generation: `ptycho-nl simulate --shards K` with two workers against one, same run.

Runs the command a user runs, end to end as a subprocess (Python start, imports, planning,
the shards, the index), on one large scan (--patterns N patterns of --size^2 pixels in
--shards shards, written to a temporary directory, one set on disk at a time):

  - one worker:  `--workers 1`, the shards one after another in the command's own process;
  - two workers: `--workers 2`, the local process pool (two one-thread workers forked from a
    server that the command starts first, so it imports torch beside the command's own imports).

Both commands run with OMP_NUM_THREADS=1, so one worker is one core (each pool worker gets
one thread); the one-worker command with the default threads (torch on both cores, what a
user gets without --workers) is timed too, as a second reference. Prints the wall times and
the speed-up of two workers over one (goal on 2 cores: >= 1.7), and checks that the shard sets
are byte for byte the same (their recorded hashes).

    python benchmarks/bench_shards.py [--patterns 65536] [--size 64] [--shards 32]

The default set is 3.2 GB on disk: a large set in the sense of the pilot -> scale workflow
(docs/data.md), where the fixed cost of a command (about 2.5 s: Python, torch, planning) is
small beside the shards. Smaller sets show that fixed cost in the ratio (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(
    config: Path, out: Path, shards: int, workers: int, threads: str | None
) -> tuple[float, list[str]]:
    """Wall seconds of one `simulate --shards` command and the hashes its index records."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")  # finding PERF-001
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    command = [
        sys.executable, "-m", "ptycho_nl", "simulate", "--config", str(config), "--out", str(out),
        "--shards", str(shards), "--workers", str(workers), "--force", "--no-progress", "--json",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench_shards: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    index = json.loads((out / "shards.json").read_text())
    return seconds, [entry["sha256"] for entry in index["shards"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=65536)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--shards", type=int, default=32)
    args = parser.parse_args()
    from ptycho_nl.simulate import ProbeConfig, ScanConfig, SimulationConfig

    config = SimulationConfig(
        probe=ProbeConfig(size=args.size, kind="gaussian", sigma=args.size / 8),
        scan=ScanConfig(kind="raster", n_positions=args.patterns, view="dense"),
        dose=1e6,
    )
    cases = {"one worker": (1, "1"), "two workers": (2, "1"), "one worker, 2 threads": (1, None)}
    times, hashes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(config.model_dump_json())
        for name, (workers, threads) in cases.items():
            out = Path(tmp) / "set"
            times[name], hashes[name] = run(path, out, args.shards, workers, threads)
            shutil.rmtree(out)  # one set on disk at a time
    assert len({tuple(h) for h in hashes.values()}) == 1, "the runs wrote different shards"
    gigabytes = args.patterns * args.size**2 * 12 / 1e9  # float32 amplitude + complex64 patch
    print(f"{args.patterns} patterns of {args.size}x{args.size} in {args.shards} shards "
          f"(~{gigabytes:.1f} GB), `ptycho-nl simulate --shards` end to end")  # fmt: skip
    for name, seconds in times.items():
        print(f"  {name:<22} {seconds:7.2f} s")
    speedup = times["one worker"] / times["two workers"]
    print(f"  speed-up, two workers over one: {speedup:.2f}x (goal >= 1.7 on 2 cores; "
          f"identical shards); over one worker with 2 threads: "
          f"{times['one worker, 2 threads'] / times['two workers']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
