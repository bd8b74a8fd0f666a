"""Data bridges: the NPZ contract, readers and writers, the memory-mapped dataset bridge.

Only light modules are imported here; `bridge` (torch) and `hdf5` (h5py) load on first use of
their names, so `import ptycho_nl.data` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from ptycho_nl.data.contract import CONTRACT, validate_arrays
from ptycho_nl.data.npz import load_npz, save_npz
from ptycho_nl.data.types import PtychoData

_LAZY = {
    "MemmapDatasetBridge": "ptycho_nl.data.bridge",
    "load_any": "ptycho_nl.data.bridge",
    "load_hdf5": "ptycho_nl.data.hdf5",
    "group_neighbours": "ptycho_nl.data.grouping",
    "import_file": "ptycho_nl.data.importers",
}

__all__ = ["CONTRACT", "PtychoData", "load_npz", "save_npz", "validate_arrays", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ptycho_nl.data' has no attribute {name!r}")
