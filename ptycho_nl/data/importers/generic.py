"""Generic array files (NPZ or HDF5) read through an explicit `ArrayMapping`.

Keys are NPZ member names or HDF5 dataset paths. Nothing is guessed: the mapping says where the
zero frequency sits, what the patterns hold, and how positions are given (§7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.data.importers.geometry import (
    ArrayMapping,
    centres_in_pixels,
    check_axes,
    contract_arrays,
    estimate_probe,
    missing,
    squeeze_to,
    to_amplitude,
)
from ptycho_nl.data.npz import check_arrays, read_npz_arrays
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError

HDF5_SUFFIXES = (".h5", ".hdf5", ".cxi", ".nxs")


def read_keys(path: str | Path, keys: dict[str, str | None]) -> dict[str, np.ndarray]:
    """{role: array} for each role whose key is given; a missing key -> one line naming it."""
    path = Path(path)
    source = str(path)
    wanted = {role: key for role, key in keys.items() if key is not None}
    if path.suffix.lower() in HDF5_SUFFIXES:
        import h5py

        try:
            handle = h5py.File(path, "r")
        except OSError as exc:
            raise ContractError(source, [f"{source}: not a readable HDF5 file ({exc})"]) from None
        with handle:
            absent = [key for key in wanted.values() if key not in handle]
            if absent:
                raise ContractError(source, [_absent(source, k, list(handle)) for k in absent])
            return {role: np.asarray(handle[key][()]) for role, key in wanted.items()}
    arrays = read_npz_arrays(path)
    absent = [key for key in wanted.values() if key not in arrays]
    if absent:
        raise ContractError(source, [_absent(source, k, sorted(arrays)) for k in absent])
    return {role: arrays[key] for role, key in wanted.items()}


def _absent(source: str, key: str, present: list[str]) -> str:
    shown = ", ".join(present[:12]) + (" ..." if len(present) > 12 else "")
    return missing(source, key, f"an array named by the mapping (the file holds: {shown})")


def import_generic(path: str | Path, mapping: ArrayMapping) -> PtychoData:
    """Read `path` through `mapping` into a contract-valid PtychoData."""
    source = str(path)
    raw = read_keys(
        path,
        {
            "diffraction": mapping.diffraction,
            "positions": mapping.positions,
            "xcoords": mapping.xcoords,
            "ycoords": mapping.ycoords,
            "probe": mapping.probe,
            "mask": mapping.mask,
        },
    )
    return convert(raw, mapping, source, {"source_format": "generic"})


def _positions(raw: dict[str, np.ndarray], mapping: ArrayMapping, source: str) -> np.ndarray:
    if "positions" in raw:
        pos = squeeze_to(raw["positions"], 2)
        if pos.ndim != 2 or 2 not in pos.shape:
            raise ContractError(
                source,
                [f"{source}: key '{mapping.positions}': expected (n, 2) positions, found "
                 f"{tuple(pos.shape)}"],
            )  # fmt: skip
        pos = pos if pos.shape[1] == 2 else pos.T
        return pos.astype(np.float64)
    first, second = squeeze_to(raw["ycoords"], 1), squeeze_to(raw["xcoords"], 1)
    if first.shape != second.shape or first.ndim != 1:
        raise ContractError(
            source,
            [f"{source}: keys '{mapping.ycoords}'/'{mapping.xcoords}': expected two (n,) arrays "
             f"of one length, found {first.shape} and {second.shape}"],
        )  # fmt: skip
    pos = np.stack([first, second], axis=1).astype(np.float64)
    return pos[:, ::-1] if mapping.axis_order == "xy" else pos  # (x, y) order is undone below


def convert(
    raw: dict[str, np.ndarray],
    mapping: ArrayMapping,
    source: str,
    metadata: dict[str, Any],
    *,
    probe_diameter_px: float | None = None,
) -> PtychoData:
    """Raw arrays {diffraction, positions | xcoords/ycoords, probe?, mask?} -> PtychoData."""
    diffraction = squeeze_to(raw["diffraction"], 3)
    positions = _positions(raw, mapping, source)
    n = int(diffraction.shape[-1]) if diffraction.ndim >= 2 else 0
    probe = None if "probe" not in raw else squeeze_to(raw["probe"], 2)
    check_axes(source, diffraction, positions[:, 0], probe if probe is not None else diffraction)
    amplitude, scale = to_amplitude(diffraction, mapping.kind, mapping.dc)
    pixel = mapping.geometry.sample_pixel(n)
    rows, cols = centres_in_pixels(positions, n, mapping, pixel, source)
    mask = None
    if "mask" in raw:
        mask = np.asarray(raw["mask"])
        mask = squeeze_to(mask, 3) if mask.ndim > 3 else mask
        if mapping.dc == "corner":
            mask = np.fft.fftshift(mask, axes=(-2, -1))
    if probe is None:
        # No probe in the file: one with the data's power, so a solver starts at the right scale.
        finite = np.where(np.isfinite(amplitude), np.abs(amplitude), 0.0)
        probe = estimate_probe(finite, probe_diameter_px)
        metadata = {**metadata, "probe_estimated": True}
    metadata = {
        **metadata,
        "source": source,
        "mapping": mapping.model_dump(mode="json"),
        "diffraction_kind": "amplitude",
        "sample_pixel_size_m": pixel,
    }
    arrays = contract_arrays(
        diffraction=amplitude, rows=rows, cols=cols, probe=probe, scale=scale,
        metadata=metadata, mask=mask,
    )  # fmt: skip
    return check_arrays(arrays, source)
