"""Image-quality metrics of a reconstruction against the ground truth.

Arrays are numpy (H, W) complex, scored on the scanned region (a bool mask; its bounding box is
the crop). Conventions:
    NRMSE    ||c r - t|| / ||t|| with c the best global complex scalar (and again after removing
             a linear phase ramp)
    PSNR     10 log10(R^2 / MSE), R = peak-to-peak of the truth (stated in the output);
             identical images give +inf (written to JSON as the string "inf")
    SSIM     Wang et al., IEEE TIP 13, 600 (2004), Gaussian window sigma 1.5
    MS-SSIM  Wang, Simoncelli & Bovik, Asilomar 2003, weights of the paper, scales fitting the image
    FRC      Fourier ring correlation with the 1/2-bit threshold of van Heel & Schatz,
             J. Struct. Biol. 151, 250 (2005)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ptycho_nl.evaluate.align import (
    DEFAULT_MAX_SHIFT,
    align_to_truth,
    bounding_box,
    remove_phase_ramp,
)

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_K1, SSIM_K2, SSIM_SIGMA = 0.01, 0.03, 1.5
EXACT_RELATIVE_RMS = 1e-12
MIN_SSIM_SIDE = 11  # below this a 1.5-sigma Gaussian SSIM window no longer fits
MIN_TILE_SIDE = 12  # pixels per tile side: room for the 7x7 SSIM window with margin
COVERAGE_THRESHOLD = 0.5  # scored pixels: scan coverage >= this x its maximum


@dataclass(frozen=True)
class MetricSpec:
    """One scalar score of `compute_metrics`: its key, a label for tables, and its direction."""

    name: str
    label: str
    higher_is_better: bool


# The metric vocabulary: the keys `compute_metrics` returns, and the only names the study's
# manifests, comparisons and report use for them.
PHASE_SSIM = MetricSpec("phase_ssim", "phase SSIM", True)
AMPLITUDE_SSIM = MetricSpec("amplitude_ssim", "amplitude SSIM", True)
PHASE_MS_SSIM = MetricSpec("phase_ms_ssim", "phase MS-SSIM", True)
AMPLITUDE_MS_SSIM = MetricSpec("amplitude_ms_ssim", "amplitude MS-SSIM", True)
NRMSE = MetricSpec("nrmse", "NRMSE", False)
NRMSE_RAMP_REMOVED = MetricSpec("nrmse_ramp_removed", "NRMSE (phase ramp removed)", False)
PHASE_PSNR = MetricSpec("phase_psnr", "phase PSNR (dB)", True)
AMPLITUDE_PSNR = MetricSpec("amplitude_psnr", "amplitude PSNR (dB)", True)
PHASE_MAE = MetricSpec("phase_mae", "phase MAE (rad)", False)
AMPLITUDE_MAE = MetricSpec("amplitude_mae", "amplitude MAE", False)
FRC_RESOLUTION = MetricSpec("frc_resolution_px", "FRC ½-bit resolution (px)", False)
SCALAR_METRICS = (
    PHASE_SSIM,
    AMPLITUDE_SSIM,
    PHASE_MS_SSIM,
    AMPLITUDE_MS_SSIM,
    NRMSE,
    NRMSE_RAMP_REMOVED,
    PHASE_PSNR,
    AMPLITUDE_PSNR,
    PHASE_MAE,
    AMPLITUDE_MAE,
    FRC_RESOLUTION,
)
METRICS: dict[str, MetricSpec] = {m.name: m for m in SCALAR_METRICS}
TILE_METRICS = (PHASE_SSIM, AMPLITUDE_SSIM, NRMSE)  # what `tile_metrics` scores per tile


def psnr(pred: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; +inf for identical images (an RMS error below
    float64 round-off, 1e-12 of the range, counts as identical: alignment itself rounds)."""
    mse = float(np.mean((np.asarray(pred, float) - np.asarray(truth, float)) ** 2))
    if mse <= (EXACT_RELATIVE_RMS * data_range) ** 2:
        return math.inf
    return 10 * math.log10(data_range**2 / mse)


def _ssim_maps(a: np.ndarray, b: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and contrast-structure maps of SSIM with a Gaussian window."""
    from scipy.ndimage import gaussian_filter

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    f = lambda x: gaussian_filter(x, SSIM_SIGMA, truncate=3.5)  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    var_a = f(a * a) - mu_a**2
    var_b = f(b * b) - mu_b**2
    cov = f(a * b) - mu_a * mu_b
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    return lum, cs


def ssim(pred: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Mean structural similarity (1 for identical images)."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.asarray(pred, float),
            np.asarray(truth, float),
            data_range=data_range,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
        )
    )


def ms_ssim(pred: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Multi-scale SSIM over as many of the 5 standard scales as the image allows (weights
    renormalised); contrast-structure at every scale, luminance at the coarsest."""
    a, b = np.asarray(pred, float), np.asarray(truth, float)
    levels = 1
    while levels < 5 and min(a.shape) // 2**levels >= MIN_SSIM_SIDE:
        levels += 1
    weights = np.asarray(MS_SSIM_WEIGHTS[:levels])
    weights = weights / weights.sum()
    value = 1.0
    for level in range(levels):
        lum, cs = _ssim_maps(a, b, data_range)
        if level == levels - 1:
            value *= max(float(np.mean(lum * cs)), 0.0) ** weights[level]
        else:
            value *= max(float(np.mean(cs)), 0.0) ** weights[level]
            h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
            a = a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
            b = b[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return float(value)


def scored_mask(coverage: np.ndarray, threshold: float = COVERAGE_THRESHOLD) -> np.ndarray:
    """The scored region: pixels whose scan coverage reaches `threshold` of its maximum."""
    coverage = np.asarray(coverage)
    return coverage >= threshold * float(coverage.max())


def half_bit_threshold(n_pixels: np.ndarray) -> np.ndarray:
    """1/2-bit FRC threshold for rings of `n_pixels` pixels (van Heel & Schatz 2005, Eq. 17)."""
    root = np.sqrt(np.maximum(np.asarray(n_pixels, float), 1.0))
    return (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)


def _rings(shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    step = 1.0 / min(h, w)
    ring = np.rint(np.sqrt(ky**2 + kx**2) / step).astype(np.int64)
    return ring, min(h, w) // 2 + 1


def frc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two (H, W) images (real or complex).

    Returns (freqs (K,) in cycles per pixel from 0 to 0.5, curve (K,) real in [-1, 1]).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"FRC needs images of one shape, got {a.shape} and {b.shape}")
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    ring, k = _rings(a.shape)
    inside = ring < k
    idx = ring[inside]
    cross = np.bincount(idx, (fa * np.conj(fb)).real[inside], minlength=k)
    pa = np.bincount(idx, np.abs(fa[inside]) ** 2, minlength=k)
    pb = np.bincount(idx, np.abs(fb[inside]) ** 2, minlength=k)
    denom = np.sqrt(pa * pb)
    curve = np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), 0.0)
    return np.arange(k) / min(a.shape), curve


def frc_resolution(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """FRC curve, 1/2-bit threshold and the resolution (pixels) where the curve first drops
    below it; when it never does, the resolution is the Nyquist limit (2 px) and `limited`."""
    freqs, curve = frc(a, b)
    ring, k = _rings(np.asarray(a).shape)
    counts = np.bincount(ring[ring < k], minlength=k)
    threshold = half_bit_threshold(counts)
    below = np.flatnonzero((curve < threshold) & (freqs > 0))
    if len(below):
        f = float(freqs[below[0]])
        return {
            "freqs": freqs.tolist(),
            "curve": curve.tolist(),
            "threshold": threshold.tolist(),
            "resolution_px": 1.0 / f,
            "cutoff_frequency": f,
            "nyquist_limited": False,
        }
    return {
        "freqs": freqs.tolist(),
        "curve": curve.tolist(),
        "threshold": threshold.tolist(),
        "resolution_px": 2.0,
        "cutoff_frequency": 0.5,
        "nyquist_limited": True,
    }


def wrapped(phase: np.ndarray) -> np.ndarray:
    """Phase wrapped into (-pi, pi]."""
    return np.angle(np.exp(1j * phase))


def relative_phases(recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recon phase, truth phase), both relative to the truth's mean phase so that wrapping at
    +-pi does not bite; the recon's is the truth's plus the wrapped difference."""
    ref = np.angle(truth.mean()) if abs(truth.mean()) > 0 else 0.0
    ph_t = wrapped(np.angle(truth) - ref)
    return ph_t + wrapped(np.angle(recon) - np.angle(truth)), ph_t


def tile_metrics(
    recon: np.ndarray, truth: np.ndarray, tiles_per_side: int, *, min_tile: int = MIN_TILE_SIDE
) -> dict[str, list[float]]:
    """Per-tile `TILE_METRICS` of an aligned (h, w) reconstruction, tiles in row-major order.

    At most `tiles_per_side` tiles per axis, none smaller than `min_tile` pixels. The SSIM data
    ranges are the whole region's, as in `compute_metrics`, so tiles are scored on one scale.
    """
    ph_r, ph_t = relative_phases(recon, truth)
    ph_range = float(np.ptp(ph_t)) or 1.0
    amp_r, amp_t = np.abs(recon), np.abs(truth)
    amp_range = float(np.ptp(amp_t)) or 1.0
    rows, cols = (
        np.array_split(np.arange(side), max(1, min(tiles_per_side, side // min_tile)))
        for side in truth.shape
    )
    out: dict[str, list[float]] = {m.name: [] for m in TILE_METRICS}
    for r in rows:
        for c in cols:
            block = np.ix_(r, c)
            out[PHASE_SSIM.name].append(ssim(ph_r[block], ph_t[block], ph_range))
            out[AMPLITUDE_SSIM.name].append(ssim(amp_r[block], amp_t[block], amp_range))
            out[NRMSE.name].append(
                float(np.linalg.norm(recon[block] - truth[block]) / np.linalg.norm(truth[block]))
            )
    return out


def compute_metrics(
    recon: np.ndarray,
    truth: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    register: bool = True,
    remove_ramp: bool = False,
    max_shift: float | None = DEFAULT_MAX_SHIFT,
) -> dict[str, Any]:
    """Score `recon` against `truth` on the scanned region.

    recon, truth : (H, W) complex   mask : (H, W) bool scanned region (default: everything)
    register     : estimate and undo a sub-pixel shift first (at most max_shift pixels per axis)
    remove_ramp  : score the image metrics after removing a linear phase ramp too (a blind
                   reconstruction's probe can absorb one); NRMSE is reported both ways regardless
    Returns a JSON-ready dict (floats; +inf PSNR stays a float here): every `SCALAR_METRICS`
    name, plus region, shift_px, global_scalar, data_range and the full `frc` curve.
    """
    recon = np.asarray(recon, dtype=np.complex128)
    truth = np.asarray(truth, dtype=np.complex128)
    if recon.shape != truth.shape:
        raise ValueError(f"reconstruction shape {recon.shape} differs from truth {truth.shape}")
    mask = np.ones(recon.shape, bool) if mask is None else np.asarray(mask, bool)
    aligned = align_to_truth(recon, truth, mask, register=register, max_shift=max_shift)
    rs, cs = bounding_box(mask)
    r, t = aligned.recon[rs, cs], truth[rs, cs]
    t_norm = float(np.linalg.norm(t))
    deramped = remove_phase_ramp(r, t)
    deramped = deramped * (np.vdot(deramped, t) / max(np.vdot(deramped, deramped).real, 1e-300))
    nrmse = float(np.linalg.norm(r - t) / t_norm)
    if remove_ramp:
        r = deramped
    amp_r, amp_t = np.abs(r), np.abs(t)
    ph_r, ph_t = relative_phases(r, t)
    amp_range = float(np.ptp(amp_t)) or 1.0
    ph_range = float(np.ptp(ph_t)) or 1.0
    curve = frc_resolution(r, t)
    scores = {
        AMPLITUDE_MAE: float(np.mean(np.abs(amp_r - amp_t))),
        PHASE_MAE: float(np.mean(np.abs(ph_r - ph_t))),
        NRMSE: nrmse,
        NRMSE_RAMP_REMOVED: float(np.linalg.norm(deramped - t) / t_norm),
        AMPLITUDE_PSNR: psnr(amp_r, amp_t, amp_range),
        PHASE_PSNR: psnr(ph_r, ph_t, ph_range),
        AMPLITUDE_SSIM: ssim(amp_r, amp_t, amp_range),
        PHASE_SSIM: ssim(ph_r, ph_t, ph_range),
        AMPLITUDE_MS_SSIM: ms_ssim(amp_r, amp_t, amp_range),
        PHASE_MS_SSIM: ms_ssim(ph_r, ph_t, ph_range),
        FRC_RESOLUTION: curve["resolution_px"],
    }
    return {
        "region": {"rows": [int(rs.start), int(rs.stop)], "cols": [int(cs.start), int(cs.stop)]},
        "shift_px": list(aligned.shift),
        "phase_ramp_removed": remove_ramp,
        "global_scalar": {"abs": abs(aligned.scalar), "phase": float(np.angle(aligned.scalar))},
        **{metric.name: value for metric, value in scores.items()},
        "data_range": {
            "amplitude": amp_range,
            "phase": ph_range,
            "definition": "peak-to-peak of the truth on the region",
        },
        "frc": curve,
    }
