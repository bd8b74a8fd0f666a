"""Training runs: set-up, the epoch loop, records (checkpoints, bundle, manifest), DDP.

Public API: `train(config, data_path, out_dir, *, resume=False) -> RunResult`, `TrainConfig`,
`default_config`, `PRESET_CONFIGS`, `load_bundle(path, expected_sha256=None) -> Bundle`.
The trainer knows models only through `ptycho_nl.models.registry` (model families).

Only the config is imported eagerly: `python -m ptycho_nl.train` must set the process up
(`ptycho_nl.runtime.configure_threads`) before anything loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from ptycho_nl.train.config import PRESET_CONFIGS, TrainConfig, default_config

_LAZY = {
    "Bundle": "ptycho_nl.train.bundle",
    "load_bundle": "ptycho_nl.train.bundle",
    "RunResult": "ptycho_nl.train.records",
    "train": "ptycho_nl.train.loop",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ptycho_nl.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [
    "PRESET_CONFIGS",
    "Bundle",
    "RunResult",
    "TrainConfig",
    "default_config",
    "load_bundle",
    "train",
]
