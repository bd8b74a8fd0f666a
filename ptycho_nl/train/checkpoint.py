"""Checkpoints: everything needed to resume, saved atomically, loaded with weights_only=True."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write

CHECKPOINT_KEYS = (
    "model_state_dict",
    "optimizer_state_dict",
    "scheduler_state_dict",
    "epoch",
    "val_loss",
    "best_val_loss",
    "config_digest",
    "rng_state",
)


def save_checkpoint(path: str | Path, **fields: Any) -> Path:
    """Write a checkpoint dict with exactly CHECKPOINT_KEYS (temp file + rename)."""
    missing = sorted(set(CHECKPOINT_KEYS) - set(fields))
    if missing:
        raise ValueError(f"checkpoint is missing {', '.join(missing)}")
    return atomic_write(path, lambda tmp: torch.save(dict(fields), tmp))


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (no arbitrary unpickling); PtychoError names the problem."""
    path = Path(path)
    if not path.is_file():
        raise PtychoError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt or unsafe file: one message, no traceback
        raise PtychoError(
            f"{path}: cannot load checkpoint ({exc.__class__.__name__}: {exc})"
        ) from None
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise PtychoError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state
