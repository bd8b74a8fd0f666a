"""What an iterative solver keeps between steps, owned by its loop: the operator stays pure.

The loop names each mini-batch of a fixed partition by its number (a batch drawn afresh every
pass has no name and nothing of it is kept) and increments `probe_generation` after every probe
update (`probe_changed`). Kept per named batch: its flat object indices and one memoised value
(a preconditioner); kept per probe generation: the probe factors of the shift classes and their
intensities. A preconditioner may outlive small probe changes (`memoised(tolerance=...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from ptycho_nl import operators
from ptycho_nl.operators import ScanPlacement


class Batch(NamedTuple):
    """One mini-batch: `key` its number in a fixed partition (None: drawn for one pass only),
    `idx` (B,) positions, `amplitude` (B, N, N) measured amplitudes in the unshifted layout."""

    key: int | None
    idx: torch.Tensor
    amplitude: torch.Tensor


@dataclass(eq=False)
class _Memo:
    flat: torch.Tensor  # (B h w,) int32 flat object indices
    key: object = None
    value: object = None
    generation: int = -1  # probe generation `value` was computed at (-1: no probe)
    probe: torch.Tensor | None = None  # the probe then, kept only for a tolerance comparison
    peak: float = 0.0  # max |P| then


@dataclass
class CacheStats:
    """How often memoised values were reused (hits) or computed (misses)."""

    hits: int = 0
    misses: int = 0


def _nbytes(value: object) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0


@dataclass(eq=False)
class SolverCache:
    scan: ScanPlacement
    budget_bytes: int = 64 * 2**20
    probe_generation: int = 0
    stats: CacheStats = field(default_factory=CacheStats)
    _memos: dict[int, _Memo] = field(default_factory=dict)
    _memo_bytes: int = 0
    _frames: dict[tuple, torch.Tensor] = field(default_factory=dict)
    _factors: torch.Tensor | None = None  # probe factors per shift class at `_factors_generation`
    _factors_generation: int = -1
    _intensity: torch.Tensor | None = None
    _intensity_generation: int = -1
    _last_generation: int = -1  # generation of the last uncached probe-factor request

    def probe_changed(self) -> None:
        """The loop updated the probe: everything computed from it is stale (or, for tolerant
        memos, to be compared)."""
        self.probe_generation += 1

    def _memo(self, batch: Batch) -> _Memo | None:
        if batch.key is None:
            return None
        memo = self._memos.get(batch.key)
        if memo is None:
            flat = self.scan.flat_index(batch.idx)
            if self._memo_bytes + _nbytes(flat) > self.budget_bytes:
                self._memos.clear()  # dropped wholesale: a budget, not an LRU
                self._memo_bytes = 0
            memo = self._memos[batch.key] = _Memo(flat)
            self._memo_bytes += _nbytes(flat)
        return memo

    def flat(self, batch: Batch) -> torch.Tensor:
        """Flat object indices of the batch's box pixels, kept for a named batch."""
        memo = self._memo(batch)
        return self.scan.flat_index(batch.idx) if memo is None else memo.flat

    def memoised(
        self,
        batch: Batch,
        key: object,
        compute: Callable[[], object],
        *,
        probe: torch.Tensor | None = None,
        tolerance: float = 0.0,
    ) -> object:
        """compute(), kept per named batch (one value per batch; a new `key` replaces it).

        Given the `probe` it depends on, the value is recomputed after a probe change: any change
        (tolerance 0) or max |P - P_then| > tolerance max |P_then|, which bounds the change of an
        illumination sum sum_b |P_b|^2 to about 2 tolerance of its peak (a step-size
        preconditioner tolerates that; recomputing it every step costs as much as the object
        update's scatter)."""
        memo = self._memo(batch)
        if memo is not None and memo.key == key and self._still_valid(memo, probe, tolerance):
            self.stats.hits += 1
            return memo.value
        self.stats.misses += 1
        value = compute()
        if memo is None:
            return value
        self._memo_bytes += _nbytes(value) - _nbytes(memo.value)  # the old value is released
        memo.key, memo.value = key, value
        memo.generation = -1 if probe is None else self.probe_generation
        memo.probe = probe.clone() if probe is not None and tolerance > 0 else None
        memo.peak = 0.0 if probe is None else float(probe.abs().max())
        return value

    def _still_valid(self, memo: _Memo, probe: torch.Tensor | None, tolerance: float) -> bool:
        if probe is None or memo.generation < 0:
            return probe is None and memo.generation < 0
        if memo.generation == self.probe_generation:
            return True
        if tolerance <= 0 or memo.probe is None:
            return False
        return float((probe - memo.probe).abs().max()) <= tolerance * memo.peak

    def probe_factor(self, probe: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """`operators.probe_factor(scan, probe, idx)`, cached per probe generation.

        While the probe is fixed, or when positions share few shift classes, the probe is shifted
        once per class and the batch's factors are picked from those; a probe that changes every
        step is shifted for the batch's positions only."""
        scan = self.scan
        if not scan.shifts_probe:
            return operators.probe_factor(scan, probe, idx)
        classes = scan.shift_class.index_select(0, idx)
        generation = self.probe_generation
        if self._factors_generation != generation and (
            self._last_generation == generation or scan.classes_shared
        ):
            self._factors = operators.probe_factor(scan, probe, idx, classes=True).contiguous()
            self._factors_generation = generation
        if self._factors_generation == generation:
            return self._factors.index_select(0, classes)
        self._last_generation = generation
        return operators.probe_factor(scan, probe, idx)

    def probe_intensity(
        self, probe: torch.Tensor, idx: torch.Tensor, factors: torch.Tensor
    ) -> torch.Tensor:
        """|P_b|^2 (B, h, w) float32; `factors` is `probe_factor(probe, idx)`. Cached per probe
        generation when the factors were."""
        scan, generation = self.scan, self.probe_generation
        if not scan.shifts_probe:
            if self._intensity_generation != generation:
                self._intensity = operators.intensity(scan.crop(probe))
                self._intensity_generation = generation
            return self._intensity.expand(len(idx), scan.h, scan.w)
        if self._factors_generation == generation:
            if self._intensity_generation != generation:
                self._intensity = operators.intensity(self._factors)
                self._intensity_generation = generation
            return self._intensity.index_select(0, scan.shift_class.index_select(0, idx))
        return operators.intensity(factors)

    def frame(self, batch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A (batch, N, N) zero frame kept per shape: callers write exit waves into its box
        corner only, so the rest stays zero without clearing it every step."""
        key = (batch_size, dtype, device)
        if key not in self._frames:
            n = self.scan.n
            self._frames[key] = torch.zeros(batch_size, n, n, dtype=dtype, device=device)
        return self._frames[key]
