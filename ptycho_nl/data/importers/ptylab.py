"""PtyLab-style HDF5 data files (conventional ptychography, `operationMode` CPM).

Layout read (PtyLab's required fields, in SI units):

    ptychogram   (n, Nd, Nd) intensities, zero frequency at the centre
    encoder      (n, 2) scan positions (row, col) = (y, x), metres, relative to the frame centre
    dxd          detector pixel, metres
    zo           sample-detector distance, metres
    wavelength   metres
    optional: Nd (detector side), entrancePupilDiameter (metres: the initial probe's disc),
    probe (a probe estimate, any singleton axes), orientation (0 only: flips not applied)

The sample pixel is dxo = wavelength zo / (Nd dxd), as in PtyLab. With no probe in the file the
initial probe is a disc of the entrance pupil's diameter (else the back-propagated mean pattern)
with the data's power.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptycho_nl.data.importers.generic import convert
from ptycho_nl.data.importers.geometry import REF, ArrayMapping, Geometry
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError

REQUIRED = {
    "ptychogram": "(n, Nd, Nd) intensities",
    "encoder": "(n, 2) positions in metres",
    "dxd": "() detector pixel in metres",
    "zo": "() sample-detector distance in metres",
    "wavelength": "() wavelength in metres",
}


def _scalar(handle, key: str) -> float | None:
    """A scalar dataset (PtyLab writes some as (1,) or (1, 1) arrays); None when absent."""
    return float(np.asarray(handle[key][()]).reshape(-1)[0]) if key in handle else None


def import_ptylab(path: str | Path) -> PtychoData:
    """Read a PtyLab CPM data file into contract form; problems raise ContractError."""
    import h5py

    source = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ContractError(source, [f"{source}: not a readable HDF5 file ({exc}) {REF}"]) from None
    with handle:
        absent = [
            f"{source}: dataset '{key}': expected {what}, found missing {REF}"
            for key, what in REQUIRED.items()
            if key not in handle
        ]
        if absent:
            raise ContractError(source, absent)
        raw = {"diffraction": handle["ptychogram"][()], "positions": handle["encoder"][()]}
        scalars = {k: _scalar(handle, k) for k in ("dxd", "zo", "wavelength")}
        if "probe" in handle:
            raw["probe"] = handle["probe"][()]
        pupil = _scalar(handle, "entrancePupilDiameter")
        orientation = int(_scalar(handle, "orientation") or 0)
    bad = [f"{k} = {v:g}" for k, v in scalars.items() if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ContractError(
            source,
            [f"{source}: datasets 'dxd', 'zo', 'wavelength': expected positive, found "
             f"{', '.join(bad)} {REF}"],
        )  # fmt: skip
    if orientation != 0:
        raise ContractError(
            source,
            [f"{source}: dataset 'orientation': expected 0 (flip the ptychogram first), found "
             f"{orientation} {REF}"],
        )  # fmt: skip
    side = int(np.shape(raw["diffraction"])[-1])
    geometry = Geometry(
        wavelength_m=scalars["wavelength"],
        distance_m=scalars["zo"],
        detector_pixel_m=scalars["dxd"],
    )
    mapping = ArrayMapping(
        diffraction="ptychogram", positions="encoder", probe="probe" if "probe" in raw else None,
        dc="centre", kind="intensity", positions_are="centre", axis_order="rowcol", units="m",
        geometry=geometry,
    )  # fmt: skip
    dxo = geometry.sample_pixel(side)
    diameter = None if pupil is None or dxo is None else pupil / dxo
    metadata = {"source_format": "ptylab", "entrance_pupil_diameter_m": pupil}
    return convert(raw, mapping, source, metadata, probe_diameter_px=diameter)
