"""Registries of named check functions and the one loop that runs a gate over them.

A gate module (`post_training.py`, `data_qc.py`, ...) owns one `CheckRegistry`; each check is
registered with the threshold keys it understands and their defaults:

    CHECKS = CheckRegistry("post_training")

    @CHECKS.item("loss_convergence", min_relative_decrease=0.5)
    def loss_convergence(target, thresholds) -> Finding: ...

`definitions.load_definition` refuses a TOML item or threshold the registry does not know, and
`run_gate` turns an exception a check raises into that item's `fail` (the gate never passes
vacuously because a file could not be read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ptycho_nl.errors import PtychoError
from ptycho_nl.gates.model import (
    Finding,
    GateDefinition,
    GateReport,
    ItemResult,
    ThresholdValue,
    failed,
)

CheckFn = Callable[[Any, Mapping[str, ThresholdValue]], Finding]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    defaults: dict[str, ThresholdValue]
    doc: str


@dataclass
class CheckRegistry:
    """The named checks one gate can use (the code side of specs/gates/<gate>.toml)."""

    name: str
    checks: dict[str, Check] = field(default_factory=dict)

    def item(self, name: str, **defaults: ThresholdValue) -> Callable[[CheckFn], CheckFn]:
        def decorate(fn: CheckFn) -> CheckFn:
            if name in self.checks:
                raise ValueError(f"check {name!r} registered twice in {self.name}")
            doc = (fn.__doc__ or "").strip().splitlines()
            self.checks[name] = Check(name, fn, dict(defaults), doc[0] if doc else "")
            return fn

        return decorate

    def names(self) -> list[str]:
        return list(self.checks)

    def merged(self, other: CheckRegistry, name: str | None = None) -> CheckRegistry:
        """A registry holding both sets of checks (a stage built from library and tools checks)."""
        clash = set(self.checks) & set(other.checks)
        if clash:
            raise ValueError(f"checks defined twice: {', '.join(sorted(clash))}")
        return CheckRegistry(name or self.name, {**self.checks, **other.checks})


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_gate(
    definition: GateDefinition, registry: CheckRegistry, target: Any, *, target_label: str
) -> GateReport:
    """Run every item of `definition` against `target`, in the definition's order."""
    results = []
    for item in definition.items:
        check = registry.checks[item.name]
        thresholds = {**check.defaults, **item.thresholds}
        try:
            finding = check.fn(target, thresholds)
        except PtychoError as exc:
            # an unreadable file is a failed item with the reason, not a crash and not a pass
            finding = failed(note=str(exc))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # a file of the wrong shape (a list where an object belongs, a string for a number)
            finding = failed(note=f"unexpected content ({exc.__class__.__name__}: {exc})")
        results.append(ItemResult(name=item.name, mandatory=item.mandatory, **finding.model_dump()))
    return GateReport(
        gate=definition.name,
        definition=definition.source,
        target=target_label,
        items=results,
        passed=all(r.verdict == "pass" for r in results if r.mandatory),
        created_at=utc_now(),
    )
