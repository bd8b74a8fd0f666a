"""Align a reconstruction to the ground truth before scoring.

Arrays are numpy (H, W) complex. A ptychographic reconstruction is defined only up to a global
complex scalar (phase offset and, with a refined probe, a scale), a linear phase ramp (a shift of
the probe in Fourier space) and a small translation; all three are removed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _mask_or_all(shape: tuple[int, ...], mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} does not match image shape {tuple(shape)}")
    return mask


def best_complex_scalar(recon: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None):
    """c minimising ||c recon - truth||^2 on the mask: c = <recon, truth> / <recon, recon>."""
    m = _mask_or_all(recon.shape, mask)
    denom = np.vdot(recon[m], recon[m])
    return complex(np.vdot(recon[m], truth[m]) / denom) if abs(denom) > 0 else 1.0 + 0j


def remove_global_phase(
    recon: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """recon * exp(i theta) with theta = arg <recon, truth> (the best phase offset, no scaling)."""
    m = _mask_or_all(recon.shape, mask)
    theta = np.angle(np.vdot(recon[m], truth[m]))
    return recon * np.exp(1j * theta)


def remove_phase_ramp(
    recon: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Remove the best linear phase a + b row + c col from recon relative to truth.

    Weighted least squares on arg(recon conj(truth)) (weights |recon| |truth|) after removing the
    global phase, so the residual phase is small and needs no unwrapping.
    """
    m = _mask_or_all(recon.shape, mask)
    recon = remove_global_phase(recon, truth, m)
    rows, cols = np.nonzero(m)
    diff = recon[m] * np.conj(truth[m])
    phase = np.angle(diff)
    w = np.sqrt(np.abs(diff))
    design = np.stack([np.ones_like(rows), rows, cols], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design * w[:, None], phase * w, rcond=None)
    rr, cc = np.indices(recon.shape)
    return recon * np.exp(-1j * (coef[0] + coef[1] * rr + coef[2] * cc))


def _featureless(image: np.ndarray) -> bool:
    """Every pixel equal (complex images too: a phase object has constant modulus, not this)."""
    flat = np.asarray(image).ravel()
    return flat.size == 0 or bool(np.all(flat == flat[0]))


def register_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    upsample: int = 100,
    max_shift: float | None = None,
):
    """Sub-pixel shift (d_row, d_col) such that shifting `moving` by it best matches `reference`.

    Cross-correlation refined by the upsampled DFT of Guizar-Sicairos, Thurman & Fienup,
    Opt. Lett. 33, 156 (2008) (scikit-image's implementation), precision 1/upsample pixel.
    max_shift : search only |d| <= max_shift per axis. Scan positions are known, so a true
        misregistration is a few pixels; an unbounded search lets a poor reconstruction lock
        onto a spurious peak tens of pixels away and be wrapped round before scoring.
    """
    from skimage.registration import phase_cross_correlation

    if _featureless(reference) or _featureless(moving):
        # A featureless image (e.g. the constant object's zero phase) has no shift to find;
        # the registration would only warn that it is empty.
        return 0.0, 0.0
    if max_shift is None:
        shift, _, _ = phase_cross_correlation(
            reference, moving, upsample_factor=upsample, normalization=None
        )
        return float(shift[0]), float(shift[1])
    # Integer peak of the circular cross-correlation inside the window |d| <= max_shift.
    cc = np.abs(np.fft.ifft2(np.fft.fft2(reference) * np.conj(np.fft.fft2(moving))))
    h, w = cc.shape
    dr = np.fft.fftfreq(h, 1.0 / h)[:, None]  # signed row lags
    dc = np.fft.fftfreq(w, 1.0 / w)[None, :]
    allowed = (np.abs(dr) <= max_shift) & (np.abs(dc) <= max_shift)
    peak = np.unravel_index(np.argmax(np.where(allowed, cc, -np.inf)), cc.shape)
    coarse = (float(dr[peak[0], 0]), float(dc[0, peak[1]]))
    # Sub-pixel refinement around that peak; a refinement that jumps away is not trusted.
    residual, _, _ = phase_cross_correlation(
        reference, shift_image(moving, coarse), upsample_factor=upsample, normalization=None
    )
    if np.all(np.abs(residual) <= 1.0):
        coarse = (coarse[0] + float(residual[0]), coarse[1] + float(residual[1]))
    return (
        float(np.clip(coarse[0], -max_shift, max_shift)),
        float(np.clip(coarse[1], -max_shift, max_shift)),
    )


def shift_image(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Circular sub-pixel shift by (d_row, d_col) with a Fourier phase ramp."""
    h, w = image.shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (ky * shift[0] + kx * shift[1]))
    out = np.fft.ifft2(np.fft.fft2(image) * ramp)
    return out if np.iscomplexobj(image) else out.real


# Scan positions are known; a larger apparent misregistration is a spurious correlation peak.
DEFAULT_MAX_SHIFT = 8.0


@dataclass
class Alignment:
    """The aligned reconstruction and what was removed from it."""

    recon: np.ndarray
    shift: tuple[float, float]
    scalar: complex


def bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The smallest (row, col) slices holding every True pixel of `mask`."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ValueError("the scanned-region mask is empty: nothing to score")
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def align_to_truth(
    recon: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    register: bool = True,
    max_shift: float | None = None,
) -> Alignment:
    """Register recon to truth (sub-pixel, on the mask's bounding box) and remove the best global
    complex scalar on the mask.  recon, truth : (H, W) complex; mask : (H, W) bool or None.
    max_shift : bound of the registration search per axis, pixels (None: unbounded)."""
    recon = np.asarray(recon, dtype=np.complex128)
    truth = np.asarray(truth, dtype=np.complex128)
    if recon.shape != truth.shape:
        raise ValueError(f"reconstruction shape {recon.shape} differs from truth {truth.shape}")
    m = _mask_or_all(recon.shape, mask)
    shift = (0.0, 0.0)
    if register:
        rs, cs = bounding_box(m)
        # Register the mean-free images so the unscanned border does not dominate.
        ref = truth[rs, cs] - truth[rs, cs].mean()
        mov = remove_global_phase(recon, truth, m)[rs, cs]
        shift = register_shift(ref, mov - mov.mean(), max_shift=max_shift)
        recon = shift_image(recon, shift)
    scalar = best_complex_scalar(recon, truth, m)
    return Alignment(recon=recon * scalar, shift=shift, scalar=scalar)
