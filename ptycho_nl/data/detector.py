"""Detector statistics of a dataset and a suggested validity mask (`ptycho-nl inspect`).

Axis legend: n patterns, N detector side. Counts are k = (s A)^2 (s = intensity_scale, 1 when
absent). Read in blocks of patterns, so a memory-mapped file is never materialised whole.

    counts per pattern   sum of k over the valid pixels
    saturated pixels     k >= `saturation` in at least one pattern (only when a level is given;
                         the report names the stack's maximum and how many patterns reach it:
                         a clipped detector repeats its ceiling)
    hot pixels           mean k over patterns > `hot_factor` (25) x the 3x3 median of the mean image
                         (and >= 1 count): a pixel brighter than any diffraction feature allows
    dead pixels          k = 0 in every pattern where the 3x3 median of the mean image >= 1
    centre of mass       per pattern, (row, col) offset from the frame centre, pixels
The suggested mask is True where none of the three flags is set and the file's own mask (if
any; a per-pattern one as the pixels valid in every pattern) is True (specs/data_contracts.md §6).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

BLOCK = 256
# Sharp diffraction features reach 13.5x their 3x3 median in the tests' simulated scans
# (measured); a hot pixel is usually orders of magnitude above its neighbours.
HOT_FACTOR = 25.0


class DetectorReport(BaseModel):
    """What `inspect` found; the mask itself is returned beside it."""

    n_patterns: int
    side: int
    counts_per_pattern: list[float] = Field(description="Total counts of each pattern.")
    counts_min: float
    counts_median: float
    counts_max: float
    saturated_pixels: list[tuple[int, int]]
    hot_pixels: list[tuple[int, int]]
    dead_pixels: list[tuple[int, int]]
    centre_of_mass: list[tuple[float, float]] = Field(description="(row, col) from the centre.")
    ceiling_counts: float = Field(description="The largest count in the stack.")
    patterns_at_ceiling: int = Field(description="Patterns with a pixel at that count.")
    com_drift_px: float = Field(description="Largest distance of a pattern's COM from the mean.")
    masked_fraction: float = Field(description="Fraction of pixels the suggested mask excludes.")
    existing_mask: bool = Field(description="The file already carries a mask.")


def _blocks(data):
    s = float(data.intensity_scale or 1.0)
    for start in range(0, data.n_patterns, BLOCK):
        block = np.asarray(data.diffraction[start : start + BLOCK], dtype=np.float64)
        yield start, np.square(s * block)


def _pixels(flags: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r), int(c)) for r, c in np.argwhere(flags)]


def inspect_detector(
    data, *, hot_factor: float = HOT_FACTOR, saturation: float | None = None
) -> tuple[DetectorReport, np.ndarray]:
    """Statistics of `data` (PtychoData) and the suggested (N, N) bool mask (True = valid)."""
    from scipy.ndimage import median_filter

    n, side = data.n_patterns, data.patch_size
    total = np.zeros((side, side))
    peak = np.zeros((side, side))
    counts, com = [], []
    rows = np.arange(side)[:, None] - side / 2
    cols = np.arange(side)[None, :] - side / 2
    for _, k in _blocks(data):
        total += k.sum(axis=0)
        peak = np.maximum(peak, k.max(axis=0))
        weight = k.sum(axis=(-2, -1))
        counts.extend(weight.tolist())
        safe = np.maximum(weight, 1e-30)
        com.extend(zip(((k * rows).sum(axis=(-2, -1)) / safe).tolist(),
                       ((k * cols).sum(axis=(-2, -1)) / safe).tolist(), strict=True))  # fmt: skip
    ceiling = float(peak.max())
    at_ceiling = sum(int((k >= ceiling).any(axis=(-2, -1)).sum()) for _, k in _blocks(data))
    mean = total / max(n, 1)
    local = median_filter(mean, size=3, mode="nearest")
    hot = (mean > hot_factor * local) & (mean >= 1.0)
    dead = (peak == 0) & (local >= 1.0)
    saturated = np.zeros((side, side), bool) if saturation is None else peak >= saturation
    mask = ~(hot | dead | saturated)
    if data.mask is not None:  # what the file already excludes stays excluded
        existing = np.asarray(data.mask, dtype=bool)
        mask &= existing if existing.ndim == 2 else existing.all(axis=0)
    centres = np.asarray(com, dtype=np.float64).reshape(-1, 2)
    drift = float(np.hypot(*(centres - centres.mean(axis=0)).T).max()) if n else 0.0
    report = DetectorReport(
        n_patterns=n,
        side=side,
        counts_per_pattern=[float(c) for c in counts],
        counts_min=float(np.min(counts)),
        counts_median=float(np.median(counts)),
        counts_max=float(np.max(counts)),
        saturated_pixels=_pixels(saturated),
        hot_pixels=_pixels(hot),
        dead_pixels=_pixels(dead),
        centre_of_mass=[(float(r), float(c)) for r, c in centres],
        ceiling_counts=ceiling,
        patterns_at_ceiling=at_ceiling,
        com_drift_px=drift,
        masked_fraction=float(1 - mask.mean()),
        existing_mask=data.mask is not None,
    )
    return report, mask
