"""A throw-away git repository with one ledger item, and the jobs the budget tests run in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pydantic import BaseModel

from ptycho_nl.compute import measure
from ptycho_nl.io_utils import atomic_write_json
from ptycho_nl.study.jobs import JobContext, JobKind, JobOutput

LEDGER = """# Fix Plan Ledger
**Last Updated:** 2026-11-24T00:00:00Z

## [CORE-001] Make add add
- Depends on: none
- Priority: 1
- Status: in_progress
- Working Plan: plans/active/CORE-001/plan.md
- Exit Criteria: tests pass
- Attempts History:

## [DOCS-002] Document calc
- Depends on: none
- Priority: 2
- Status: pending
"""


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_repo(root: Path, budget_toml: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "fix_plan.md").write_text(LEDGER)
    (root / "pyproject.toml").write_text(budget_toml)
    (root / "plans" / "active" / "CORE-001").mkdir(parents=True)
    (root / "plans" / "active" / "CORE-001" / "plan.md").write_text("# CORE-001\n")
    (root / ".gitignore").write_text("__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "agent@example.com")
    git(root, "config", "user.name", "Agent")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


class Burn(BaseModel):
    loops: int


def burn_with_nested_record(ctx: JobContext[Burn]) -> JobOutput:
    """Burns some CPU and writes a nested job record (as a training inside a study job does)
    with its own compute block: the study job's record covers it."""
    with measure() as meter:
        total = sum(i * i for i in range(ctx.params.loops))
    atomic_write_json(
        ctx.out_dir / "run" / "manifest.json",
        {"status": "completed", "compute": meter.record.model_dump(mode="json")},
    )
    out = ctx.out_dir / "value.json"
    out.write_text(json.dumps({"total": total}))
    return JobOutput(outputs={"value": ctx.rel(out)})


BURN = JobKind("burn", burn_with_nested_record, Burn)
