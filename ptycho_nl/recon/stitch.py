"""Stitch object patches into one object: weighted average over overlaps, sub-pixel placement.

Axis legend: B patches, N patch side, H x W object.

    O(x) = sum_b w(x - t_b) z_b(x - t_b) / sum_b w(x - t_b),    coverage(x) = sum_b w(x - t_b)

computed with the two halves of `operators.object_adjoint` (`adjoint_shift`, then `scan.add`), the
exact adjoint of patch extraction, so sub-pixel positions are placed by the same Fourier shift
the forward model uses.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ptycho_nl.operators import ScanPlacement, adjoint_shift, illumination
from ptycho_nl.recon.phase_sync import phase_offsets

COVERAGE_FLOOR = 1e-3  # relative coverage below which a pixel counts as not scanned


def _exact_scan(positions: torch.Tensor, n: int, shape: tuple[int, int]) -> ScanPlacement:
    return ScanPlacement(positions.to(torch.float64), n, tuple(shape), subpixel="object")


def scan_coverage(
    probe: torch.Tensor, positions: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """Coverage of a scan: sum over positions of |P|^2 placed like the patches, (H, W) float32.

    probe : (N, N) complex   positions : (B, 2) float (row, col) centres   shape : (H, W)
    """
    scan = _exact_scan(positions.to(probe.device), probe.shape[-1], shape)
    return illumination(scan, probe.abs().square(), torch.arange(len(scan), device=probe.device))


def scored_region(data) -> np.ndarray:
    """(H, W) bool: the pixels a scan is scored on, `evaluate.metrics.scored_mask` of its own
    probe's coverage (the rule of `ptycho-nl evaluate`, the study and the quality traces)."""
    from ptycho_nl.evaluate.metrics import scored_mask

    probe = torch.as_tensor(np.asarray(data.probe)).to(torch.complex64)
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    return scored_mask(scan_coverage(probe, positions, data.object_shape).numpy())


def stitch_patches(
    patches: torch.Tensor,
    positions: torch.Tensor,
    shape: tuple[int, int],
    *,
    weights: torch.Tensor | None = None,
    phase_sync: bool = False,
    clock: dict[str, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches -> object.

    patches   : (B, N, N) complex        positions : (B, 2) float (row, col) patch centres
    shape     : (H, W) of the object      weights   : (N, N) real >= 0, e.g. |P|^2 (default: ones)
    phase_sync: first remove each patch's arbitrary constant phase (see `phase_sync.py`); it
        pairs the same sub-pixel-placed weighted patches that are then added, S_f(w z_b), so
        they are shifted once
    clock     : when given, gets the seconds of phase synchronisation under "phase_sync"
    Returns (object (H, W) complex64, zero where unscanned; coverage (H, W) float32).
    Raises ValueError when a position puts its patch outside the object.
    """
    if patches.ndim != 3 or patches.shape[-1] != patches.shape[-2]:
        raise ValueError(f"patches must be (B, N, N), got {tuple(patches.shape)}")
    if positions.shape != (patches.shape[0], 2):
        raise ValueError(
            f"positions must be ({patches.shape[0]}, 2) to match the patches, "
            f"got {tuple(positions.shape)}"
        )
    n = patches.shape[-1]
    patches = patches.to(torch.complex64)
    positions = positions.to(torch.float64)
    if weights is None:
        weights = torch.ones(n, n, device=patches.device)
    weights = weights.to(device=patches.device, dtype=torch.float32)
    if weights.shape != (n, n):
        raise ValueError(f"weights must be ({n}, {n}), got {tuple(weights.shape)}")
    scan = _exact_scan(positions.to(patches.device), n, shape)
    idx = torch.arange(len(scan), device=patches.device)
    # Q^H (w z) = add at c_b of S_{+f_b}(w z_b); a constant phase per patch commutes with it.
    placed = adjoint_shift(scan, patches * weights, idx)
    if phase_sync:
        start = time.perf_counter()
        corrections = phase_offsets(patches, positions, weights, placed=placed)
        placed = placed * corrections.to(placed.device)[:, None, None]
        if clock is not None:
            clock["phase_sync"] = time.perf_counter() - start
    numerator = scan.add(torch.zeros(shape, dtype=placed.dtype, device=placed.device), placed, idx)
    coverage = illumination(scan, weights, idx)
    covered = coverage > COVERAGE_FLOOR * coverage.max()
    obj = torch.where(covered, numerator / torch.where(covered, coverage, 1.0), 0)
    return obj.to(torch.complex64), coverage
