"""Real attempt sessions for the lifecycle tests: a tiny package whose test fails, then passes.

`honest_attempt` runs the loop an agent runs (start, a real pytest RED, the fix, a real pytest
GREEN, finish) through the in-process `tools` app, so the attempt it leaves verifies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CALC_BUGGY = "def add(a, b):\n    return a - b\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n"
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_calc.py"]


def call(cli, *args: str) -> tuple[int, dict]:
    """Run `tools ARGS --json` (the flag before any `--`); (exit code, envelope)."""
    items = list(args)
    cut = items.index("--") if "--" in items else len(items)
    result = cli(*items[:cut], "--json", *items[cut:])
    lines = result.stdout.strip().splitlines()
    assert lines, (result.stdout, result.stderr)
    return result.exit_code, json.loads(lines[-1])


def honest_attempt(cli, repo: Path, item_id: str, *finish_args: str) -> dict:
    """start → RED (buggy add) → fix → GREEN → finish FINISH_ARGS; returns finish's data."""
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_calc.py").write_text(TEST_CALC)
    (repo / "calc.py").write_text(CALC_BUGGY)
    code, out = call(cli, "attempt", "start", item_id, "--focus", f"make add add for {item_id}")
    assert code == 0, out
    code, out = call(cli, "attempt", "run", "red", "--", *PYTEST)
    assert code == 0, out
    (repo / "calc.py").write_text(CALC_FIXED)
    code, out = call(cli, "attempt", "run", "green", "--", *PYTEST)
    assert code == 0, out
    code, out = call(cli, "attempt", "finish", *finish_args)
    assert code == 0, out
    return out["data"]
