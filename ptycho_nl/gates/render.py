"""A gate report as a terminal table, as `gate_report.md` (Jinja) and as `gate_report.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptycho_nl.gates.model import GateReport
from ptycho_nl.io_utils import atomic_write_text

REPORT_MD = "gate_report.md"
REPORT_JSON = "gate_report.json"


def cell(value: Any, *, markdown: bool = True) -> str:
    """One table cell: JSON for lists and dicts, pipes escaped (Markdown), long text shortened."""
    if value is None or value == "":
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    text = text.replace("|", "\\|") if markdown else text
    return text if len(text) <= 100 else text[:97] + "..."


def table_text(report: GateReport) -> str:
    """Fixed-width lines: item, verdict, measured / threshold, evidence, then the outcome."""
    rows = [("item", "verdict", "measured", "threshold", "evidence")]
    for i in report.items:
        name = i.name + ("" if i.mandatory else " (optional)")
        values = (i.measured, i.threshold, i.evidence)
        rows.append((name, i.verdict, *(cell(v, markdown=False) for v in values)))
    widths = [min(max(len(r[c]) for r in rows), 44) for c in range(4)]
    lines = ["  ".join(r[c][:44].ljust(widths[c]) for c in range(4)) + "  " + r[4] for r in rows]
    for i in report.items:
        if i.note and i.verdict != "pass":
            lines.append(f"  {i.name}: {i.note}")
    failing = report.failing(mandatory_only=True)
    outcome = "PASSED" if report.passed else f"FAILED ({', '.join(failing)})"
    lines.append(f"gate {report.gate}: {outcome}")
    return "\n".join(lines)


def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("ptycho_nl.gates", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cell"] = cell
    return env


def render_markdown(report: GateReport) -> str:
    mandatory = [i for i in report.items if i.mandatory]
    counts = {
        "mandatory": len(mandatory),
        "mandatory_pass": sum(i.verdict == "pass" for i in mandatory),
    }
    return (
        _env()
        .get_template("gate_report.md.j2")
        .render(
            report=report,
            counts=counts,
            failing=report.failing(mandatory_only=True),
            json_name=REPORT_JSON,
        )
    )


def render_readiness(report: GateReport, stage: str) -> str:
    """The readiness report: each check's command, result and evidence, nothing else."""
    return _env().get_template("readiness_report.md.j2").render(report=report, stage=stage)


def write_report(report: GateReport, directory: str | Path) -> dict[str, Path]:
    """gate_report.md and gate_report.json in `directory` (atomic writes)."""
    directory = Path(directory)
    md = atomic_write_text(directory / REPORT_MD, render_markdown(report))
    js = atomic_write_text(directory / REPORT_JSON, report.model_dump_json(indent=2) + "\n")
    return {"markdown": md, "json": js}
