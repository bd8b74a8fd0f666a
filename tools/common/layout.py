"""Where `tools` keeps its files in a repository, named once.

fix_plan.md                          the ledger (specs/fix_plan_format.md)
plans/active/<ID>/plan.md            an initiative and its phase table
plans/active/<ID>/reports/...        attempt hubs (specs/attempt_reports.md)
plans/gates.json                     named gates
docs/findings.md                     the findings table
"""

from __future__ import annotations

from pathlib import Path

from tools.common.fsutil import validate_item_id

LEDGER_NAME = "fix_plan.md"
GATES_PATH = Path("plans") / "gates.json"
FINDINGS_PATH = Path("docs") / "findings.md"


def ledger_path(root: Path) -> Path:
    return root / LEDGER_NAME


def plans_dir(root: Path) -> Path:
    return root / "plans"


def active_dir(root: Path) -> Path:
    return plans_dir(root) / "active"


def initiative_dir(root: Path, item_id: str) -> Path:
    """`plans/active/<ID>`; the ID is validated first so it cannot name a path outside plans/."""
    return active_dir(root) / validate_item_id(item_id)


def reports_dir(root: Path, item_id: str) -> Path:
    return initiative_dir(root, item_id) / "reports"
