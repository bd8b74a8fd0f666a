"""Job functions used by the job-runner tests (importable by name in spawned workers)."""

from __future__ import annotations

import os

from ptycho_nl.study.jobs import JobContext, JobOutput


def write_value(ctx: JobContext) -> JobOutput:
    """Writes params['value'] (plus the input's text, if any) and counts its own calls."""
    counter = ctx.study_dir / "calls.log"
    with open(counter, "a") as fh:
        fh.write(f"{ctx.job_id} {os.getpid()}\n")
    text = str(ctx.params["value"])
    if "source" in ctx.inputs:
        text += "+" + ctx.inputs["source"].read_text()
    out = ctx.out_dir / "value.txt"
    out.write_text(text)
    return JobOutput(
        outputs={"value": str(out.relative_to(ctx.study_dir))}, metrics={"length": len(text)}
    )


def explode(ctx: JobContext) -> JobOutput:
    raise KeyError("diffraction")
