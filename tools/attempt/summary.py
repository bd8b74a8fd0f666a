"""summary.md: rendered from attempt.json through `tools/templates/summary.md.j2`."""

from __future__ import annotations

import functools
from pathlib import Path

from tools.attempt.records import AttemptRecord
from tools.common.markdown import escape_cell

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def evidence_line(record: AttemptRecord, *, validity: bool = True) -> str:
    """Counts for the ledger entry: `RED 2 failed; GREEN 5 passed; collect 5`, from the last
    run of each kind. An attempt with several runs of a kind says how many were valid
    (`RED 1 failed (4 of 5 REDs valid)`), so one invalid last run does not hide the others,
    nor one valid last run the invalid ones. `validity=False`: the line as renderers before
    2026-12-04 wrote it (the last run only), which `tools verify` still accepts for hubs sealed
    then."""
    parts = []
    for kind, label in (("red", "RED"), ("green", "GREEN")):
        runs = [run for run in record.runs if run.kind == kind and run.pytest is not None]
        if runs:
            last = runs[-1].pytest
            count = last.failed if kind == "red" else last.passed
            word = "failed" if kind == "red" else "passed"
            notes = [] if runs[-1].valid else ["invalid"]
            if validity and len(runs) > 1:
                notes.append(f"{sum(run.valid for run in runs)} of {len(runs)} {label}s valid")
            parts.append(f"{label} {count} {word}" + (f" ({'; '.join(notes)})" if notes else ""))
    if record.collections:
        parts.append(f"collected {record.collections[-1].count}")
    return "; ".join(parts)


def render_summary(record: AttemptRecord, *, validity: bool = True) -> str:
    """summary.md from the record through `templates/summary.md.j2` (`validity`: see
    `evidence_line`)."""
    return _template().render(
        record=record, evidence=evidence_line(record, validity=validity), metrics=_metrics(record)
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
