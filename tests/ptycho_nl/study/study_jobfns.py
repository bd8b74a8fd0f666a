"""Job kinds used by the job-runner tests (module-level, so spawned workers can import them)."""

from __future__ import annotations

import os

from pydantic import BaseModel

from ptycho_nl.study.jobs import JobContext, JobKind, JobOutput


class ValueParams(BaseModel):
    value: int


class NoParams(BaseModel):
    pass


def write_value(ctx: JobContext[ValueParams]) -> JobOutput:
    """Writes params.value (plus the input's text, if any) and counts its own calls."""
    counter = ctx.study_dir / "calls.log"
    with open(counter, "a") as fh:
        fh.write(f"{ctx.job_id} {os.getpid()}\n")
    text = str(ctx.params.value)
    if "source" in ctx.inputs:
        text += "+" + ctx.inputs["source"].read_text()
    out = ctx.out_dir / "value.txt"
    out.write_text(text)
    return JobOutput(outputs={"value": ctx.rel(out)}, metrics={"length": len(text)})


def explode(ctx: JobContext[NoParams]) -> JobOutput:
    raise KeyError("diffraction")


WRITE_VALUE = JobKind("write_value", write_value, ValueParams)
EXPLODE = JobKind("explode", explode, NoParams)


class WaitParams(BaseModel):
    seconds: float


def wait_then_log(ctx: JobContext[WaitParams]) -> JobOutput:
    """Sleeps, then appends its id to the study's `finished.log` (the order jobs end in)."""
    import time

    time.sleep(ctx.params.seconds)
    with open(ctx.study_dir / "finished.log", "a") as fh:
        fh.write(f"{ctx.job_id}\n")
    return JobOutput(outputs={})


WAIT_THEN_LOG = JobKind("wait_then_log", wait_then_log, WaitParams)
