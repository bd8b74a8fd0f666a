"""Legacy NPZ layouts converted into the contract (specs/data_contracts.md §4, §7).

Beyond what `load_npz` converts on reading (`diff3d`, counts, intensities, float64, PtychoPINN's
(n, N, N, 1) `Y`), an import also turns a pattern stack stored patterns-last, (N, N, n) with
n = len(xcoords), into (n, N, N): on reading, that layout is only named, never guessed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ptycho_nl.data.npz import ContractWarning, check_arrays, read_npz_arrays
from ptycho_nl.data.types import PtychoData


def import_legacy(path: str | Path) -> PtychoData:
    """Read a (legacy) NPZ, convert its layouts with warnings, and validate."""
    source = str(path)
    arrays = dict(read_npz_arrays(path))
    key = "diffraction" if "diffraction" in arrays else "diff3d"
    notes = []
    stack = arrays.get(key)
    if stack is not None and np.ndim(stack) == 3 and "xcoords" in arrays:
        rows, cols, last = np.shape(stack)
        n = int(np.size(arrays["xcoords"]))
        if rows == cols and last == n and rows != n:
            arrays[key] = np.ascontiguousarray(np.moveaxis(stack, -1, 0))
            notes.append(
                f"{source}: key '{key}': (N, N, n) {tuple(np.shape(stack))} moved to (n, N, N)"
            )
    for note in notes:
        warnings.warn(note, ContractWarning, stacklevel=2)
    metadata = {}
    if "metadata" in arrays:
        try:
            metadata = json.loads(str(arrays["metadata"]))
        except json.JSONDecodeError:
            metadata = None  # left as found: the contract reports it
    if isinstance(metadata, dict):
        metadata = {
            **metadata,
            "source": source,
            "source_format": "legacy-npz",
            "conversions": notes,
        }
        arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True, separators=(",", ":")))
    return check_arrays(arrays, source)
