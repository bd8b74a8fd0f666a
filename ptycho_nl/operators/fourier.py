"""Far-field propagation: the unitary 2-D Fourier transform and its adjoint (= inverse).

    far field   Psi = F psi,  F = fftshift . fft2(norm="ortho")        (centred=True)
    adjoint     psi = F^H Psi = ifft2(ifftshift(Psi), norm="ortho")
With centred=False the fftshift is left out (zero frequency at [0, 0]): pointwise constraints
(the solvers' modulus projection) commute with it, so data are ifftshift-ed once up front and
every step saves two full copies. Parseval: sum |Psi|^2 = sum |psi|^2 in both layouts.
"""

from __future__ import annotations

import torch

FFT_DIMS = (-2, -1)


def far_field(psi: torch.Tensor, *, centred: bool = True) -> torch.Tensor:
    """Psi = F psi over the last two axes; (..., N, N) complex -> (..., N, N) complex."""
    farfield = torch.fft.fft2(psi, dim=FFT_DIMS, norm="ortho")
    return torch.fft.fftshift(farfield, dim=FFT_DIMS) if centred else farfield


def back_propagate(farfield: torch.Tensor, *, centred: bool = True) -> torch.Tensor:
    """psi = F^H Psi: the adjoint and inverse of `far_field` (same `centred` layout)."""
    if centred:
        farfield = torch.fft.ifftshift(farfield, dim=FFT_DIMS)
    return torch.fft.ifft2(farfield, dim=FFT_DIMS, norm="ortho")


def intensity(farfield: torch.Tensor) -> torch.Tensor:
    """I = |Psi|^2 (real), without forming |Psi|."""
    return farfield.real.square() + farfield.imag.square()


def centring_checkerboard(n_rows: int, n_cols: int) -> torch.Tensor | None:
    """(-1)^(r + c) (n_rows, n_cols) float32 for even sizes, else None.

    fftshift(fft2(x)) = fft2(x (-1)^(r+c)) when both sizes are even: a caller that multiplies a
    fixed factor (a probe) by it once gets the centred far field from an unshifted transform."""
    if n_rows % 2 or n_cols % 2:
        return None
    r = torch.arange(n_rows)[:, None]
    c = torch.arange(n_cols)[None, :]
    return (1 - 2 * ((r + c) % 2)).to(torch.float32)
