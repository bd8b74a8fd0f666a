"""Far-field ptychography forward model, Poisson counting and losses.

Axis legend (every function is batched over B scan positions):
    B  scan positions in a batch        N  patch / probe side (pixels)
    H, W  object height and width        positions (B, 2) float: (row, col) of the patch centre

Conventions (docs/architecture.md, "Physics conventions"):
    patch top-left   t = centre - N/2           (sub-pixel part applied by a Fourier shift)
    exit wave        psi = P * O[patch]
    far field        Psi = fftshift(fft2(psi, norm="ortho"))
    intensity        I = |Psi|^2                (Parseval: sum I = sum |psi|^2)
    counts           k ~ Poisson(s^2 I), s chosen so that E[sum k] = dose per pattern
    stored amplitude A = sqrt(k) / s            (so A ~ |Psi| and counts are exactly (s A)^2)
The operators themselves (patch extraction, probe product, far field, each with its adjoint)
live in `ptycho_nl.operators`; the functions here compose them into the equations above.
"""

from __future__ import annotations

import math

import torch

from ptycho_nl.operators import (
    FFT_DIMS,
    ScanPlacement,
    back_propagate,
    check_positions_inside,
    exit_wave,
    far_field,
    fourier_shift,
    intensity,
    object_adjoint,
    object_patches,
    split_positions,
)

__all__ = [
    "FFT_DIMS",
    "amplitude_mae",
    "amplitude_to_counts",
    "back_propagate",
    "check_positions_inside",
    "coords_to_positions",
    "counts_to_amplitude",
    "exit_wave",
    "extract_patches",
    "far_field",
    "forward_intensity",
    "fourier_shift",
    "intensity",
    "photon_scale",
    "poisson_counts",
    "poisson_nll",
    "scatter_patches",
    "split_positions",
]


def coords_to_positions(xcoords, ycoords, *, device=None) -> torch.Tensor:
    """(n,) column and (n,) row centre coordinates -> positions (n, 2) float64 (row, col)."""
    x = torch.as_tensor(xcoords, dtype=torch.float64, device=device)
    y = torch.as_tensor(ycoords, dtype=torch.float64, device=device)
    return torch.stack([y, x], dim=-1)


def _exact_placement(positions: torch.Tensor, n: int, shape, dtype, device) -> ScanPlacement:
    return ScanPlacement(positions.to(device), n, tuple(shape), subpixel="object", ramp_dtype=dtype)


def extract_patches(obj: torch.Tensor, positions: torch.Tensor, n: int) -> torch.Tensor:
    """Object patches seen by the probe: O[t + j] for j in [0, N)^2, t = centre - N/2.

    obj : (H, W) complex   positions : (B, 2) float (row, col) centres   returns (B, N, N)
    Integer part by gathering, sub-pixel part by a Fourier shift of -frac.
    """
    scan = _exact_placement(positions, n, obj.shape[-2:], obj.dtype, obj.device)
    return object_patches(scan, obj, torch.arange(len(scan), device=obj.device))


def scatter_patches(
    patches: torch.Tensor, positions: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """Adjoint of `extract_patches`: shift each patch back and add it into an (H, W) canvas.

    patches : (B, N, N)   positions : (B, 2)   returns (H, W) with overlaps summed.
    """
    n = patches.shape[-1]
    scan = _exact_placement(positions, n, shape, patches.dtype, patches.device)
    return object_adjoint(scan, patches, torch.arange(len(scan), device=patches.device))


def forward_intensity(
    obj: torch.Tensor, probe: torch.Tensor, positions: torch.Tensor
) -> torch.Tensor:
    """Noise-free diffraction intensities |F{P * O[patch]}|^2, shape (B, N, N)."""
    n = probe.shape[-1]
    return intensity(far_field(exit_wave(probe, extract_patches(obj, positions, n))))


def photon_scale(intensities: torch.Tensor, dose: float) -> float:
    """Scale s such that the mean over patterns of sum(s^2 I) equals `dose` photons."""
    if dose <= 0:
        raise ValueError(f"dose must be positive photons per pattern, got {dose}")
    mean_energy = float(intensities.sum(dim=FFT_DIMS).mean())
    if mean_energy <= 0:
        raise ValueError("diffraction intensities are all zero: no photons to scale")
    return math.sqrt(dose / mean_energy)


def poisson_counts(
    intensities: torch.Tensor, dose: float, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, float]:
    """Draw counts k ~ Poisson(s^2 I) at a mean of `dose` photons per pattern.

    Returns (counts (B, N, N) float, scale s). The rate is computed in float64 so counts at
    high dose are exact integers.
    """
    s = photon_scale(intensities, dose)
    rate = intensities.to(torch.float64) * (s * s)
    counts = torch.poisson(rate, generator=generator)
    return counts, s


def counts_to_amplitude(counts: torch.Tensor, scale: float) -> torch.Tensor:
    """Stored amplitude A = sqrt(k) / s (float32)."""
    return (counts.to(torch.float64).sqrt() / scale).to(torch.float32)


def poisson_amplitude(
    intensities: torch.Tensor,
    scale: float,
    *,
    generator: torch.Generator | None = None,
    chunk: int = 256,
) -> torch.Tensor:
    """Noisy stored amplitude sqrt(k) / s with k ~ Poisson(s^2 I), float32, `chunk` patterns
    at a time.

    The same draws as `counts_to_amplitude(torch.poisson(s^2 I))` on the whole stack (the
    generator is consumed in the same order), but the float64 temporaries stay small: whole-
    stack ones are fresh memory mappings, and faulting their pages in cost more system time
    than the sampling itself (a 2048-pattern shard of 64^2 pixels)."""
    out = torch.empty(intensities.shape, dtype=torch.float32)
    for start in range(0, len(intensities), chunk):
        rate = intensities[start : start + chunk].to(torch.float64) * (scale * scale)
        counts = torch.poisson(rate, generator=generator)
        out[start : start + chunk] = counts_to_amplitude(counts, scale)
    return out


def amplitude_to_counts(amplitude: torch.Tensor, scale: float) -> torch.Tensor:
    """Recover counts k = (s A)^2, rounded to the nearest integer."""
    return torch.round((amplitude.to(torch.float64) * scale).square())


def poisson_nll(rate: torch.Tensor, counts: torch.Tensor, *, eps: float = 1e-8) -> torch.Tensor:
    """Mean Poisson negative log-likelihood  lambda - k log(lambda)  (the log k! term dropped).

    rate : predicted mean counts lambda >= 0     counts : observed k (same shape)
    """
    return (rate - counts * torch.log(rate + eps)).mean()


def amplitude_mae(pred_amplitude: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between predicted |Psi| and measured amplitude."""
    return (pred_amplitude - amplitude).abs().mean()
