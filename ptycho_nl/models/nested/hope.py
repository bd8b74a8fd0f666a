"""The blocks of the nested language models, each a stack of residual paths:

- `attention`: sliding-window attention -> MLP
- `titan`:     sliding-window attention -> `TitanMemory` -> MLP
- `hope`:      sliding-window attention -> `TitanMemory` -> CMS (`HOPEBlock`)

The attention sees only its window; whatever lies further back reaches a token through the
memory and the CMS levels, which are written at test time.
"""

from __future__ import annotations

import torch
from torch import nn

from ptycho_nl.models.nested.attention import SlidingWindowAttention
from ptycho_nl.models.nested.cms import CMS
from ptycho_nl.models.nested.memory import TitanMemory, WriteStats
from ptycho_nl.models.nested.state import BlockState
from ptycho_nl.models.nested.teach import InnerSettings
from ptycho_nl.nested_config import NestedConfig


class Block(nn.Module):
    """One block of kind `attention`, `titan` or `hope`.

    forward(x, state | None, settings per level) -> (x', state, [memory stats, CMS stats...])
    """

    def __init__(self, kind: str, cfg: NestedConfig, *, mlp_hidden: int | None = None):
        super().__init__()
        dim, self.kind = cfg.dim, kind
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = SlidingWindowAttention(dim, cfg.heads, cfg.window)
        self.memory_norm = self.memory = self.cms = self.mlp = None
        if kind in ("titan", "hope"):
            self.memory_norm = nn.LayerNorm(dim)
            self.memory = TitanMemory(
                dim, cfg.memory_hidden, cfg.chunk, max_lr=cfg.max_lr, momentum=cfg.momentum
            )
        if kind == "hope":
            self.cms = CMS(dim, cfg.memory_hidden, cfg.cms_periods, max_lr=cfg.max_lr)
        else:
            hidden = mlp_hidden or cfg.mlp_hidden
            self.mlp_norm = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(
        self, x: torch.Tensor, state: BlockState | None, settings: tuple[InnerSettings, ...]
    ) -> tuple[torch.Tensor, BlockState, list[WriteStats]]:
        state = state or BlockState()
        y, attention = self.attention(self.attention_norm(x), state.attention)
        x, memory, cms, stats = x + y, None, (), []
        if self.memory is not None:
            y, memory, memory_stats = self.memory(self.memory_norm(x), state.memory, settings[0])
            x = x + y
            stats.append(memory_stats)
        if self.cms is not None:
            x, cms, cms_stats = self.cms(x, state.cms or None, settings[1:])
            stats += cms_stats
        if self.mlp is not None:
            x = x + self.mlp(self.mlp_norm(x))
        return x, BlockState(attention, memory, cms), stats


class HOPEBlock(Block):
    """Attention (sliding window) -> TITAN memory -> CMS, with residual paths."""

    def __init__(self, cfg: NestedConfig):
        super().__init__("hope", cfg)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def matched_mlp_hidden(cfg: NestedConfig) -> int:
    """The MLP width that gives an attention block the parameter count of a titan block."""
    extra = parameter_count(Block("titan", cfg)) - parameter_count(Block("attention", cfg))
    return cfg.mlp_hidden + round(extra / (2 * cfg.dim + 1))
