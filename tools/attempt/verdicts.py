"""Is the captured evidence what was asked for? Verdicts of runs and of `finish --status complete`.

The rules are specified in `specs/attempt_reports.md` ("Verdicts").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tools.attempt.binding import binding_problem, interpreter_facts, read_probe
from tools.attempt.pytest_outcome import junit_results, parse_collect_output, parse_outcome
from tools.attempt.records import AttemptRecord, InterpreterFacts, PytestOutcome, RunRecord
from tools.common.fsutil import find_repo_root

EVIDENCE_KINDS = ("red", "green")

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
        if exit_code == 0:
            return False, "invalid RED: the command exited 0 (a RED must exit non-zero)"
        return True, f"RED: {outcome.assertion_failures} assertion failure(s)"
    # green
    if exit_code != 0:
        return False, f"not GREEN: pytest exit {exit_code}"
    if outcome.failed or outcome.errors:
        return False, f"not GREEN: {outcome.failed} failed, {outcome.errors} error(s)"
    if outcome.passed == 0:
        return False, "not GREEN: no test passed"
    return True, f"GREEN: {outcome.passed} passed"


@dataclass
class Judgement:
    """A run's verdict re-derived from its files: the same function at capture and at verify."""

    valid: bool
    verdict: str
    outcome: PytestOutcome | None = None
    interpreter: InterpreterFacts | None = None
    node_ids: list[str] = field(default_factory=list)


def judge_run(
    kind: str,
    *,
    exit_code: int,
    signal_number: int | None,
    interrupted: bool,
    expected_exit: int,
    log: Path,
    junit: Path | None,
    probe: Path | None,
    resolved: str | None,
) -> Judgement:
    """Outcome (from the JUnit file only), binding and verdict of one captured run."""
    facts = read_probe(probe)
    outcome = parse_outcome(log, junit, summary_fallback=False) if junit is not None else None
    if kind == "cli" and outcome is not None and outcome.source == "none":
        outcome = None
    valid, verdict = run_verdict(kind, exit_code, outcome, expected_exit)
    if kind in EVIDENCE_KINDS:
        problem = binding_problem(
            resolved=resolved or "",
            probe=facts,
            junit=junit,
            junit_read=outcome is not None and outcome.source == "junit",
            exit_code=exit_code,
        )
        if problem:
            valid, verdict = False, f"not evidence: {problem}"
    if signal_number:
        valid = kind == "cli" and valid and not interrupted
        verdict = f"killed by signal {signal_number}; " + verdict
    if interrupted:
        valid, verdict = False, "interrupted (Ctrl-C); " + verdict
    return Judgement(
        valid, verdict, outcome=outcome, interpreter=interpreter_facts(resolved or "", facts)
    )


def judge_collection(
    *,
    exit_code: int,
    interrupted: bool,
    log: Path,
    junit: Path | None,
    probe: Path | None,
    resolved: str | None,
) -> Judgement:
    """A collection proof: node ids as pytest itself reported them (the probe), which the
    printed `--collect-only -q` list must match."""
    facts = read_probe(probe)
    printed = parse_collect_output(log)
    node_ids = facts.node_ids if facts is not None else []
    problem = binding_problem(
        resolved=resolved or "",
        probe=facts,
        junit=junit,
        junit_read=junit is not None and junit.is_file(),
        exit_code=exit_code,
    )
    if exit_code == 5:
        valid, verdict = False, "no tests collected (pytest exit 5)"
    elif exit_code == 4:
        valid, verdict = False, "selector not found or usage error (pytest exit 4)"
    elif exit_code != 0:
        valid, verdict = False, f"collection failed (pytest exit {exit_code})"
    elif problem:
        valid, verdict = False, f"not evidence: {problem}"
    elif not node_ids:
        valid, verdict = False, "no node ids collected"
    elif printed != node_ids:
        valid, verdict = False, "the printed node ids differ from those pytest collected"
    else:
        valid, verdict = True, f"{len(node_ids)} test(s) collected"
    if interrupted:
        valid, verdict = False, "interrupted (Ctrl-C); " + verdict
    return Judgement(
        valid, verdict, interpreter=interpreter_facts(resolved or "", facts), node_ids=node_ids
    )


def _junit_ids(hub: Path, run: RunRecord) -> dict[str, str]:
    return junit_results(hub / run.junit) if run.junit else {}


def linkage_problems(hub: Path, record: AttemptRecord) -> list[str]:
    """TDD: some valid RED whose every failing node id (JUnit) passes in a later valid GREEN
    run on a different source tree. Returns why not (for the latest valid RED), or []."""
    reds = [run for run in record.runs if run.kind == "red" and run.valid]
    greens = [run for run in record.runs if run.kind == "green" and run.valid]
    if not reds or not any(g.sequence > r.sequence for r in reds for g in greens):
        return ["TDD mode: no valid RED captured before the GREEN in this attempt"]
    problems: list[str] = []
    for red in reversed(reds):
        failed = {node for node, status in _junit_ids(hub, red).items() if status == "failed"}
        later = [g for g in greens if g.sequence > red.sequence]
        changed = [g for g in later if g.git.tree and g.git.tree != red.git.tree]
        passed: set[str] = set()
        for green in changed:
            passed |= {n for n, status in _junit_ids(hub, green).items() if status == "passed"}
        missing = sorted(failed - passed)
        if red.git.tree is None:
            reason = f"RED {red.name} has no git tree hash: is this a git repository?"
        elif not changed:
            reason = f"no valid GREEN after RED {red.name} ran on a different source tree"
        elif not failed:
            reason = f"RED {red.name} names no failing test in its JUnit XML"
        elif missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            reason = f"failing in RED {red.name} but passing in no later GREEN: {shown}"
        else:
            return []
        problems.append(reason)
    return problems[:1]


def completion_problems(record: AttemptRecord, hub: Path | None = None) -> list[str]:
    """Why `complete` is refused: no valid GREEN, or (TDD) no RED that a later GREEN on a
    changed tree turns green, test by test. `hub` defaults to the record's hub in the repository
    `find_repo_root()` finds (pass it when the caller knows the root)."""
    greens = [run.sequence for run in record.runs if run.kind == "green" and run.valid]
    if not greens:
        return ["no valid GREEN run in this attempt"]
    if record.mode == "TDD":
        return linkage_problems(hub if hub is not None else find_repo_root() / record.hub, record)
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
