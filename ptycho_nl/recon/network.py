"""Network reconstruction of a full scan: predict patches in chunks, synchronise, stitch.

Axis legend: n patterns in the scan, C patterns per chunk, N patch side, H x W object.
Only one chunk of patterns is on the device at a time; predicted patches (n, N, N) complex64 are
collected on the CPU because phase synchronisation needs every overlap. Each stage's seconds
(predict, phase sync, stitch) are kept: `benchmarks/bench_inference.py` reports their shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import BundleError
from ptycho_nl.recon.stitch import stitch_patches

PRECISIONS = ("float32", "bfloat16")


class PatchPredictor(Protocol):
    """What `reconstruct_from_bundle` needs of `ptycho_nl.train.bundle.Bundle` (`precision` is
    passed only when it is not float32, so a predictor without that option still serves)."""

    patch_size: int

    def predict(
        self, diffraction: torch.Tensor, *, batch_size: int = 256, device: str = "cpu"
    ) -> torch.Tensor: ...


@dataclass
class NetworkResult:
    """object (H, W) complex64, coverage (H, W) float32, seconds of prediction + stitching;
    stages: seconds of "predict", "phase_sync" and "stitch" (they add up to `seconds`)."""

    object: torch.Tensor
    coverage: torch.Tensor
    patches: torch.Tensor
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


def reconstruct_from_bundle(
    bundle: PatchPredictor,
    data: PtychoData,
    *,
    shape: tuple[int, int] | None = None,
    chunk: int = 1024,
    batch_size: int = 256,
    device: str = "cpu",
    phase_sync: bool = True,
    precision: str = "float32",
) -> NetworkResult:
    """Predict every pattern's object patch with `bundle` and stitch them, weighted by |P|^2.

    data  : diffraction (n, N, N) float32 (may be memory-mapped), probe, positions
    shape : object (H, W); default the truth's shape or the smallest frame holding the scan
    precision : "float32", or "bfloat16" (autocast in the predictor; meant for GPUs)
    Raises BundleError when the bundle's patch size differs from the data's, ValueError when a
    position puts its patch outside the object.
    """

    n = data.patch_size
    if int(bundle.patch_size) != n:
        raise BundleError(
            f"bundle predicts {bundle.patch_size}x{bundle.patch_size} patches but "
            f"{data.source or 'the data'} has {n}x{n} diffraction patterns"
        )
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of patterns, got {chunk}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    extra = {} if precision == "float32" else {"precision": precision}
    shape = shape or data.object_shape
    clock = [time.perf_counter()]
    patches = torch.empty((data.n_patterns, n, n), dtype=torch.complex64)
    for s in range(0, data.n_patterns, chunk):
        block = torch.from_numpy(np.array(data.diffraction[s : s + chunk]))  # one chunk copied
        patches[s : s + chunk] = bundle.predict(
            block.to(torch.float32), batch_size=batch_size, device=device, **extra
        ).cpu()
    clock.append(time.perf_counter())
    weights = torch.as_tensor(np.asarray(data.probe)).abs().square().to(torch.float32)
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    parts: dict[str, float] = {"phase_sync": 0.0}
    obj, coverage = stitch_patches(
        patches, positions, shape, weights=weights, phase_sync=phase_sync, clock=parts
    )
    clock.append(time.perf_counter())
    predict, stitch = np.diff(clock).tolist()
    # The stitch includes phase synchronisation (they share the sub-pixel placed patches).
    stages = {"predict": predict, "phase_sync": parts["phase_sync"]}
    stages["stitch"] = stitch - parts["phase_sync"]
    return NetworkResult(
        object=obj,
        coverage=coverage,
        patches=patches,
        seconds=clock[-1] - clock[0],
        stages=stages,
    )
