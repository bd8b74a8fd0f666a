"""The in-memory form of a ptychography dataset, shared by every reader and writer.

Arrays follow `specs/data_contracts.md`; they may be numpy memory maps (the bridge's cache), so
code that only reads must not copy them whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PtychoData:
    """One scan.

    diffraction : (n, N, N) float32 measured amplitude sqrt(counts) / intensity_scale
    probe       : (N, N) complex64
    xcoords, ycoords : (n,) float64 patch-centre column / row in object pixels
    object      : (H, W) complex64 ground truth (`objectGuess`), or None
    patches     : (n, N, N) complex64 ground-truth object patches (`Y`), or None
    mask        : (N, N) or (n, N, N) bool, True where a detector pixel is valid, or None
    background  : () or (N, N) float32 background intensity b (A^2 = |Psi|^2 + b), or None
    """

    diffraction: np.ndarray
    probe: np.ndarray
    xcoords: np.ndarray
    ycoords: np.ndarray
    object: np.ndarray | None = None
    patches: np.ndarray | None = None
    scan_index: np.ndarray | None = None
    intensity_scale: float | None = None
    dose: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    mask: np.ndarray | None = None
    background: np.ndarray | None = None

    @property
    def n_patterns(self) -> int:
        return int(self.diffraction.shape[0])

    @property
    def patch_size(self) -> int:
        return int(self.diffraction.shape[-1])

    @property
    def positions(self) -> np.ndarray:
        """(n, 2) float64 (row, col) centres, the order `ptycho_nl.physics` uses."""
        return np.stack([self.ycoords, self.xcoords], axis=-1).astype(np.float64)

    @property
    def object_shape(self) -> tuple[int, int]:
        """(H, W): the ground truth's shape when known, else the smallest frame holding every
        patch (with one extra row and column for the sub-pixel part)."""
        if self.object is not None:
            return tuple(int(s) for s in self.object.shape[-2:])
        half = self.patch_size / 2
        rows, cols = np.asarray(self.ycoords), np.asarray(self.xcoords)
        return (int(math.ceil(rows.max() + half)) + 1, int(math.ceil(cols.max() + half)) + 1)

    def subset(self, index: np.ndarray) -> PtychoData:
        """The patterns at `index` (object and probe shared)."""
        index = np.asarray(index)
        pick = lambda a: None if a is None else np.asarray(a)[index]  # noqa: E731
        return replace(
            self,
            diffraction=np.asarray(self.diffraction)[index],
            xcoords=np.asarray(self.xcoords)[index],
            ycoords=np.asarray(self.ycoords)[index],
            patches=pick(self.patches),
            scan_index=pick(self.scan_index),
            mask=self.mask if np.ndim(self.mask) != 3 else pick(self.mask),
        )
