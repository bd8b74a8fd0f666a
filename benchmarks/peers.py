"""Peer solvers on the identical R1 data (optional `bench` extra): PtyLab 0.3.7's ePIE and
pty-chi 2.2's LSQML.

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
    seconds = _timed_quietly(engine.reconstruct) / iterations
    obj = np.asarray(rec.object).reshape(-1, 256, 256)[0]
    return obj, seconds


def _timed_quietly(run) -> float:
    """Seconds `run()` takes with stdout and stderr discarded: the peers print progress bars and
    log lines, which would break the benchmark's table."""
    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stderr(sink),
        contextlib.redirect_stdout(sink),
    ):
        start = time.perf_counter()
        run()
        return time.perf_counter() - start


def _torchvision_stub() -> None:
    """pty-chi imports torchvision for one Gaussian-blur helper that only draws random initial
    images (we pass initial images). PyPI's torchvision does not import beside the local CPU
    torch, so when it is missing a stub stands in whose GaussianBlur refuses to run."""
    import importlib.util
    import sys
    import types

    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return

    class GaussianBlur:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision is not installed (stub): GaussianBlur unavailable")

    transforms = types.ModuleType("torchvision.transforms")
    transforms.GaussianBlur = GaussianBlur
    package = types.ModuleType("torchvision")
    package.transforms = transforms
    sys.modules["torchvision"] = package
    sys.modules["torchvision.transforms"] = transforms


def ptychi_available() -> bool:
    try:
        _torchvision_stub()
        import ptychi.api  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means the peer cannot run
        return False
    return True


def run_ptychi_lsqml(data, initial_probe, *, iterations, blind, batch_size=64):
    """pty-chi LSQML (batch 64, its reference setting in docs/performance.md) -> (object (256, 256), s / iteration).
    Positions are patch centres in object pixels with the position origin at pixel (0, 0)."""
    import logging
    import warnings

    import torch

    _torchvision_stub()
    import ptychi.api as api
    from ptychi.api.task import PtychographyTask

    logging.disable(logging.WARNING)
    options = api.LSQMLOptions()
    options.data_options.data = torch.from_numpy(np.asarray(data.diffraction, np.float32) ** 2)
    options.object_options.initial_guess = torch.ones((1, 256, 256), dtype=torch.complex64)
    options.object_options.determine_position_origin_coords_by = (
        api.enums.ObjectPosOriginCoordsMethods.SPECIFIED
    )
    options.object_options.position_origin_coords = np.array([0.0, 0.0])
    options.probe_options.initial_guess = torch.from_numpy(np.asarray(initial_probe))[None, None]
    options.probe_options.optimizable = blind
    options.probe_position_options.optimizable = False
    options.reconstructor_options.batch_size = batch_size
    options.reconstructor_options.num_epochs = iterations
    options.reconstructor_options.default_device = api.enums.Devices.CPU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = PtychographyTask(
            options,
            probe_position_y_px=torch.from_numpy(data.positions[:, 0].copy()),
            probe_position_x_px=torch.from_numpy(data.positions[:, 1].copy()),
        )
        seconds = _timed_quietly(task.run) / iterations
    return task.get_data_to_cpu("object", as_numpy=True)[0], seconds
