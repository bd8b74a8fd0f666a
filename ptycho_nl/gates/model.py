"""The records of a gate: its definition (items, thresholds) and its report (one verdict per item).

A gate is a named list of items; each item is a check that runs against a target (a run
directory, a repository) and returns a `Finding`: verdict, the measured value beside its
threshold, and the evidence (`file:line` or `file#json.path`) a reader can open to see it.
Contract: specs/gates.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ptycho_nl.errors import PtychoError

Verdict = Literal["pass", "fail", "not_measured"]
ThresholdValue = bool | int | float | str


class GateError(PtychoError):
    """A gate cannot run: a bad definition file or a target that is not there (one line)."""


class GateItem(BaseModel):
    """One item of a gate definition (a table `[items.<name>]` of specs/gates/<gate>.toml)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    mandatory: bool = True
    description: str = ""
    thresholds: dict[str, ThresholdValue] = Field(default_factory=dict)


class GateDefinition(BaseModel):
    """A whole gate: which items, in which order, with which thresholds."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    source: str = Field("", description="the TOML file it was read from")
    items: list[GateItem]


class Finding(BaseModel):
    """What one check measured (the check's return value; the gate adds name and mandatory)."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    measured: Any = None
    threshold: Any = None
    evidence: str = ""
    note: str = ""
    command: str = ""  # how to run the same check by hand (readiness reports show it)


def passed(
    measured: Any = None, threshold: Any = None, evidence: str = "", note: str = "", **kw: str
) -> Finding:
    return Finding(
        verdict="pass", measured=measured, threshold=threshold, evidence=evidence, note=note, **kw
    )


def failed(
    measured: Any = None, threshold: Any = None, evidence: str = "", note: str = "", **kw: str
) -> Finding:
    return Finding(
        verdict="fail", measured=measured, threshold=threshold, evidence=evidence, note=note, **kw
    )


def not_measured(note: str, threshold: Any = None, evidence: str = "", **kw: Any) -> Finding:
    """Nothing to measure (no telemetry, say): never a pass."""
    return Finding(verdict="not_measured", threshold=threshold, evidence=evidence, note=note, **kw)


def judged(
    ok: bool, measured: Any, threshold: Any, evidence: str, note: str = "", **kw: str
) -> Finding:
    """pass when `ok`, else fail, with the same fields (`kw`: `command`)."""
    return (passed if ok else failed)(measured, threshold, evidence, note, **kw)


class ItemResult(BaseModel):
    """One item's line of a gate report."""

    model_config = ConfigDict(extra="forbid")

    name: str
    verdict: Verdict
    measured: Any = None
    threshold: Any = None
    evidence: str = ""
    mandatory: bool = True
    note: str = ""
    command: str = ""


class GateReport(BaseModel):
    """The result of running a gate on a target: passed when every mandatory item passed."""

    model_config = ConfigDict(extra="forbid")

    gate: str
    definition: str = Field("", description="the TOML file the items came from")
    target: str
    items: list[ItemResult]
    passed: bool
    created_at: str

    def failing(self, *, mandatory_only: bool = False) -> list[str]:
        """Names of the items that did not pass (fail or not measured)."""
        return [
            i.name
            for i in self.items
            if i.verdict != "pass" and (i.mandatory or not mandatory_only)
        ]

    def item(self, name: str) -> ItemResult:
        for result in self.items:
            if result.name == name:
                return result
        raise KeyError(name)
