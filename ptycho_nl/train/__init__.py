"""Training runs: loop, checkpoints, bundles, manifests, sentinel, telemetry, DDP.

Public API: `train(config, data_path, out_dir, *, resume=False) -> RunResult`, `TrainConfig`,
`default_config`, `PRESET_CONFIGS`, `load_bundle(path, expected_sha256=None) -> Bundle`.
"""

from ptycho_nl.train.bundle import Bundle, load_bundle
from ptycho_nl.train.config import PRESET_CONFIGS, TrainConfig, default_config
from ptycho_nl.train.loop import RunResult, train

__all__ = [
    "PRESET_CONFIGS",
    "Bundle",
    "RunResult",
    "TrainConfig",
    "default_config",
    "load_bundle",
    "train",
]
