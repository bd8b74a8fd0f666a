"""The continuum memory system (CMS): a chain of fast-weight MLP levels, level l written every
`periods[l]` tokens (a `TitanMemory` without momentum whose chunk is its period), each with a
residual path. Fast levels follow the sequence closely; slow ones change rarely and keep more.
"""

from __future__ import annotations

import torch
from torch import nn

from ptycho_nl.models.nested.memory import TitanMemory, WriteStats
from ptycho_nl.models.nested.state import MemoryState
from ptycho_nl.models.nested.teach import InnerSettings


class CMS(nn.Module):
    """forward(x, states | None, settings per level) -> (x', states, stats per level)."""

    def __init__(self, dim: int, hidden: int, periods: tuple[int, ...], *, max_lr: float = 0.5):
        super().__init__()
        self.periods = tuple(periods)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in periods)
        self.levels = nn.ModuleList(
            TitanMemory(dim, hidden, period, max_lr=max_lr, momentum=False) for period in periods
        )

    def forward(
        self,
        x: torch.Tensor,
        states: tuple[MemoryState, ...] | None,
        settings: tuple[InnerSettings, ...],
    ) -> tuple[torch.Tensor, tuple[MemoryState, ...], list[WriteStats]]:
        states = states or (None,) * len(self.levels)
        new_states, stats = [], []
        for norm, level, state, setting in zip(
            self.norms, self.levels, states, settings, strict=False
        ):
            y, state, level_stats = level(norm(x), state, setting)
            x = x + y
            new_states.append(state)
            stats.append(level_stats)
        return x, tuple(new_states), stats
