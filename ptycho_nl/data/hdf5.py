"""HDF5 readers: a CXI-style layout converted to the in-memory `PtychoData`.

Layout read (`specs/data_contracts.md` §5), paths relative to the file root:

    entry_1/data_1/data                          (n, N, N) intensities (float) or counts (integer)
    entry_1/instrument_1/source_1/illumination   (N, N) complex probe (or .../source_1/probe)
    entry_1/instrument_1/source_1/energy         () photon energy, joules
    entry_1/instrument_1/detector_1/distance     () sample-detector distance, metres
    entry_1/instrument_1/detector_1/x_pixel_size () detector pixel, metres (square pixels)
    entry_1/sample_1/geometry_1/translation      (n, 3) sample (x, y, z) positions, metres

The sample-plane pixel is  dx = lambda z / (N p)  with  lambda = h c / E. Positions become
xcoords = x / dx, ycoords = y / dx, shifted by whole pixels so the top-left patch starts at 0.
Counts are stored as sqrt(k) with intensity_scale 1; float intensities as sqrt(I).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ptycho_nl.data.npz import check_arrays
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError

PLANCK_C = 6.62607015e-34 * 299792458.0  # h c, J m
HDF5_SECTION = "[specs/data_contracts.md §5]"

DATA = "entry_1/data_1/data"
PROBES = ("entry_1/instrument_1/source_1/illumination", "entry_1/instrument_1/source_1/probe")
ENERGY = "entry_1/instrument_1/source_1/energy"
DISTANCE = "entry_1/instrument_1/detector_1/distance"
PIXEL = "entry_1/instrument_1/detector_1/x_pixel_size"
TRANSLATION = "entry_1/sample_1/geometry_1/translation"


def sample_pixel_size(energy_j: float, distance_m: float, det_pixel_m: float, n: int) -> float:
    """Sample-plane pixel (m) of an N-pixel far-field detector: lambda z / (N p)."""
    return PLANCK_C / energy_j * distance_m / (n * det_pixel_m)


def load_hdf5(path: str | Path) -> PtychoData:
    """Read a CXI-style HDF5 file into contract form; problems raise ContractError."""
    import h5py

    path = Path(path)
    source = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ContractError(
            source, [f"{source}: not a readable HDF5 file ({exc}) {HDF5_SECTION}"]
        ) from None
    with handle:
        problems = [
            f"{source}: dataset '{name}': expected {what}, found missing {HDF5_SECTION}"
            for name, what in (
                (DATA, "(n, N, N) intensities or counts"),
                (ENERGY, "() photon energy in joules"),
                (DISTANCE, "() detector distance in metres"),
                (PIXEL, "() detector pixel size in metres"),
                (TRANSLATION, "(n, 3) positions in metres"),
            )
            if name not in handle
        ]
        probe_name = next((name for name in PROBES if name in handle), None)
        if probe_name is None:
            problems.append(
                f"{source}: dataset '{PROBES[0]}': expected (N, N) complex probe, found missing "
                f"{HDF5_SECTION}"
            )
        if problems:
            raise ContractError(source, problems)
        raw = handle[DATA][()]
        probe = handle[probe_name][()]
        translation = np.asarray(handle[TRANSLATION][()], dtype=np.float64)
        geometry = [float(np.asarray(handle[k][()])) for k in (ENERGY, DISTANCE, PIXEL)]
    if raw.ndim != 3 or translation.ndim != 2 or translation.shape[1] < 2:
        raise ContractError(
            source,
            [
                f"{source}: datasets '{DATA}', '{TRANSLATION}': expected (n, N, N) and (n, 3), "
                f"found {raw.shape} and {translation.shape} {HDF5_SECTION}"
            ],
        )
    if min(geometry) <= 0 or not np.isfinite(geometry).all():
        raise ContractError(
            source,
            [
                f"{source}: energy, distance, pixel size: expected positive, found {geometry} "
                f"{HDF5_SECTION}"
            ],
        )
    n = raw.shape[-1]
    dx = sample_pixel_size(*geometry, n)
    cols, rows = translation[:, 0] / dx, translation[:, 1] / dx
    # Whole-pixel shifts keep every sub-pixel offset while putting the first patch at 0.
    cols = cols - np.floor(cols.min()) + n / 2
    rows = rows - np.floor(rows.min()) + n / 2
    kind = "counts" if np.issubdtype(raw.dtype, np.integer) else "intensity"
    metadata = {"source_format": "cxi", "sample_pixel_size_m": dx, "diffraction_kind": kind}
    arrays = {
        "diffraction": raw,
        "probeGuess": probe.astype(np.complex64) if probe.dtype == np.complex128 else probe,
        "xcoords": cols,
        "ycoords": rows,
        "metadata": np.array(json.dumps(metadata, sort_keys=True)),
    }
    return check_arrays(arrays, source)
