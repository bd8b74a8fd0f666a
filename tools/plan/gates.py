"""Named gates (`plans/gates.json`) and readiness of the active ledger items.

A gate is a pytest selection that must collect at least `min_collected` tests and then pass:
    {"gates": {"training_cli": {"pytest_args": ["-k", "training_cli"], "min_collected": 1,
                                "items": ["TRAIN-001"]}}}
Both steps run as real subprocesses (`python -m pytest --collect-only -q ...`, then the run), so
a selector that matches nothing fails the gate instead of passing vacuously.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.attempt.pytest_outcome import parse_collect_output, parse_outcome
from tools.attempt.records import AttemptRecord
from tools.attempt.store import list_attempts
from tools.common.fsutil import validate_item_id
from tools.common.layout import gates_path, initiative_dir, ledger_path
from tools.common.output import CommandError
from tools.plan.fields import is_unverified
from tools.plan.ledger import Ledger

# Plugins off so a gate measures the selection, not the runner's configuration.
_BASE_ARGS = ("-p", "no:cacheprovider", "-p", "no:xdist")


class Gate(BaseModel):
    """One gate definition in plans/gates.json."""

    model_config = ConfigDict(extra="forbid")

    pytest_args: list[str] = Field(min_length=1, description="Arguments after `pytest`")
    min_collected: int = Field(default=1, ge=1, description="Tests the selection must collect")
    items: list[str] = Field(default_factory=list, description="Ledger items this gate guards")
    timeout_s: float = Field(default=600, gt=0, description="Limit for each subprocess")


class GateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gates: dict[str, Gate]


@dataclass
class GateResult:
    name: str
    ok: bool
    collected: int
    passed: int
    failed: int
    errors: int
    skipped: int
    exit_code: int
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def load_gates(root: Path) -> dict[str, Gate]:
    """Gate definitions; a missing or malformed file is an input error naming file and key."""
    path = gates_path(root)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(
            f"{path}: no gate definitions (expected a JSON file with 'gates')"
        ) from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    try:
        gates = GateFile.model_validate(raw).gates
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CommandError(f"{path}: key {where}: {first['msg']}") from None
    for gate in gates.values():
        for item in gate.items:
            validate_item_id(item)
    return gates


def run_gate(root: Path, name: str, gate: Gate) -> GateResult:
    """Collect, then run, the gate's selection in `root`; ok only if enough ran and all passed.

    Logs and JUnit XML go to a temp dir and are parsed by `tools.attempt.pytest_outcome` (the
    same parser attempt evidence uses).
    """
    base = [sys.executable, "-m", "pytest", *_BASE_ARGS]
    with tempfile.TemporaryDirectory() as tmp:
        collect_log, run_log, junit = (Path(tmp) / n for n in ("collect.log", "run.log", "j.xml"))
        code = _run(root, name, gate, base + ["--collect-only", "-q"], collect_log)
        collected = max(len(parse_collect_output(collect_log)), _summary_collected(collect_log))
        if code not in (0, 5) or collected < gate.min_collected:
            reason = (
                f"collection exited {code}"
                if code not in (0, 5)
                else f"collected {collected} test(s), need >= {gate.min_collected}"
            )
            return GateResult(name, False, collected, 0, 0, 0, 0, code, reason)
        code = _run(root, name, gate, base + ["-q", "--junitxml", str(junit)], run_log)
        outcome = parse_outcome(run_log, junit)
    ok = code == 0 and outcome.failed == 0 and outcome.errors == 0
    ok = ok and outcome.passed >= gate.min_collected
    reason = "passed" if ok else f"pytest exited {code}"
    return GateResult(
        name,
        ok,
        collected,
        outcome.passed,
        outcome.failed,
        outcome.errors,
        outcome.skipped,
        code,
        reason,
    )


def _summary_collected(log: Path) -> int:
    """Selected count from `N tests collected` / `K/N tests collected (M deselected)`.

    Complements the node-id count, which misses parametrized ids containing spaces (COLLECT-001).
    """
    text = log.read_text(encoding="utf-8", errors="replace")
    match = re.search(r"^(\d+)(?:/\d+)? tests? collected", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _run(root: Path, name: str, gate: Gate, argv: list[str], log: Path) -> int:
    """Run pytest with the gate's arguments, stdout+stderr to `log`; returns the exit code."""
    try:
        with open(log, "wb") as fh:
            return subprocess.run(
                argv + gate.pytest_args,
                cwd=root,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=gate.timeout_s,
                check=False,
            ).returncode
    except subprocess.TimeoutExpired:
        raise CommandError(
            f"gate {name}: pytest ran past {gate.timeout_s:g} s", exit_code=1
        ) from None


@dataclass
class Readiness:
    item_id: str
    status: str | None
    gates: dict[str, bool]
    attempt: int | None
    attempt_status: str | None
    green_valid: bool
    ready: bool
    reasons: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def _green_evidence(record: AttemptRecord) -> bool:
    """A valid GREEN run in the attempt record."""
    return any(run.kind == "green" and run.valid for run in record.runs)


def readiness(root: Path, *, run_gates: bool = True) -> list[Readiness]:
    """For each ledger item not archived: do its gates pass, is its latest attempt complete +
    GREEN? Done items are checked too: a regression after done is the most important finding."""
    ledger = Ledger.load(ledger_path(root))
    gates = load_gates(root) if gates_path(root).exists() else {}
    gate_results: dict[str, bool] = {}
    reports = []
    for item in ledger.items:
        if item.status == "archived":
            continue
        mine = {name: gate for name, gate in gates.items() if item.item_id in gate.items}
        for name, gate in mine.items():
            if name not in gate_results and run_gates:
                gate_results[name] = run_gate(root, name, gate).ok
        record = _latest_record(root, item.item_id)
        reasons = []
        if not mine:
            reasons.append("no gate defined")
        failed = [name for name in mine if not gate_results.get(name, False)]
        if failed:
            label = "gate(s) failing" if run_gates else "gate(s) not run (--no-gates)"
            if item.status == "done" and run_gates:
                label = "REGRESSION: done but gate(s) failing"
            reasons.append(f"{label}: " + ", ".join(failed))
        if item.status == "done" and is_unverified(item.status_raw or ""):
            reasons.append("Status done is an unverified claim (plan set --force)")
        green = record is not None and _green_evidence(record)
        status = record.status if record is not None else None
        if record is None:
            reasons.append("no attempt recorded")
        else:
            if status != "complete":
                reasons.append(f"latest attempt #{record.number} is {status}")
            if not green:
                reasons.append(f"latest attempt #{record.number} has no valid GREEN run")
        reports.append(
            Readiness(
                item.item_id,
                item.status,
                {name: gate_results.get(name, False) for name in mine},
                record.number if record is not None else None,
                status,
                green,
                not reasons,
                reasons,
            )
        )
    return reports


def _latest_record(root: Path, item_id: str) -> AttemptRecord | None:
    """The latest attempt that is not abandoned (an abandoned one established nothing)."""
    if not initiative_dir(root, item_id).is_dir():
        return None
    kept = [r for r in list_attempts(root, item_id) if r.status != "abandoned"]
    return kept[-1] if kept else None
