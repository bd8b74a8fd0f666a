"""Noiseless synthetic scans built with `ptycho_nl.physics` for the solver and stitch tests.

(A uniquely named module rather than conftest.py, so `import` finds it whatever else is collected.)
"""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from ptycho_nl import physics
from ptycho_nl.data.types import PtychoData

N = 32
SIDE = 72


def smooth_object(side: int, seed: int = 0) -> torch.Tensor:
    """(side, side) complex64: amplitude in [0.5, 1], phase in [-0.6, 0.6], smooth features."""
    rng = np.random.default_rng(seed)
    a = gaussian_filter(rng.random((side, side)), 2)
    p = gaussian_filter(rng.random((side, side)), 2)
    a = (a - a.min()) / np.ptp(a)
    p = (p - p.min()) / np.ptp(p)
    return torch.polar(
        torch.tensor(0.5 + 0.5 * a, dtype=torch.float32),
        torch.tensor(1.2 * (p - 0.5), dtype=torch.float32),
    ).to(torch.complex64)


def disk_probe(n: int, radius: float, curvature: float = 0.5) -> torch.Tensor:
    """A smoothed disk with a quadratic phase (so no twin-image ambiguity)."""
    c = np.arange(n) - n / 2 + 0.5
    r = np.hypot(c[:, None], c[None, :])
    field = (r < radius) * np.exp(1j * curvature * (r / radius) ** 2)
    field = gaussian_filter(field.real, 1) + 1j * gaussian_filter(field.imag, 1)
    return torch.tensor(3 * field, dtype=torch.complex64)


def flat_disk_like(probe: torch.Tensor, radius: float) -> torch.Tensor:
    """A flat-phase disk with the power of `probe`: the blind-reconstruction start."""
    n = probe.shape[-1]
    c = np.arange(n) - n / 2 + 0.5
    disk = torch.tensor(np.hypot(c[:, None], c[None, :]) < radius, dtype=torch.float32)
    disk = disk * probe.abs().square().sum().sqrt() / disk.square().sum().sqrt()
    return disk.to(torch.complex64)


def make_scan(side: int = SIDE, n: int = N, step: int = 5, seed: int = 0) -> PtychoData:
    """Raster scan with +-0.5 px jitter over a smooth object, noiseless amplitudes."""
    obj = smooth_object(side, seed)
    centres = torch.arange(n // 2 + 1, side - n // 2, step, dtype=torch.float64)
    pos = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    gen = torch.Generator().manual_seed(seed)
    pos = pos + torch.rand(pos.shape, generator=gen, dtype=torch.float64) - 0.5
    probe = disk_probe(n, n / 4)
    amp = physics.forward_intensity(obj, probe, pos).sqrt().to(torch.float32)
    return PtychoData(
        diffraction=amp.numpy(),
        probe=probe.numpy(),
        xcoords=pos[:, 1].numpy(),
        ycoords=pos[:, 0].numpy(),
        object=obj.numpy(),
        patches=physics.extract_patches(obj, pos, n).numpy(),
    )


def scanned_mask(data: PtychoData, margin: int = 0) -> np.ndarray:
    """The region every probe disk covers well: inside the outermost scan centres."""
    pos = data.positions
    mask = np.zeros(data.object.shape, bool)
    r0, c0 = np.ceil(pos.min(0)).astype(int) - margin
    r1, c1 = np.floor(pos.max(0)).astype(int) + margin
    mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return mask
