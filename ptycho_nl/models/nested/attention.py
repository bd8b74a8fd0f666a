"""Causal sliding-window attention with rotary positions and a carried key/value cache.

Token p attends to tokens p - window + 1 ... p. The state keeps the last `window - 1` rotated
keys and values and the next absolute position, so a sequence fed in pieces attends exactly as
in one pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptycho_nl.models.nested.state import AttentionState


def rotary(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate (B, h, T, d) features by their absolute positions (T,) (RoPE, half split)."""
    half = x.shape[-1] // 2
    freqs = 1.0 / (10000.0 ** (torch.arange(half, dtype=x.dtype, device=x.device) / half))
    angles = positions.to(x.dtype)[:, None] * freqs[None, :]
    cos, sin = torch.cos(angles), torch.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class SlidingWindowAttention(nn.Module):
    """forward(x (B, T, dim), state | None) -> (y (B, T, dim), state)."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(
        self, x: torch.Tensor, state: AttentionState | None
    ) -> tuple[torch.Tensor, AttentionState]:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        start = state.pos if state is not None else 0
        positions = torch.arange(start, start + length, device=x.device)
        q, k = rotary(q, positions), rotary(k, positions)
        if state is not None:
            k, v = torch.cat([state.keys, k], dim=2), torch.cat([state.values, v], dim=2)
        key_pos = torch.arange(start + length - k.shape[2], start + length, device=x.device)
        lag = positions[:, None] - key_pos[None, :]
        mask = (lag >= 0) & (lag < self.window)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        first = max(k.shape[2] - (self.window - 1), 0)  # the last window - 1 keys stay
        cache = AttentionState(k[:, :, first:], v[:, :, first:], start + length)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim)), cache
