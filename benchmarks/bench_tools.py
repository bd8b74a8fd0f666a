"""Overhead of `tools attempt run` over the same pytest command, `tools verify` over many hubs,
and `tools --help` start-up.

Usage: python benchmarks/bench_tools.py [--repeats 5] [--tests 30] [--hubs 1000]

Both measurements take their baseline in the same run (median of >= 3 repeats):
  1. `tools attempt run green -- python -m pytest ...` vs `python -m pytest ...` directly, on a
     throw-away git repository with a small passing suite.   Goal: overhead <= 5 % + 0.3 s.
  2. `tools --help` vs `python -c pass` (interpreter start-up).  Goal: `tools --help` < 0.3 s.
  3. `tools verify` over N hubs (copies of the real hub of step 1, each re-sealed and re-rendered
     for its own folder, so every check does its full work) vs hashing the same files alone
     (the bytes-only floor).  Goal: < 2 s for 1,000 hubs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


def timed(argv: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_time(argv: list[str], *, cwd: Path, env: dict[str, str], repeats: int) -> float:
    timed(argv, cwd=cwd, env=env)  # warm the file-system cache and __pycache__
    return statistics.median(timed(argv, cwd=cwd, env=env) for _ in range(repeats))


def make_repo(root: Path, n_tests: int) -> None:
    (root / "tests").mkdir(parents=True)
    body = "\n\n".join(f"def test_{i}():\n    assert sum(range({i})) >= 0" for i in range(n_tests))
    (root / "tests" / "test_many.py").write_text(body + "\n")
    (root / "fix_plan.md").write_text(
        "# Fix Plan Ledger\n\n## [BENCH-001] bench\n- Status: pending\n"
    )
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=b@example.com", "-c", "user.name=b", "add", "-A"],
        ["-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)


def clone_hubs(repo: Path, n_hubs: int) -> list[Path]:
    """The repository's one finished hub plus n_hubs - 1 copies, each a valid record of its own
    folder (hub path, slug, seal and summary.md rewritten as the tool would write them)."""
    from tools.attempt.records import AttemptRecord
    from tools.attempt.summary import render_summary

    (source,) = [p.parent for p in (repo / "plans" / "active").glob("*/reports/*/*/attempt.json")]
    record = AttemptRecord.model_validate_json((source / "attempt.json").read_text())
    hubs = [source]
    for i in range(1, n_hubs):
        target = source.parent / f"copy-{i}"
        shutil.copytree(source, target)
        copy = record.model_copy(
            update={"slug": target.name, "hub": target.relative_to(repo).as_posix()}
        )
        (target / "attempt.json").write_text(copy.model_dump_json(indent=2) + "\n")
        (target / "summary.md").write_text(render_summary(copy))
        hubs.append(target)
    return hubs


def hash_floor(hubs: list[Path]) -> float:
    """Seconds to SHA-256 every file of every hub: what a bytes-only check costs at least."""
    from ptycho_nl.io_utils import sha256_file

    start = time.perf_counter()
    for hub in hubs:
        for path in hub.rglob("*"):
            if path.is_file():
                sha256_file(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per command (>= 3)")
    parser.add_argument("--tests", type=int, default=30, help="tests in the throw-away suite")
    parser.add_argument("--hubs", type=int, default=1000, help="hubs for `tools verify`")
    args = parser.parse_args()
    repeats = max(3, args.repeats)

    # House rule for benchmarks; the measured commands themselves do not use torch.
    import torch

    torch.set_num_threads(2)
    tools_exe = shutil.which("tools")
    tools_cmd = [tools_exe] if tools_exe else [sys.executable, "-m", "tools"]

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, args.tests)
        env = {**os.environ, "TOOLS_ROOT": str(repo), "OMP_NUM_THREADS": "2"}
        subprocess.run(
            [*tools_cmd, "attempt", "start", "BENCH-001", "--focus", "bench"],
            cwd=repo,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        direct = median_time(PYTEST, cwd=repo, env=env, repeats=repeats)
        wrapped = median_time(
            [*tools_cmd, "attempt", "run", "green", "--", *PYTEST],
            cwd=repo,
            env=env,
            repeats=repeats,
        )
        python_start = median_time([sys.executable, "-c", "pass"], cwd=repo, env=env, repeats=7)
        help_start = median_time([*tools_cmd, "--help"], cwd=repo, env=env, repeats=7)
        subprocess.run(
            [*tools_cmd, "attempt", "finish", "--status", "partial"],
            cwd=repo,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        hubs = clone_hubs(repo, args.hubs)
        floor = min(hash_floor(hubs) for _ in range(3))
        verify_time = median_time([*tools_cmd, "verify"], cwd=repo, env=env, repeats=3)
        verified = subprocess.run([*tools_cmd, "verify"], cwd=repo, env=env, capture_output=True)

    overhead = wrapped - direct
    budget = 0.05 * direct + 0.3
    print(f"pytest direct (median of {repeats}):        {direct:.3f} s")
    print(f"tools attempt run green (median of {repeats}): {wrapped:.3f} s")
    print(
        f"overhead: {overhead:.3f} s, ratio {wrapped / direct:.3f}x "
        f"(goal <= 5% + 0.3 s = {budget:.3f} s: {'met' if overhead <= budget else 'NOT met'})"
    )
    print(f"python -c pass (median of 7):  {python_start:.3f} s")
    print(
        f"tools --help (median of 7):    {help_start:.3f} s, ratio {help_start / python_start:.2f}x "
        f"interpreter start-up (goal < 0.3 s: {'met' if help_start < 0.3 else 'NOT met'})"
    )
    goal = 2.0 * len(hubs) / 1000
    print(f"hashing the files of {len(hubs)} hubs (best of 3): {floor:.3f} s")
    print(
        f"tools verify over {len(hubs)} hubs (median of 3): {verify_time:.3f} s, ratio "
        f"{verify_time / floor:.1f}x the hashing floor, exit {verified.returncode} "
        f"(goal < {goal:.1f} s: {'met' if verify_time < goal else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
