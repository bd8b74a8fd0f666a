"""`NestedLM`: the small language model of the nested family, registered as `nested`.

tokens (B, T) -> logits (B, T, vocab), with the fast state (`ModelState`) passed in and out.
`type` picks the blocks (`attention`, `titan`, `hope`; `hope.py`). The buffer `teach_step`
counts training steps, so the teach schedule survives checkpoints and bundles.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ptycho_nl.models.nested.hope import Block, matched_mlp_hidden
from ptycho_nl.models.nested.memory import TitanMemory, WriteStats
from ptycho_nl.models.nested.state import ModelState
from ptycho_nl.models.nested.teach import level_settings
from ptycho_nl.nested_config import ModelType, NestedConfig

MODEL_TYPES: tuple[str, ...] = ModelType.__args__  # type: ignore[attr-defined]


class NestedLM(nn.Module):
    """Embedding -> blocks -> norm -> logits. Build with keyword arguments only (bundles)."""

    def __init__(self, *, vocab: int, type: str, settings: dict[str, Any]):
        super().__init__()
        if type not in MODEL_TYPES:
            raise ValueError(f"model type {type!r}: expected one of {', '.join(MODEL_TYPES)}")
        self.cfg = NestedConfig.model_validate(settings)
        self.kind = type
        self.model_kwargs = {
            "vocab": vocab,
            "type": type,
            "settings": self.cfg.model_dump(mode="json"),
        }
        width = (
            matched_mlp_hidden(self.cfg) if type == "attention" and self.cfg.match_params else None
        )
        self.embed = nn.Embedding(vocab, self.cfg.dim)
        self.blocks = nn.ModuleList(
            Block(type, self.cfg, mlp_hidden=width) for _ in range(self.cfg.layers)
        )
        self.norm = nn.LayerNorm(self.cfg.dim)
        self.head = nn.Linear(self.cfg.dim, vocab)
        self.register_buffer("teach_step", torch.zeros((), dtype=torch.long))
        for name, module in self.named_modules():
            if isinstance(module, TitanMemory):
                module.where = name

    def level_names(self) -> list[str]:
        """Names of the written levels, in the order of each block's stats."""
        if self.kind == "attention":
            return []
        return ["memory"] + (
            [f"cms{i}" for i in range(len(self.cfg.cms_periods))] if self.kind == "hope" else []
        )

    def forward(
        self, tokens: torch.Tensor, state: ModelState | None = None
    ) -> tuple[torch.Tensor, ModelState, dict[str, list[WriteStats]]]:
        settings = level_settings(int(self.teach_step), self.cfg)
        x = self.embed(tokens)
        states = state.blocks if state is not None else (None,) * len(self.blocks)
        new_states, stats = [], {name: [] for name in self.level_names()}
        recompute = self.cfg.checkpoint_activations and self.training and torch.is_grad_enabled()
        for block, block_state in zip(self.blocks, states, strict=True):
            if recompute:
                x, block_state, block_stats = checkpoint(
                    block, x, block_state, settings, use_reentrant=False
                )
            else:
                x, block_state, block_stats = block(x, block_state, settings)
            new_states.append(block_state)
            for name, level_stats in zip(self.level_names(), block_stats, strict=True):
                stats[name].append(level_stats)
        return self.head(self.norm(x)), ModelState(tuple(new_states)), stats
