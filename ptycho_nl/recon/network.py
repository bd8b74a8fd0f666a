"""Network reconstruction of a full scan: predict patches in chunks, synchronise, stitch.

Axis legend: n patterns in the scan, C patterns per chunk, N patch side, H x W object.
Only one chunk of patterns is on the device at a time; predicted patches (n, N, N) complex64 are
collected on the CPU because phase synchronisation needs every overlap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import BundleError
from ptycho_nl.recon.stitch import stitch_patches


class PatchPredictor(Protocol):
    """What `reconstruct_from_bundle` needs of `ptycho_nl.train.bundle.Bundle`."""

    patch_size: int

    def predict(
        self, diffraction: torch.Tensor, *, batch_size: int = 256, device: str = "cpu"
    ) -> torch.Tensor: ...


@dataclass
class NetworkResult:
    """object (H, W) complex64, coverage (H, W) float32, seconds of prediction + stitching."""

    object: torch.Tensor
    coverage: torch.Tensor
    patches: torch.Tensor
    seconds: float


def reconstruct_from_bundle(
    bundle: PatchPredictor,
    data: PtychoData,
    *,
    shape: tuple[int, int] | None = None,
    chunk: int = 1024,
    batch_size: int = 256,
    device: str = "cpu",
    phase_sync: bool = True,
) -> NetworkResult:
    """Predict every pattern's object patch with `bundle` and stitch them, weighted by |P|^2.

    data  : diffraction (n, N, N) float32 (may be memory-mapped), probe, positions
    shape : object (H, W); default the truth's shape or the smallest frame holding the scan
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
    shape = shape or data.object_shape
    start = time.perf_counter()
    patches = torch.empty((data.n_patterns, n, n), dtype=torch.complex64)
    for s in range(0, data.n_patterns, chunk):
        block = torch.from_numpy(np.array(data.diffraction[s : s + chunk]))  # one chunk copied
        patches[s : s + chunk] = bundle.predict(
            block.to(torch.float32), batch_size=batch_size, device=device
        ).cpu()
    weights = torch.as_tensor(np.asarray(data.probe)).abs().square().to(torch.float32)
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    obj, coverage = stitch_patches(
        patches, positions, shape, weights=weights, phase_sync=phase_sync
    )
    return NetworkResult(
        object=obj, coverage=coverage, patches=patches, seconds=time.perf_counter() - start
    )
