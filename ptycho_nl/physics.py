"""Far-field ptychography forward model, Poisson counting and losses.

Axis legend (every function is batched over B scan positions):
    B  scan positions in a batch        N  patch / probe side (pixels)
    H, W  object height and width        positions (B, 2) float: (row, col) of the patch centre

Conventions (DESIGN.md §3):
    patch top-left   t = centre - N/2           (sub-pixel part applied by a Fourier shift)
    exit wave        psi = P * O[patch]
    far field        Psi = fftshift(fft2(psi, norm="ortho"))
    intensity        I = |Psi|^2                (Parseval: sum I = sum |psi|^2)
    counts           k ~ Poisson(s^2 I), s chosen so that E[sum k] = dose per pattern
    stored amplitude A = sqrt(k) / s            (so A ~ |Psi| and counts are exactly (s A)^2)
"""

from __future__ import annotations

import math

import torch

FFT_DIMS = (-2, -1)


def coords_to_positions(xcoords, ycoords, *, device=None) -> torch.Tensor:
    """(n,) column and (n,) row centre coordinates -> positions (n, 2) float64 (row, col)."""
    x = torch.as_tensor(xcoords, dtype=torch.float64, device=device)
    y = torch.as_tensor(ycoords, dtype=torch.float64, device=device)
    return torch.stack([y, x], dim=-1)


def split_positions(positions: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch top-left corners as integer (B, 2) plus the sub-pixel remainder (B, 2) in [0, 1)."""
    top_left = positions.to(torch.float64) - n / 2.0
    corner = torch.floor(top_left)
    return corner.to(torch.long), (top_left - corner)


def fourier_shift(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Circularly shift images by `shift` pixels: out(r, c) = in(r - dr, c - dc).

    images : (B, H, W) complex      shift : (B, 2) float (dr, dc), sub-pixel allowed
    Unitary; the adjoint of a shift by s is the shift by -s. Integer shifts equal torch.roll.
    """
    h, w = images.shape[-2:]
    ky = torch.fft.fftfreq(h, device=images.device, dtype=torch.float64)
    kx = torch.fft.fftfreq(w, device=images.device, dtype=torch.float64)
    shift = shift.to(device=images.device, dtype=torch.float64)
    # ramp(b, r, c) = exp(-2 pi i (ky_r dr_b + kx_c dc_b)); built separably to stay O(B (H + W)).
    ramp_y = torch.exp(-2j * math.pi * ky[None, :] * shift[:, 0:1])  # (B, H)
    ramp_x = torch.exp(-2j * math.pi * kx[None, :] * shift[:, 1:2])  # (B, W)
    ramp = (ramp_y[:, :, None] * ramp_x[:, None, :]).to(images.dtype)
    return torch.fft.ifft2(torch.fft.fft2(images, dim=FFT_DIMS) * ramp, dim=FFT_DIMS)


def _patch_index(corner: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.arange(n, device=corner.device)
    rows = corner[:, 0:1] + offsets  # (B, N)
    cols = corner[:, 1:2] + offsets  # (B, N)
    return rows[:, :, None], cols[:, None, :]  # broadcast to (B, N, N)


def check_positions_inside(positions: torch.Tensor, n: int, shape: tuple[int, int]) -> None:
    """Raise ValueError naming the first scan position whose patch leaves the object."""
    corner, _ = split_positions(positions, n)
    h, w = shape
    bad = (corner[:, 0] < 0) | (corner[:, 1] < 0) | (corner[:, 0] + n > h) | (corner[:, 1] + n > w)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        r, c = positions[i].tolist()
        raise ValueError(
            f"scan position {i} (row {r:.2f}, col {c:.2f}) puts a {n}x{n} patch outside the "
            f"{h}x{w} object; {int(bad.sum())} of {len(bad)} positions are outside"
        )


def extract_patches(obj: torch.Tensor, positions: torch.Tensor, n: int) -> torch.Tensor:
    """Object patches seen by the probe: O[t + j] for j in [0, N)^2, t = centre - N/2.

    obj : (H, W) complex   positions : (B, 2) float (row, col) centres   returns (B, N, N)
    Integer part by gathering, sub-pixel part by a Fourier shift of -frac.
    """
    check_positions_inside(positions, n, obj.shape[-2:])
    corner, frac = split_positions(positions.to(obj.device), n)
    rows, cols = _patch_index(corner, n)
    patches = obj[rows, cols]
    if bool((frac != 0).any()):
        patches = fourier_shift(patches, -frac)
    return patches


def scatter_patches(
    patches: torch.Tensor, positions: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """Adjoint of `extract_patches`: shift each patch back and add it into an (H, W) canvas.

    patches : (B, N, N)   positions : (B, 2)   returns (H, W) with overlaps summed.
    """
    n = patches.shape[-1]
    check_positions_inside(positions, n, shape)
    corner, frac = split_positions(positions.to(patches.device), n)
    if bool((frac != 0).any()):
        patches = fourier_shift(patches, frac)
    rows, cols = _patch_index(corner, n)
    canvas = torch.zeros(shape, dtype=patches.dtype, device=patches.device)
    canvas.index_put_((rows.expand_as(patches), cols.expand_as(patches)), patches, accumulate=True)
    return canvas


def exit_wave(probe: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """psi = P * O_patch.   probe : (N, N) or (B, N, N)   patches : (B, N, N)."""
    return probe * patches


def far_field(psi: torch.Tensor) -> torch.Tensor:
    """Psi = fftshift(fft2(psi, ortho)): unitary, zero frequency at the array centre."""
    return torch.fft.fftshift(torch.fft.fft2(psi, dim=FFT_DIMS, norm="ortho"), dim=FFT_DIMS)


def back_propagate(farfield: torch.Tensor) -> torch.Tensor:
    """Inverse (and adjoint) of `far_field`: psi = ifft2(ifftshift(Psi), ortho)."""
    return torch.fft.ifft2(torch.fft.ifftshift(farfield, dim=FFT_DIMS), dim=FFT_DIMS, norm="ortho")


def intensity(farfield: torch.Tensor) -> torch.Tensor:
    """I = |Psi|^2 (real)."""
    return farfield.real.square() + farfield.imag.square()


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
