"""Benchmark: `tools plan next` and `tools status-line --all` on a 10,000-attempt ledger of
either layout (specs/fix_plan_format.md).

Builds two throw-away git repositories, each with 6 initiatives with phase tables and 50 attempt
records each:
    items    fix_plan.md, 50 items x 200 bullet attempt entries (10,000 lines, ~2.5 MB)
    single   docs/fix_plan.md (named by [tool.ptycho-nl.tools] in pyproject.toml), the
             single-initiative layout with 10,000 `### <UTC> — <ID>.<n> (<what>)` entries
and times in each, as real subprocesses of the installed console script (median of 5 rounds,
the commands of both repositories interleaved in each round):
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


def item_ledger() -> str:
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
    return "".join(parts)


def single_initiative_ledger() -> str:
    item = f"BENCH-{ITEMS - 1:03d}"
    parts = [
        "# Fix Plan\n\n## Status\n`in_progress` — Phase B\n\n## Current Focus\n"
        f"**{item} — Benchmark initiative**\n- Working Plan: `plans/active/{item}/plan.md`\n\n"
        "## Attempts History\n"
    ]
    parts.extend(
        f"\n### 2026-01-{1 + n % 28:02d}T10:00Z — {item}.S{n} (step {n})\n"
        f"**Action:** did step {n}; RED 1 failed, GREEN 12 passed.\n"
        f"**Artifacts:** `plans/active/{item}/reports/2026-01-01T100000Z/a{n}/`\n"
        for n in range(1, ITEMS * ATTEMPTS_PER_ITEM + 1)
    )
    return "".join(parts)


def build_repo(root: Path, layout: str) -> Path:
    """The repository for `layout` ("items" or "single"); returns its ledger path."""
    from tools.attempt.records import AttemptRecord
    from tools.attempt.store import save_record
    from tools.plan.initiatives import new_initiative, set_phase

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    if layout == "items":
        ledger = root / "fix_plan.md"
        ledger.write_text(item_ledger(), encoding="utf-8")
    else:
        ledger = root / "docs" / "fix_plan.md"
        ledger.parent.mkdir()
        ledger.write_text(single_initiative_ledger(), encoding="utf-8")
        (root / "pyproject.toml").write_text(
            '[tool.ptycho-nl.tools]\nledger = "docs/fix_plan.md"\n', encoding="utf-8"
        )
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
    return ledger


COMMANDS = {
    "baseline `tools --help`": ["tools", "--help"],
    "tools plan next": ["tools", "plan", "next", "--json"],
    "tools status-line --all": ["tools", "status-line", "--all"],
}


def time_commands(roots: dict[str, Path]) -> dict[tuple[str, str], float]:
    """Median wall time of each command in each repository; the runs are interleaved (one of
    each per round) so that a load change on a shared machine hits every figure alike."""
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(RUNS):
        for layout, root in roots.items():
            env = {**os.environ, "TOOLS_ROOT": str(root)}
            env.pop("TOOLS_LEDGER", None)
            for name, argv in COMMANDS.items():
                start = time.perf_counter()
                subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
                times.setdefault((layout, name), []).append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


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
        roots = {}
        for layout in ("items", "single"):
            root = roots[layout] = Path(tmp) / layout
            root.mkdir()
            ledger_path = build_repo(root, layout)
            size = ledger_path.stat().st_size
            ledger = Ledger.load(ledger_path)
            attempts = sum(len(item.attempts) for item in ledger.items)
            print(
                f"[{layout}] {ledger.layout} ledger {ledger_path.relative_to(root)}: "
                f"{len(ledger.items)} item(s), {attempts} attempt entries, {size / 1e6:.2f} MB"
            )

            def read_split(path: Path = ledger_path) -> None:
                split_lines(path.read_text(encoding="utf-8"))

            def parse_next(path: Path = ledger_path) -> None:
                Ledger.load(path).next_item()

            floor = time_in_process(read_split)
            parse = time_in_process(parse_next)
            print(
                f"  in-process: read+split {floor * 1e3:.1f} ms, parse+next {parse * 1e3:.1f} "
                f"ms, ratio {parse / floor:.1f}x the I/O floor"
            )
        times = time_commands(roots)
        for layout in roots:
            baseline = times[(layout, "baseline `tools --help`")]
            print(f"[{layout}] baseline `tools --help`  {baseline:.3f} s")
            for name in ("tools plan next", "tools status-line --all"):
                value = times[(layout, name)]
                verdict = "OK" if value < 0.5 else "OVER 0.5 s"
                print(
                    f"  {name:<29} {value:.3f} s  ratio {value / baseline:.2f}x baseline  {verdict}"
                )


if __name__ == "__main__":
    sys.exit(main())
