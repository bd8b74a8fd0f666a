"""Helpers for the `tools attempt` tests: a throw-away git repository with a tiny package.

`calc.add` starts wrong (a - b) so the first run of its test is a real RED; `fix_calc()` repairs
it. Tests run against this repository through `TOOLS_ROOT` and the working directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LEDGER = """# Fix Plan Ledger
**Last Updated:** 2026-11-24T00:00:00Z

## [CORE-001] Make add add
- Depends on: none
- Priority: 1
- Status: in_progress
- Working Plan: plans/active/CORE-001/plan.md
- Exit Criteria: tests/test_calc.py passes
- Attempts History:

## [DOCS-002] Document calc
- Status: pending
"""

CALC_BUGGY = "def add(a, b):\n    return a - b\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n"
TEST_CALC = """from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_zero():
    assert add(0, 0) == 0


def test_add_negative():
    assert add(-1, -1) == -2
"""

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_repo(root: Path) -> Path:
    """Create and commit the repository at `root` (buggy calc.py, its tests, a ledger)."""
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC_BUGGY)
    (root / "tests" / "test_calc.py").write_text(TEST_CALC)
    (root / "fix_plan.md").write_text(LEDGER)
    initiative = root / "plans" / "active" / "INIT-009"
    initiative.mkdir(parents=True)
    (initiative / "plan.md").write_text("# INIT-009\n")
    (root / ".gitignore").write_text("__pycache__/\n*.pyc\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "agent@example.com")
    git(root, "config", "user.name", "Agent")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def fix_calc(repo: Path) -> None:
    (repo / "calc.py").write_text(CALC_FIXED)
