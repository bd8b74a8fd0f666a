"""Failure sentinel: stops a run on NaN/Inf, clips exploding gradients, aborts OOM loops.

Use around the forward and backward pass of each step, before `optimizer.step()`:

    with sentinel.monitor(step, model) as watch:
        loss = ...
        watch.loss = loss
        loss.backward()
    if watch.skipped:            # a CUDA OOM that stayed under the rate limit
        continue
    optimizer.step()

Fatal records go to `failures/<UTC>.jsonl` ({kind, step, detail, time, config_digest}) and raise
`TrainingFailure`, which the loop turns into a failed job (manifest status failed, exit 1).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write_text
from ptycho_nl.train.runlog import utc_iso

OOM_WINDOW_S = 60.0


class TrainingFailure(PtychoError):
    """The sentinel stopped the run; `kind` is nan_loss, nan_parameter, nan_gradient, oom_abort."""

    def __init__(self, kind: str, step: int, detail: str):
        self.kind, self.step, self.detail = kind, step, detail
        super().__init__(f"{kind} at step {step}: {detail}")


def _is_oom(exc: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, oom_type)


class StepWatch:
    """What the body of `monitor` reports back: the loss, and whether the step was skipped."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None
        self.skipped = False
        self.grad_norm: float | None = None
        self.clipped = False


class Sentinel:
    """Per-run failure guard.

    failures_dir : where `<UTC>.jsonl` is created on the first record (rank 0 only writes)
    grad_clip_norm : gradient norms above this are clipped to it and an event is logged
    max_oom_per_minute : more OOMs than this within 60 s raise TrainingFailure("oom_abort")
    on_event : callback(kind, **fields) for non-fatal events (the run log)
    """

    def __init__(
        self,
        failures_dir: Path,
        *,
        config_digest: str,
        grad_clip_norm: float = 100.0,
        max_oom_per_minute: int = 5,
        check_parameters: bool = True,
        write: bool = True,
        on_event: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.failures_dir = Path(failures_dir)
        self.config_digest = config_digest
        self.grad_clip_norm = grad_clip_norm
        self.max_oom_per_minute = max_oom_per_minute
        self.check_parameters = check_parameters
        self.write = write
        self.on_event = on_event or (lambda kind, **fields: None)
        self.clock = clock
        self.failure_file: Path | None = None
        self.records: list[dict[str, Any]] = []
        self._ooms: collections.deque[float] = collections.deque()

    def record(self, kind: str, step: int, detail: str) -> None:
        """Append one record to failures/<UTC>.jsonl (the file is rewritten atomically)."""
        entry = {
            "time": utc_iso(),
            "kind": kind,
            "step": step,
            "detail": detail,
            "config_digest": self.config_digest,
        }
        self.records.append(entry)
        if not self.write:
            return
        if self.failure_file is None:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S%fZ")
            self.failure_file = self.failures_dir / f"{stamp}.jsonl"
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        atomic_write_text(self.failure_file, lines)

    def fail(self, kind: str, step: int, detail: str) -> None:
        self.record(kind, step, detail)
        raise TrainingFailure(kind, step, detail)

    def check_model(self, step: int, model: torch.nn.Module) -> None:
        """Fail on the first non-finite parameter."""
        for name, param in model.named_parameters():
            if not bool(torch.isfinite(param).all()):
                self.fail("nan_parameter", step, f"parameter {name} has NaN or Inf values")

    def _check_gradients(self, step: int, model: torch.nn.Module, watch: StepWatch) -> None:
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        # One fused norm; a NaN/Inf anywhere makes it non-finite.
        norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        watch.grad_norm = norm
        if not math.isfinite(norm):
            bad = next(
                n
                for n, p in model.named_parameters()
                if p.grad is not None and not bool(torch.isfinite(p.grad).all())
            )
            self.fail("nan_gradient", step, f"gradient of {bad} has NaN or Inf values")
        if norm > self.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip_norm)
            watch.clipped = True
            self.on_event("grad_clipped", step=step, grad_norm=norm, max_norm=self.grad_clip_norm)

    def _register_oom(self, step: int, exc: BaseException) -> None:
        now = self.clock()
        self._ooms.append(now)
        while self._ooms and now - self._ooms[0] > OOM_WINDOW_S:
            self._ooms.popleft()
        self.record("oom", step, f"CUDA out of memory ({len(self._ooms)} in the last minute)")
        if len(self._ooms) > self.max_oom_per_minute:
            self.fail(
                "oom_abort",
                step,
                f"{len(self._ooms)} CUDA out-of-memory errors within {OOM_WINDOW_S:.0f} s "
                f"(limit {self.max_oom_per_minute}): aborting instead of looping",
            )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @contextlib.contextmanager
    def monitor(self, step: int, model: torch.nn.Module) -> Iterator[StepWatch]:
        """Guard one step: parameters on entry; OOM, loss and gradients on exit."""
        if self.check_parameters:
            self.check_model(step, model)
        watch = StepWatch()
        try:
            yield watch
        except Exception as exc:
            if not _is_oom(exc):
                raise
            model.zero_grad(set_to_none=True)
            watch.skipped = True
            self._register_oom(step, exc)
            return
        if watch.loss is not None and not bool(torch.isfinite(watch.loss.detach()).all()):
            self.fail("nan_loss", step, f"loss is {float(watch.loss.detach())}")
        self._check_gradients(step, model, watch)
