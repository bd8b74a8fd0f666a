"""Compute accounting: what one job cost (`ComputeRecord`) and a cost estimate from a rate table.

Every job that writes a manifest (training, reconstruction, study and shard jobs) measures itself
with `measure(device)` and stores `meter.record` in it. The figures:

- `wall_s`: elapsed seconds (monotonic clock);
- `cpu_s`: user + system CPU seconds of this process plus those of its waited-for children over
  the job (jobs that share a process at the same time, e.g. Dask threads, share this figure);
- `device`: "cpu", "cuda" or "mps" (the kind, not the index); `device_name` when known;
- `gpu_s`: seconds the job held a GPU (its wall time on a GPU; None on CPU), after a
  `torch.cuda.synchronize()` so queued kernels are counted;
- `attempt`: the attempt id from `TOOLS_ATTEMPT` when the job runs under `tools attempt run`
  (how `tools budget` links jobs to the attempt that ran them; docs/tools.md).

torch is never imported here; it is used only if the job already imported it.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

ATTEMPT_ENV = "TOOLS_ATTEMPT"


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class ComputeRecord(BaseModel):
    """The `compute` block of a job manifest (specs/training_outputs.md)."""

    model_config = ConfigDict(extra="forbid")

    wall_s: float = Field(ge=0)
    cpu_s: float = Field(ge=0, description="Process + waited-for children, user + system.")
    device: str = Field(description="Device kind: cpu, cuda or mps.")
    device_name: str | None = None
    gpu_s: float | None = Field(None, ge=0, description="Seconds holding a GPU; None on CPU.")
    started_utc: str
    finished_utc: str
    sessions: int = Field(1, ge=1, description="Sessions summed here (a resumed training > 1).")
    attempt: str | None = Field(None, description="TOOLS_ATTEMPT of the run that did the job.")

    def plus(self, earlier: ComputeRecord) -> ComputeRecord:
        """This session's record with an earlier session's figures added (a resumed job)."""
        gpu = (
            None
            if self.gpu_s is None and earlier.gpu_s is None
            else ((self.gpu_s or 0.0) + (earlier.gpu_s or 0.0))
        )
        return self.model_copy(
            update={
                "wall_s": round(self.wall_s + earlier.wall_s, 4),
                "cpu_s": round(self.cpu_s + earlier.cpu_s, 4),
                "gpu_s": None if gpu is None else round(gpu, 4),
                "started_utc": min(self.started_utc, earlier.started_utc),
                "sessions": self.sessions + earlier.sessions,
            }
        )


def billed_hours(record: ComputeRecord) -> float:
    """Device-hours a record is billed for: GPU-hours on a GPU, else CPU-core-hours."""
    seconds = record.gpu_s if record.gpu_s is not None else record.cpu_s
    return seconds / 3600.0


def cost_estimate(record: ComputeRecord, rates: Mapping[str, float]) -> float:
    """Cost of one job from a rate per device-hour by device kind (`[tool.ptycho-nl.budget]`
    `rates`); a kind without a rate costs nothing. `tools budget` applies the same rule to
    manifests read as JSON."""
    return billed_hours(record) * float(rates.get(record.device, 0.0))


def _device_kind(device: object) -> str:
    return str(getattr(device, "type", device) or "cpu").split(":")[0]


def _synchronize(kind: str) -> None:
    torch = sys.modules.get("torch")
    if kind == "cuda" and torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


@dataclass
class ComputeMeter:
    """Started by `measure`; `record` is set when the block exits (even by an exception).
    `device` may be changed inside the block once the job knows where it runs."""

    device: object = "cpu"
    record: ComputeRecord | None = None
    _t0: float = field(default_factory=time.perf_counter)
    _cpu0: float = field(default_factory=_cpu_seconds)
    _started: str = field(default_factory=_utc)

    def stop(self) -> ComputeRecord:
        kind = _device_kind(self.device)
        _synchronize(kind)
        wall = time.perf_counter() - self._t0
        name = None
        torch = sys.modules.get("torch")
        if kind == "cuda" and torch is not None and torch.cuda.is_available():
            name = torch.cuda.get_device_name()
        self.record = ComputeRecord(
            wall_s=round(wall, 4),
            cpu_s=round(max(0.0, _cpu_seconds() - self._cpu0), 4),
            device=kind,
            device_name=name,
            gpu_s=round(wall, 4) if kind == "cuda" else None,
            started_utc=self._started,
            finished_utc=_utc(),
            attempt=os.environ.get(ATTEMPT_ENV) or None,
        )
        return self.record


@contextmanager
def measure(device: object = "cpu") -> Iterator[ComputeMeter]:
    """Measure the block: `with measure("cuda") as m: ...; m.record` is the ComputeRecord."""
    meter = ComputeMeter(device=device)
    try:
        yield meter
    finally:
        meter.stop()
