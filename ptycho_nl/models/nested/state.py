"""The explicit per-sequence fast state: what a nested model carries from one segment to the
next, passed into and returned from `forward`, never stored on the module.

Every tensor has the batch (sequence) axis first, so sequence b's writes live in row b only.
`detach()` cuts the gradient history between training steps (truncated back-propagation)
while keeping the values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class FastWeights:
    """A two-layer MLP's weights per sequence: w1 (B, H, D), w2 (B, D, H)."""

    w1: torch.Tensor
    w2: torch.Tensor

    def detach(self) -> FastWeights:
        return FastWeights(self.w1.detach(), self.w2.detach())

    def finite(self) -> bool:
        return bool(torch.isfinite(self.w1).all() and torch.isfinite(self.w2).all())


@dataclass(frozen=True)
class MemoryState:
    """One fast-weight memory: `read` are the weights tokens of the current chunk read (those
    written after the previous chunk); `running` and `momentum` have absorbed the tokens of the
    current chunk so far (`pos` of them); `updates` counts completed chunks (writes)."""

    read: FastWeights
    running: FastWeights
    momentum: FastWeights | None
    pos: int = 0
    updates: int = 0

    def detach(self) -> MemoryState:
        momentum = self.momentum.detach() if self.momentum is not None else None
        return replace(
            self, read=self.read.detach(), running=self.running.detach(), momentum=momentum
        )


@dataclass(frozen=True)
class AttentionState:
    """The sliding window's cache: the last `window - 1` rotated keys and values (B, h, m, d)
    and the absolute position of the next token."""

    keys: torch.Tensor
    values: torch.Tensor
    pos: int = 0

    def detach(self) -> AttentionState:
        return replace(self, keys=self.keys.detach(), values=self.values.detach())


@dataclass(frozen=True)
class BlockState:
    """One block: its attention cache, its memory (titan, hope) and CMS levels (hope)."""

    attention: AttentionState | None = None
    memory: MemoryState | None = None
    cms: tuple[MemoryState, ...] = ()

    def detach(self) -> BlockState:
        return BlockState(
            attention=self.attention.detach() if self.attention is not None else None,
            memory=self.memory.detach() if self.memory is not None else None,
            cms=tuple(level.detach() for level in self.cms),
        )


@dataclass(frozen=True)
class ModelState:
    """The whole model's fast state: one `BlockState` per block."""

    blocks: tuple[BlockState, ...]

    def detach(self) -> ModelState:
        return ModelState(tuple(b.detach() for b in self.blocks))
