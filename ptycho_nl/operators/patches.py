"""Patch extraction Q and its adjoint Q^H: object (H, W) <-> per-position object factors (B, h, w).

    Q_b O = S_{-f_b}(O[c_b + j])   ("object" mode)      Q_b O = O[c_b + j]   ("probe", "round")
    Q^H v = sum_b placed at c_b of S_{+f_b} v_b          (overlaps summed)
`illumination` is Q^H applied to per-position probe intensities: the coverage of a scan and the
solvers' preconditioner.
"""

from __future__ import annotations

import torch

from ptycho_nl.operators.placement import ScanPlacement
from ptycho_nl.operators.shift import apply_ramps


def object_patches(scan: ScanPlacement, obj: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Q O for the batch: (H, W) -> (B, h, w), a copy."""
    patches = scan.gather(obj, idx)
    if scan.shifts_object:
        patches = apply_ramps(patches, scan.ramps_of(idx).to(patches.dtype))
    return patches


def adjoint_shift(scan: ScanPlacement, values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The sub-pixel half of Q^H: S_{+f_b} values_b (B, h, w), still to be added at c_b by
    `scan.add` (`values` itself when the scan shifts no object). Phase synchronisation pairs
    these placed patches, and the stitch adds the same ones (one FFT pair per patch, not two)."""
    if scan.shifts_object:
        values = apply_ramps(values, scan.ramps_of(idx).to(values.dtype), adjoint=True)
    return values


def object_adjoint(
    scan: ScanPlacement,
    values: torch.Tensor,
    idx: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
    alpha: float = 1.0,
    flat: torch.Tensor | None = None,
) -> torch.Tensor:
    """alpha Q^H values: (B, h, w) -> (H, W) with overlaps summed, added in place into `out`
    when given (saves a canvas and a full-object add). `flat`: `scan.flat_index(idx)` if kept."""
    values = adjoint_shift(scan, values, idx)
    if out is None:
        out = torch.zeros(scan.shape, dtype=values.dtype, device=values.device)
    return scan.add(out, values, idx, alpha=alpha, flat=flat)


def illumination(
    scan: ScanPlacement,
    probe_intensity: torch.Tensor,
    idx: torch.Tensor,
    *,
    flat: torch.Tensor | None = None,
) -> torch.Tensor:
    """sum_b |P_b|^2 placed like the patches, Q^H |P_b|^2: (H, W) float32, >= 0.

    probe_intensity : (B, h, w) or (h, w) (broadcast over the batch) real. In "object" mode the
    sub-pixel placement is the exact adjoint's (Fourier-shifted, ringing clipped at zero)."""
    if scan.shifts_object:
        # Not expanded first: the ramps broadcast over a shared (h, w) intensity, so its
        # spectrum is taken once rather than B times.
        placed = object_adjoint(scan, probe_intensity.to(torch.complex64), idx, flat=flat).real
        return placed.clamp_(min=0).to(torch.float32)
    values = probe_intensity.expand(len(idx), scan.h, scan.w)
    canvas = torch.zeros(scan.shape, dtype=torch.float32, device=values.device)
    return scan.add(canvas, values.to(torch.float32), idx, flat=flat)
