"""The words `tools` records and accepts, each spelled once: modes, run kinds and statuses.

Each vocabulary is a `Literal` type (used by the pydantic records and, through Typer, as the
choices of a command-line option) plus the tuple of its values (used in error messages).
"""

from __future__ import annotations

from typing import Literal, get_args

# Attempts (specs/attempt_reports.md).
Mode = Literal["TDD", "Parity", "Perf", "Docs"]
RunKind = Literal["red", "green", "cli"]
FinishStatus = Literal["complete", "blocked", "partial"]
AttemptStatus = Literal["open", "complete", "blocked", "partial", "abandoned"]
# What a closed attempt's ledger entry can say: a finish status, or `attempt abandon`.
ClosedStatus = Literal["complete", "blocked", "partial", "abandoned"]
ArtifactFolder = Literal["data", "analysis"]
OutcomeSource = Literal["junit", "summary", "none"]

# The ledger, initiatives and findings (specs/fix_plan_format.md).
LedgerStatus = Literal["pending", "in_progress", "blocked", "done", "archived"]
PhaseStatus = Literal["pending", "in_progress", "blocked", "complete"]
FindingStatus = Literal["active", "superseded", "retired"]

MODES: tuple[str, ...] = get_args(Mode)
RUN_KINDS: tuple[str, ...] = get_args(RunKind)
FINISH_STATUSES: tuple[str, ...] = get_args(FinishStatus)
ARTIFACT_FOLDERS: tuple[str, ...] = get_args(ArtifactFolder)
LEDGER_STATUSES: tuple[str, ...] = get_args(LedgerStatus)
PHASE_STATUSES: tuple[str, ...] = get_args(PhaseStatus)
FINDING_STATUSES: tuple[str, ...] = get_args(FindingStatus)

# An attempt is open until it finishes with one of the finish statuses or is abandoned.
assert get_args(AttemptStatus) == ("open", *get_args(ClosedStatus))
assert get_args(ClosedStatus) == (*FINISH_STATUSES, "abandoned")
