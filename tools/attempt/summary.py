"""summary.md: rendered from attempt.json through `tools/templates/summary.md.j2`."""

from __future__ import annotations

import functools
from pathlib import Path

from tools.attempt.records import AttemptRecord
from tools.common.markdown import escape_cell

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def evidence_line(record: AttemptRecord) -> str:
    """Counts for the ledger entry: `RED 2 failed; GREEN 5 passed; collect 5`."""
    parts = []
    for kind, label in (("red", "RED"), ("green", "GREEN")):
        runs = [run for run in record.runs if run.kind == kind and run.pytest is not None]
        if runs:
            last = runs[-1].pytest
            count = last.failed if kind == "red" else last.passed
            word = "failed" if kind == "red" else "passed"
            parts.append(f"{label} {count} {word}{'' if runs[-1].valid else ' (invalid)'}")
    if record.collections:
        parts.append(f"collected {record.collections[-1].count}")
    return "; ".join(parts)


def render_summary(record: AttemptRecord) -> str:
    """summary.md from the record through `templates/summary.md.j2`."""
    return _template().render(
        record=record, evidence=evidence_line(record), metrics=_metrics(record)
    )


@functools.lru_cache(maxsize=1)
def _template():
    """The compiled template, built once per process (`tools verify` renders one per hub)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = escape_cell
    return env.get_template("summary.md.j2")


def _metrics(record: AttemptRecord) -> dict[str, object]:
    runs = record.runs
    return {
        "runs": len(runs),
        "valid runs": sum(run.valid for run in runs),
        "collections": len(record.collections),
        "command time (s)": round(sum(run.duration_s for run in runs), 3),
        "tests passed (last GREEN)": next(
            (run.pytest.passed for run in reversed(runs) if run.kind == "green" and run.pytest),
            0,
        ),
        "artifacts": len(record.artifacts),
        "artifact bytes": sum(item.size for item in record.artifacts),
    }
