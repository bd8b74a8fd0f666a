"""Scenario R1 (docs/performance.md, "Scenarios"), shared by the benchmarks.

Object 256x256 (amplitude: scikit-image `camera` in [0.5, 1]; phase: `moon` in [-pi/2, pi/2]),
probe 64x64 (32 px disk, Gaussian sigma 1.5, quadratic phase 0.6 pi at the edge), raster of
top-left corners with a 9 px step and +-1 px seeded jitter (22 x 22 = 484 positions), Poisson
noise at a given mean photon count per pattern. Scored on the central 192x192 region.
"""

from __future__ import annotations

import numpy as np
import torch

from ptycho_nl import physics
from ptycho_nl.data.types import PtychoData
from ptycho_nl.evaluate.metrics import compute_metrics

SIDE, N, STEP, STEPS, DISK = 256, 64, 9, 22, 32
SCORE = slice(32, 224)


def r1_object() -> np.ndarray:
    """(256, 256) complex64 ground truth."""
    from skimage import data
    from skimage.transform import resize

    def scaled(img, lo, hi):
        img = resize(img.astype(np.float64), (SIDE, SIDE), anti_aliasing=True)
        return lo + (hi - lo) * (img - img.min()) / np.ptp(img)

    amp = scaled(data.camera(), 0.5, 1.0)
    phase = scaled(data.moon(), -np.pi / 2, np.pi / 2)
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def r1_probe() -> np.ndarray:
    """(64, 64) complex64: smoothed 32 px disk with 0.6 pi quadratic phase at the edge."""
    from scipy.ndimage import gaussian_filter

    c = np.arange(N) - N / 2 + 0.5
    r = np.hypot(c[:, None], c[None, :])
    disk = gaussian_filter((r <= DISK / 2).astype(np.float64), 1.5)
    return (disk * np.exp(1j * 0.6 * np.pi * (r / (DISK / 2)) ** 2)).astype(np.complex64)


def flat_disk_probe(amplitude: np.ndarray) -> np.ndarray:
    """The blind start: a flat-phase disk whose power matches the data's mean pattern energy."""
    c = np.arange(N) - N / 2 + 0.5
    disk = (np.hypot(c[:, None], c[None, :]) <= DISK / 2).astype(np.float64)
    power = float(np.mean(np.sum(amplitude.astype(np.float64) ** 2, axis=(-2, -1))))
    return (disk * np.sqrt(power / disk.sum())).astype(np.complex64)


def r1_positions(seed: int = 0) -> np.ndarray:
    """(484, 2) float64 (row, col) patch centres."""
    rng = np.random.default_rng(seed)
    grid = np.arange(STEPS) * STEP
    corners = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype(float)
    corners += rng.uniform(-1, 1, corners.shape)
    corners = np.clip(corners, 0, SIDE - N)
    return corners + N / 2


def r1_data(dose: float, seed: int = 0) -> PtychoData:
    """Noisy R1 data at `dose` photons per pattern (amplitudes sqrt(k)/s, as files store them)."""
    obj, probe = torch.from_numpy(r1_object()), torch.from_numpy(r1_probe())
    pos = torch.from_numpy(r1_positions(seed))
    intens = physics.forward_intensity(obj, probe, pos)
    counts, scale = physics.poisson_counts(
        intens, dose, generator=torch.Generator().manual_seed(seed)
    )
    return PtychoData(
        diffraction=physics.counts_to_amplitude(counts, scale).numpy(),
        probe=probe.numpy(),
        xcoords=pos[:, 1].numpy(),
        ycoords=pos[:, 0].numpy(),
        object=obj.numpy(),
        intensity_scale=scale,
        dose=dose,
    )


def score(recon: np.ndarray, truth: np.ndarray) -> dict:
    """R1 score on the central 192x192 region (sub-pixel registration, best complex scalar)."""
    mask = np.zeros(truth.shape, bool)
    mask[SCORE, SCORE] = True
    return compute_metrics(recon, truth, mask=mask)
