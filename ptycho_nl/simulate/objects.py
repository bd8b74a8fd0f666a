"""Complex test objects: amplitude and phase from scikit-image's images or procedural fields.

Objects are (H, W) complex64 with amplitude in [amplitude_min, 1] and phase in
[-max_phase, max_phase].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ptycho_nl.simulate.config import ObjectConfig


def normalise(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def _image_field(name: str, shape: tuple[int, int]) -> np.ndarray:
    import skimage.data
    from skimage.transform import resize

    image = getattr(skimage.data, name)().astype(np.float64)
    return normalise(resize(image, shape, order=1, anti_aliasing=True))


def procedural_field(shape: tuple[int, int], feature: float, rng: np.random.Generator):
    """Smooth random field (Gaussian low-pass of white noise) plus sharp disks, in [0, 1]."""
    h, w = shape
    ky, kx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    lowpass = np.exp(-2 * (math.pi * feature) ** 2 * (ky**2 + kx**2))
    smooth = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * lowpass).real
    rows, cols = np.mgrid[0:h, 0:w]
    n_disks = max(1, (h * w) // 2000)
    centres = rng.uniform([0, 0], [h, w], size=(n_disks, 2))
    radii = rng.uniform(2.0, 3.0 * feature, size=n_disks)
    inside = (rows[None] - centres[:, 0, None, None]) ** 2 + (
        cols[None] - centres[:, 1, None, None]
    ) ** 2 < radii[:, None, None] ** 2
    disks = (inside * rng.uniform(0.5, 1.0, size=n_disks)[:, None, None]).max(axis=0)
    return normalise(normalise(smooth) + disks)


def make_object(cfg: ObjectConfig, shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """(H, W) complex64 object, amplitude * exp(i phase) from two real images in [0, 1]."""
    if cfg.kind == "camera_moon":
        amp_img, phase_img = _image_field("camera", shape), _image_field("moon", shape)
    else:
        rng = np.random.default_rng(seed)
        amp_img = procedural_field(shape, cfg.feature_size, rng)
        phase_img = procedural_field(shape, cfg.feature_size, rng)
    amplitude = cfg.amplitude_min + (1.0 - cfg.amplitude_min) * amp_img
    phase = cfg.max_phase * (2.0 * phase_img - 1.0)
    return torch.polar(torch.from_numpy(amplitude), torch.from_numpy(phase)).to(torch.complex64)
