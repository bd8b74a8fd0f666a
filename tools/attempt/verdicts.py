"""Is the captured evidence what was asked for? Verdicts of runs and of `finish --status complete`.

The rules are specified in `specs/attempt_reports.md` ("Verdicts").
"""

from __future__ import annotations

import re
from pathlib import Path

from tools.attempt.records import AttemptRecord, PytestOutcome

# `E   KeyError: 'diff3d'`, `ValueError: ...`, or pytest's own `ERROR: file or directory not found`
_SIGNATURE_LINE = re.compile(
    r"^(E\s+)?([A-Za-z_][\w.]*(Error|Exception|Failed|Interrupt)\b.*|ERROR: .*)$"
)


def run_verdict(
    kind: str, exit_code: int, outcome: PytestOutcome | None, expected_exit: int = 0
) -> tuple[bool, str]:
    """Is this run the evidence that was asked for? Returns (valid, verdict text)."""
    if kind == "cli":
        ok = exit_code == expected_exit
        return ok, f"exit {exit_code}" + ("" if ok else f" (expected {expected_exit})")
    if outcome is None or outcome.source == "none":
        return False, f"no pytest outcome found (exit {exit_code}): tests did not run to the end"
    if outcome.ran == 0 and outcome.errors == 0:
        return False, f"invalid {kind.upper()}: no test ran (pytest exit {exit_code})"
    if kind == "red":
        if outcome.errors:
            return False, f"invalid RED: {outcome.errors} error(s) (collection/import/setup)"
        if outcome.assertion_failures == 0:
            if outcome.failed:
                kinds = sorted({f.exception or "?" for f in outcome.failures})
                return False, f"invalid RED: failures are not assertions ({', '.join(kinds)})"
            return False, f"invalid RED: no test failed ({outcome.passed} passed)"
        return True, f"RED: {outcome.assertion_failures} assertion failure(s)"
    # green
    if exit_code != 0:
        return False, f"not GREEN: pytest exit {exit_code}"
    if outcome.failed or outcome.errors:
        return False, f"not GREEN: {outcome.failed} failed, {outcome.errors} error(s)"
    if outcome.passed == 0:
        return False, "not GREEN: no test passed"
    return True, f"GREEN: {outcome.passed} passed"


def completion_problems(record: AttemptRecord) -> list[str]:
    """Why `complete` is refused: no valid GREEN, or (TDD) no valid RED before it."""
    greens = [run.sequence for run in record.runs if run.kind == "green" and run.valid]
    if not greens:
        return ["no valid GREEN run in this attempt"]
    if record.mode == "TDD":
        reds = [run.sequence for run in record.runs if run.kind == "red" and run.valid]
        if not reds or min(reds) > max(greens):
            return ["TDD mode: no valid RED captured before the GREEN in this attempt"]
    return []


def signature_from_log(log: Path) -> str | None:
    """The last exception line (`E   KeyError: 'diff3d'`, `ValueError: ...`) of a log."""
    found = None
    with open(log, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").strip()
            match = _SIGNATURE_LINE.match(line)
            if match:
                found = match.group(2).strip()
    return found
