"""Benchmark: `tools plan next` and `tools status-line --all` on a 10,000-attempt ledger.

Builds a throw-away git repository with a ledger of 50 items x 200 attempt entries (10,000 lines
of attempts, ~2.5 MB) and 6 initiatives with phase tables and 50 attempt records each, then times, as real
subprocesses of the installed console script (median of 5):
    baseline   `tools --help`          (interpreter + Typer start-up, no ledger work)
    plan next  `tools plan next`
    status     `tools status-line --all`
and, in-process, parsing the ledger against the I/O floor of reading and splitting it.
Target: each command under 0.5 s wall time. Run: python benchmarks/bench_ledger.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ITEMS = 50
ATTEMPTS_PER_ITEM = 200
INITIATIVES = 6
RECORDS_PER_INITIATIVE = 50
RUNS = 5


def build_repo(root: Path) -> None:
    from tools.attempt.records import AttemptRecord
    from tools.attempt.store import save_record
    from tools.plan.initiatives import new_initiative, set_phase

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    parts = ["# Fix Plan Ledger\n**Last Updated:** 2026-11-24T00:00:00Z\n\n"]
    for i in range(ITEMS):
        item = f"BENCH-{i:03d}"
        dep = f"BENCH-{i - 1:03d}" if i else "none"
        status = "done" if i < ITEMS - 2 else "in_progress"
        parts.append(
            f"## [{item}] Benchmark item {i}\n- Depends on: {dep}\n- Priority: {1 + i % 3}\n"
            f"- Status: {status}\n- Working Plan: plans/active/{item}/plan.md\n"
            "- Exit Criteria: fast\n- Attempts History:\n"
        )
        parts.extend(
            f"  * [2026-11-{1 + n % 28:02d}T10:00:00Z] Attempt #{n} — focus {n} (Mode: TDD). "
            f"Result: partial. RED 1 failed; GREEN 12 passed. Artifacts: plans/active/{item}/"
            f"reports/2026-11-01T100000Z/a{n}. Next: keep going with step {n + 1}\n"
            for n in range(1, ATTEMPTS_PER_ITEM + 1)
        )
        parts.append("\n")
    (root / "fix_plan.md").write_text("".join(parts), encoding="utf-8")
    for i in range(INITIATIVES):
        item = f"BENCH-{ITEMS - 1 - i:03d}"
        new_initiative(root, item, title="bench", phases=[("A", "a"), ("B", "b"), ("C", "c")])
        set_phase(root, item, "A", status="complete")
        set_phase(root, item, "B", status="in_progress")
        for n in range(1, RECORDS_PER_INITIATIVE + 1):
            hub = f"plans/active/{item}/reports/2026-11-01T10{n // 60:02d}{n % 60:02d}Z/a{n}"
            (root / hub).mkdir(parents=True)
            record = AttemptRecord(
                item_id=item,
                number=n,
                slug=f"a{n}",
                focus="bench",
                mode="TDD",
                status="partial",
                hub=hub,
                started_at="2026-11-01T10:00:00Z",
                finished_at="2026-11-01T11:00:00Z",
                next=f"step {n + 1}",
            )
            save_record(root, record)


def time_command(argv: list[str], root: Path) -> float:
    env = {**os.environ, "TOOLS_ROOT": str(root)}
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_in_process(fn) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    try:  # the project's benchmark convention; tools itself never imports torch
        import torch

        torch.set_num_threads(2)
    except ImportError:
        pass
    from tools.plan.ledger import Ledger
    from tools.plan.lines import split_lines

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        build_repo(root)
        ledger_path = root / "fix_plan.md"
        size = ledger_path.stat().st_size
        attempts = sum(len(item.attempts) for item in Ledger.load(ledger_path).items)
        print(f"ledger: {ITEMS} items, {attempts} attempt entries, {size / 1e6:.2f} MB")

        floor = time_in_process(lambda: split_lines(ledger_path.read_text(encoding="utf-8")))
        parse = time_in_process(lambda: Ledger.load(ledger_path).next_item())
        print(
            f"in-process: read+split {floor * 1e3:.1f} ms, parse+next {parse * 1e3:.1f} ms, "
            f"ratio {parse / floor:.1f}x the I/O floor"
        )

        baseline = time_command(["tools", "--help"], root)
        plan_next = time_command(["tools", "plan", "next", "--json"], root)
        status = time_command(["tools", "status-line", "--all"], root)
        print(f"baseline `tools --help`        {baseline:.3f} s")
        for name, value in (("tools plan next", plan_next), ("tools status-line --all", status)):
            verdict = "OK" if value < 0.5 else "OVER 0.5 s"
            print(f"{name:<30} {value:.3f} s  ratio {value / baseline:.2f}x baseline  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
