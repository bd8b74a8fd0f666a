"""Peak memory of one training step (forward + backward + optimiser step) of a registered model,
and the largest batch that fits a budget (`ptycho-nl trace-memory`).

- CUDA: `torch.cuda.max_memory_allocated` around a real step (reset before it).
- CPU: the bytes of the tensors autograd saves for backward (`saved_tensors_hooks`, counted once
  per storage, parameters excluded) plus parameters, gradients and optimiser state.

The step is the family's own (`ptycho_nl.models.registry`): its task is prepared on a data file
(the simulator's `tiny` preset when none is given), its first training batch is tiled to the
batch size asked for, and one optimiser step is taken. The largest batch comes from a bisection
over batch sizes: on CUDA every probe is a real step (an OOM counts as over budget); on CPU the
probes evaluate the affine fit through real measurements at batch 1 and 2 (saved bytes grow
linearly with the batch), so a 24 GB budget is searched without allocating it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ptycho_nl.gates.model import GateError

GB = 2**30
MAX_BATCH = 2**24


class StepMemory(BaseModel):
    """What one step held at its peak, in bytes."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int  # CPU: saved tensors; CUDA: peak minus the other three
    peak: int


class MemoryTrace(BaseModel):
    """One model's trace: the step at the batch asked for and the largest batch that fits."""

    model_config = ConfigDict(extra="forbid")

    model: str
    device: str
    method: Literal["saved_tensors", "cuda_max_memory_allocated"]
    step: StepMemory
    budget_bytes: int
    fits: bool
    max_batch: int  # 0: not even one sample fits
    probes: list[list[int]]  # [batch, peak bytes] the bisection evaluated


def _tile(batch: Any, size: int) -> Any:
    """The batch repeated along its first axis to `size` rows (tensors, dicts, tuples)."""
    import torch

    if isinstance(batch, torch.Tensor):
        reps = -(-size // batch.shape[0])
        return batch.repeat(reps, *([1] * (batch.dim() - 1)))[:size].contiguous()
    if isinstance(batch, dict):
        return {k: _tile(v, size) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_tile(v, size) for v in batch)
    return batch


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class _Stepper:
    """A family's task prepared once: `measure(batch_size)` runs one step of that size."""

    def __init__(self, name: str, data_path: Path, device: str):
        import torch

        from ptycho_nl.models import TaskInputs, prepare_task
        from ptycho_nl.train.config import ModelConfig, TrainConfig
        from ptycho_nl.train.setup import make_optimizer

        self.cfg = TrainConfig(model=ModelConfig(name=name), batch_size=1, epochs=1)
        self.device = torch.device(device)
        self.task = prepare_task(name, TaskInputs(self.cfg, Path(data_path), self.device))
        self.model = self.task.model.to(self.device)
        self.make_optimizer = lambda: make_optimizer(self.model, self.cfg)
        self.example = next(iter(self.task.train_batches(1)))

    def measure(self, batch_size: int) -> StepMemory:
        import torch

        model = self.model
        model.zero_grad(set_to_none=True)
        params = list(model.parameters())
        param_ptrs = {p.untyped_storage().data_ptr() for p in params}
        batch = _tile(self.example, batch_size)
        optimizer = self.make_optimizer()
        saved: dict[int, int] = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage.data_ptr() not in param_ptrs:
                saved[storage.data_ptr()] = storage.nbytes()
            return t

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        with ExitStack() as stack:
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t))
            out = self.task.step(model, batch, None)
        out.loss.backward()
        optimizer.step()
        grads = _nbytes(p.grad for p in params if p.grad is not None)
        state = _nbytes(
            v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)
        )
        p_bytes = _nbytes(params)
        if cuda:
            torch.cuda.synchronize(self.device)
            peak = int(torch.cuda.max_memory_allocated(self.device))
            activations = max(peak - p_bytes - grads - state, 0)
        else:
            activations = sum(saved.values())
            peak = p_bytes + grads + state + activations
        del out, optimizer
        model.zero_grad(set_to_none=True)
        return StepMemory(
            batch_size=batch_size,
            parameters=p_bytes,
            gradients=grads,
            optimizer_state=state,
            activations=activations,
            peak=peak,
        )


def largest_batch(peak_of: Callable[[int], int | None], budget: int) -> tuple[int, list]:
    """Largest b with peak_of(b) <= budget (None = did not fit, e.g. OOM), by doubling then
    bisection; peak is assumed non-decreasing in b. Returns (b, [[b, peak], ...])."""
    probes: list[list[int]] = []

    def fits(b: int) -> bool:
        peak = peak_of(b)
        probes.append([b, -1 if peak is None else int(peak)])
        return peak is not None and peak <= budget

    if not fits(1):
        return 0, probes
    lo, hi = 1, 2
    while hi <= MAX_BATCH and fits(hi):
        lo, hi = hi, hi * 2
    if hi > MAX_BATCH:
        return lo, probes
    while hi - lo > 1:  # invariant: lo fits, hi does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo, probes


def _cuda_peak(stepper: _Stepper) -> Callable[[int], int | None]:
    import torch

    def peak(b: int) -> int | None:
        try:
            return stepper.measure(b).peak
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return None

    return peak


def _affine_peak(stepper: _Stepper) -> Callable[[int], int]:
    one, two = stepper.measure(1).peak, stepper.measure(2).peak
    return lambda b: one + (two - one) * (b - 1)


def trace_memory(
    name: str,
    batch_size: int,
    *,
    device: str = "cpu",
    budget_gb: float = 24.0,
    data_path: str | Path | None = None,
) -> MemoryTrace:
    """Trace one step of registered model `name` at `batch_size` and bisect the budget."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise GateError("--device cuda: no CUDA device is visible (expected one; use --device cpu)")
    if batch_size < 1 or budget_gb <= 0:
        raise GateError(f"batch size {batch_size} and budget {budget_gb} GB must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        if data_path is None:
            from ptycho_nl.simulate import PRESETS, simulate_dataset

            data_path = simulate_dataset(PRESETS["tiny"], Path(tmp) / "tiny.npz")
        stepper = _Stepper(name, Path(data_path), device)
        step = stepper.measure(batch_size)
        budget = int(budget_gb * GB)
        peak_of = _cuda_peak(stepper) if device == "cuda" else _affine_peak(stepper)
        best, probes = largest_batch(peak_of, budget)
    return MemoryTrace(
        model=name,
        device=device,
        method="cuda_max_memory_allocated" if device == "cuda" else "saved_tensors",
        step=step,
        budget_bytes=budget,
        fits=step.peak <= budget,
        max_batch=best,
        probes=probes,
    )


def trace_all(batch_size: int, **kwargs: Any) -> tuple[list[MemoryTrace], dict[str, str]]:
    """`trace_memory` for every registered trainable model; a family whose task cannot be
    prepared on the data file (it reads another format) is returned in `skipped` with why."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.models import available_models, model_family

    names = [n for n in available_models() if model_family(n).prepare is not None]
    traces, skipped = [], {}
    for name in names:
        try:
            traces.append(trace_memory(name, batch_size, **kwargs))
        except PtychoError as exc:
            skipped[name] = str(exc).split("; ")[0]
    return traces, skipped
