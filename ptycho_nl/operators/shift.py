"""Sub-pixel translation by a Fourier phase ramp: S_s, a unitary operator with adjoint S_{-s}.

    S_s x (r, c) = x(r - s_r, c - s_c)   (circular)   S_s x = F^-1[ F x . exp(-2 pi i k . s) ]
Integer shifts equal torch.roll. The ramp of a shift is separable, so a batch of B ramps of
H x W pixels costs O(B (H + W)) exponentials.
"""

from __future__ import annotations

import math

import torch

from ptycho_nl.operators.fourier import FFT_DIMS


def fourier_ramps(
    shift: torch.Tensor,
    n_rows: int,
    n_cols: int,
    *,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """exp(-2 pi i (k_r s_r + k_c s_c)) (B, n_rows, n_cols): multiplying fft2 by it applies S_s.

    shift : (B, 2) float (s_r, s_c) pixels. The 1-D factors are built in float64 (phases of
    large shifts need it) and their outer product in `dtype`: one rounding more than a
    float64 product, ~7x faster for complex64 (docs/performance.md)."""
    shift = shift.to(torch.float64)
    ky = torch.fft.fftfreq(n_rows, device=shift.device, dtype=torch.float64)
    kx = torch.fft.fftfreq(n_cols, device=shift.device, dtype=torch.float64)
    ramp_y = torch.exp(-2j * math.pi * ky[None, :] * shift[:, 0:1]).to(dtype)  # (B, H)
    ramp_x = torch.exp(-2j * math.pi * kx[None, :] * shift[:, 1:2]).to(dtype)  # (B, W)
    return ramp_y[:, :, None] * ramp_x[:, None, :]


def _broadcasts_into(shape: torch.Size, target: torch.Size) -> bool:
    """`shape` broadcasts to `target` unchanged. Written out because torch.broadcast_shapes
    imports sympy on its first call (0.3 s in each new process)."""
    return len(shape) <= len(target) and all(
        n in (1, t) for n, t in zip(reversed(shape), reversed(target), strict=False)
    )


def apply_ramps(
    images: torch.Tensor, ramps: torch.Tensor, *, adjoint: bool = False
) -> torch.Tensor:
    """F^-1[F images . ramps] (or . conj(ramps) for the adjoint); ramps broadcast over images."""
    spectrum = torch.fft.fft2(images, dim=FFT_DIMS)
    factor = ramps.conj() if adjoint else ramps
    if _broadcasts_into(factor.shape, spectrum.shape):
        # In place: the spectrum is this function's own (fft2's backward does not keep it).
        spectrum = spectrum.mul_(factor)
    else:
        spectrum = spectrum * factor
    return torch.fft.ifft2(spectrum, dim=FFT_DIMS)


def fourier_shift(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """S_s images: images (B, H, W) complex, shift (B, 2) float (s_r, s_c), sub-pixel allowed."""
    h, w = images.shape[-2:]
    ramps = fourier_ramps(shift.to(images.device), h, w, dtype=images.dtype)
    return apply_ramps(images, ramps)
