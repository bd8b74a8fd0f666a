"""Peer solvers on the identical R1 data (optional `bench` extra): PtyLab 0.3.7's ePIE.

PtyLab reads an HDF5 file in metres. Geometry chosen so its object pixel is dxo = 1 um and its
patch corners equal ours: dxo = wavelength zo / (Nd dxd), corner = round(encoder / dxo) + No // 2
- Np // 2 with No = 256, so encoder = (centre - 128) dxo (row, col). PtyLab rounds positions to
whole pixels (our solver keeps the sub-pixel part).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

DXD, ZO, WAVELENGTH = 1e-5, 0.1, 6.4e-9


def ptylab_available() -> bool:
    try:
        import PtyLab  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means the peer cannot run
        return False
    return True


def run_ptylab_epie(data, initial_probe, *, iterations, blind, workdir: Path):
    """PtyLab ePIE (sequential in random order, beta 0.25) -> (object (256, 256), s / iteration)."""
    import logging

    import h5py
    from PtyLab import Engines, ExperimentalData, Params, Reconstruction
    from PtyLab.Monitor.Monitor import DummyMonitor

    logging.disable(logging.WARNING)
    n = data.patch_size
    dxo = WAVELENGTH * ZO / (n * DXD)
    encoder = (data.positions - 128.0) * dxo
    path = workdir / "r1_ptylab.hdf5"
    with h5py.File(path, "w") as fh:
        fh["ptychogram"] = np.asarray(data.diffraction, np.float32) ** 2
        fh["encoder"] = encoder
        fh["dxd"] = DXD
        fh["zo"] = ZO
        fh["wavelength"] = WAVELENGTH
        fh["Nd"] = n
        fh["entrancePupilDiameter"] = 32 * dxo
    exp = ExperimentalData(str(path), "CPM")
    params = Params()
    params.propagatorType = "Fraunhofer"
    params.positionOrder = "random"
    params.gpuSwitch = False
    rec = Reconstruction(exp, params)
    rec.No = 256
    rec.initializeObjectProbe()
    rec.object = np.ones_like(rec.object)
    rec.probe = np.asarray(initial_probe, np.complex64).reshape(rec.probe.shape)
    engine = Engines.ePIE(rec, exp, params, DummyMonitor())
    engine.numIterations = iterations
    engine.betaObject = 0.25
    engine.betaProbe = 0.25 if blind else 0.0
    params.probeUpdateStart = 1 if blind else iterations + 10
    start = time.perf_counter()
    # PtyLab prints a tqdm bar and log lines; keep the benchmark table readable.
    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stderr(sink),
        contextlib.redirect_stdout(sink),
    ):
        engine.reconstruct()
    seconds = (time.perf_counter() - start) / iterations
    obj = np.asarray(rec.object).reshape(-1, 256, 256)[0]
    return obj, seconds
