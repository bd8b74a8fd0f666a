"""Scan patterns (raster, Fermat spiral) with overlap control, and the train/test region split.

positions (n, 2) float64 are (row, col) patch centres in object pixels. Linear overlap is
1 - step / D with step the median nearest-neighbour distance and D `probe_diameter(probe)`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ptycho_nl.data.grouping import nearest_neighbour_distances
from ptycho_nl.errors import ConfigError
from ptycho_nl.simulate.config import ScanConfig
from ptycho_nl.simulate.probes import probe_diameter

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
SCAN_MARGIN = 2  # free pixels between the outermost patch and the object edge


def _median(values: torch.Tensor) -> float:
    """The median averaging the two middle values (numpy's), not torch's lower one."""
    return float(torch.quantile(values, 0.5))


def measure_overlap(positions: torch.Tensor | np.ndarray, probe: torch.Tensor) -> float:
    """Linear overlap 1 - (median nearest-neighbour step) / probe_diameter(probe)."""
    step = _median(nearest_neighbour_distances(positions))
    return 1.0 - step / probe_diameter(torch.as_tensor(np.asarray(probe)))


def _unit_scan(kind: str, n: int, columns: int | None = None) -> torch.Tensor:
    """(n, 2) positions whose median nearest-neighbour distance is 1."""
    if kind == "raster":
        cols = columns or math.ceil(math.sqrt(n))
        k = torch.arange(n, dtype=torch.float64)
        return torch.stack([torch.div(k, cols, rounding_mode="floor"), k % cols], dim=-1)
    spiral = _fermat_spiral(n)
    return spiral / _spiral_step(n)


def _fermat_spiral(n: int) -> torch.Tensor:
    """Fermat spiral r = sqrt(k + 1/2), angle k * golden angle: (n, 2) (row, col)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    return torch.stack(
        [k.sqrt() * torch.sin(k * GOLDEN_ANGLE), k.sqrt() * torch.cos(k * GOLDEN_ANGLE)], -1
    )


@functools.lru_cache(maxsize=32)
def _spiral_step(n: int) -> float:
    """Median nearest-neighbour distance of the unit spiral (cached: asked for every spiral scan)."""
    return _median(nearest_neighbour_distances(_fermat_spiral(n)))


def make_scan(cfg: ScanConfig, *, diameter: float, patch_size: int, seed: int = 0) -> torch.Tensor:
    """(n, 2) float64 (row, col) centres, step (1 - overlap) * diameter, shifted so the
    outermost patch starts SCAN_MARGIN pixels from the origin."""
    step = (1.0 - cfg.target_overlap) * diameter
    positions = _unit_scan(cfg.kind, cfg.n_positions, cfg.columns) * step
    if cfg.jitter > 0:
        gen = torch.Generator().manual_seed(seed)
        positions = positions + cfg.jitter * torch.randn(
            positions.shape, generator=gen, dtype=torch.float64
        )
    if cfg.integer_positions:
        positions = torch.round(positions)
    # Integer shift keeps each position's sub-pixel part (and so its patch) unchanged.
    offset = torch.floor(positions.min(dim=0).values) - (patch_size / 2 + SCAN_MARGIN)
    return positions - offset


def min_object_shape(positions: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """Smallest object that holds every patch (plus the margin and one sub-pixel column)."""
    far = torch.ceil(positions.max(dim=0).values + patch_size / 2 + 1 + SCAN_MARGIN)
    return int(far[0]), int(far[1])


def split_by_region(
    positions: np.ndarray, patch_size: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Train / test pattern indices split by a column boundary with a gap of one patch width,
    so no test patch shares a pixel with any training patch. Patterns in the gap are dropped."""
    corner = np.floor(positions[:, 1] - patch_size / 2)
    boundary = np.quantile(corner, 1.0 - test_fraction, method="lower")
    test = np.flatnonzero(corner >= boundary)
    train = np.flatnonzero(corner <= boundary - patch_size)
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(
            f"the scan is too narrow to split: {len(train)} train and {len(test)} test patterns "
            f"with a {patch_size}-pixel gap; use more positions or a smaller test_fraction"
        )
    return train, test
