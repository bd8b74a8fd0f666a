"""Dask overhead per study job against the local process pool, on a tiny study grid.

Usage: python benchmarks/bench_dask.py [--repeats 3] [--workers 2]

Both executors run the same grid (2 doses x 2 views, ePIE only: 16 jobs in phases C, D, F, G)
as the study does (`run_phases`: each job dispatched as soon as the jobs it needs are done), in
the same run, alternating, each into a fresh study directory:
  - baseline: `make_executor(workers=W)`, the local pool of spawned processes;
  - Dask: `make_executor(dask_local=W)`, a LocalCluster of W one-thread worker processes.
Each executor is started and warmed first (every worker imports the modules the jobs use), so
the timed part is the phases alone: what the executor adds per job (scheduling, pickling the
job context, shipping the result), not process start-up, which is reported on its own line.
Goal: Dask per-job time <= 1.05 x the pool's (median of the repeats).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (finding PERF-001)


def _warm() -> int:
    """Run in each worker before timing: the imports every study job pays once per process,
    the same on both executors (the pool's fork server has some of them already)."""
    import importlib

    from ptycho_nl.execution import PRELOAD

    for module in PRELOAD:  # already there on both (fork server, LocalCluster preload)
        importlib.import_module(module)
    time.sleep(0.2)  # long enough that the warm-up tasks spread over the workers
    return os.getpid()


def jobs_own_seconds(study_dir: Path) -> float:
    """The jobs' own wall time summed over the grid, as their manifests record it (measured
    inside the job), so that what the executor adds is seen apart from the jobs' compute."""
    from ptycho_nl.study.jobs import PhaseManifest

    return sum(
        job.compute.wall_s
        for path in sorted(study_dir.glob("manifests/phase_*.json"))
        for job in PhaseManifest.model_validate_json(path.read_text()).jobs.values()
        if job.compute is not None
    )


def run_grid(executor, study_dir: Path, iterations: int = 4) -> tuple[float, int]:
    """(seconds for every phase of the grid, jobs run) on a warm executor; `iterations` of the
    solver set the size of the F jobs (4: the tiny grid)."""
    from ptycho_nl.study.design import StudyDesign, ViewSpec
    from ptycho_nl.study.jobs import run_phases
    from ptycho_nl.study.plan import plan_jobs

    design = StudyDesign(
        name="bench_dask",
        doses=[1e3, 1e5],
        views=[ViewSpec(name="dense", overlap=0.7), ViewSpec(name="sparse", overlap=0.35)],
        iterative=["epie"],
        object_size=96,
        patch_size=32,
        iterations=iterations,
        tiles_per_side=3,
    )
    phases = {phase: jobs for phase, jobs in plan_jobs(design).items() if jobs}
    start = time.perf_counter()
    # As the study runs them: every phase at once, each job as soon as its inputs are done.
    manifests = run_phases(study_dir, phases, study_digest=design.digest, executor=executor)
    seconds = time.perf_counter() - start
    failed = [k for m in manifests.values() for k, j in m.jobs.items() if j.status == "failed"]
    if failed:
        sys.exit(f"bench_dask: jobs failed: {failed}")
    return seconds, sum(len(jobs) for jobs in phases.values())


def measure(kwargs: dict, workdir: Path, iterations: int = 4) -> tuple[float, float, int, float]:
    """(start-up seconds, grid seconds, jobs, the jobs' own seconds) for one executor."""
    from ptycho_nl.execution import make_executor

    t0 = time.perf_counter()
    with make_executor(**kwargs) as executor:
        list(executor.run(_warm, [(f"warm-{i}", ()) for i in range(executor.slots)]))
        startup = time.perf_counter() - t0
        seconds, jobs = run_grid(executor, workdir, iterations)
    return startup, seconds, jobs, jobs_own_seconds(workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--iterations",
        type=int,
        default=4,
        help="ePIE iterations per solver job: 4 is the tiny grid of the goal; more makes the "
        "jobs longer, to see the same per-job overhead against larger jobs",
    )
    args = parser.parse_args()
    if args.iterations < 1 or args.repeats < 1 or args.workers < 1:
        parser.error("--iterations, --repeats and --workers must be at least 1")
    cases = {"pool": {"workers": args.workers}, "dask": {"dask_local": args.workers}}
    results: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, kwargs in cases.items():
                results[name].append(measure(kwargs, Path(tmp) / f"{name}-{r}", args.iterations))
    per_job = {n: statistics.median(r[1] / r[2] for r in rs) for n, rs in results.items()}
    own = {n: statistics.median(r[3] / r[2] for r in rs) for n, rs in results.items()}
    startup = {n: statistics.median(r[0] for r in rs) for n, rs in results.items()}
    jobs = results["pool"][0][2]
    ratio = per_job["dask"] / per_job["pool"]
    grid = "tiny grid" if args.iterations == 4 else f"grid with {args.iterations} iterations"
    print(f"{grid}: {jobs} jobs, {args.workers} workers, median of {args.repeats} repeat(s)")
    for name in cases:
        print(
            f"  {name:<5} {per_job[name]:.3f} s/job   jobs' own {own[name]:.3f} s/job"
            f"   start-up + warm-up {startup[name]:.2f} s"
        )
    print(f"jobs' own compute, Dask / pool: {own['dask'] / own['pool']:.3f}")
    verdict = "meets" if ratio <= 1.05 else "misses"
    print(f"Dask / pool per job: {ratio:.3f} ({verdict} the goal <= 1.05)")


if __name__ == "__main__":
    main()
