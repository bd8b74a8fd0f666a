"""Data fit without ground truth: how well a reconstruction explains each measured pattern.

Axis legend: n patterns, N detector side. For pattern b with counts k = (s A)^2 (s the file's
`intensity_scale`, 1 when absent) and model rate lambda = s^2 (|F[P O_b]|^2 + background):

    Poisson deviance  D_b = 2 sum_valid [lambda - k + k log(k / lambda)] / n_valid
                      (about 1 per pixel for a model that fits to the noise at high counts)
    R-factor          R_b = sum_valid | sqrt(lambda) - sqrt(k) | / sum_valid sqrt(k)

Excluded detector pixels (the data's mask, specs/data_contracts.md §6) are left out of both.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

CHUNK = 256  # patterns per forward pass: bounds memory on large scans
TINY = 1e-12


class DataFit(BaseModel):
    """Per-pattern data fit (in the data's pattern order) and its summaries."""

    deviance: list[float] = Field(description="Poisson deviance per valid pixel, per pattern.")
    r_factor: list[float] = Field(description="Amplitude R-factor per pattern.")
    mean_deviance: float
    mean_r_factor: float


def data_fit(data, obj: np.ndarray, probe: np.ndarray) -> DataFit:
    """Per-pattern Poisson deviance and R-factor of (obj, probe) against `data`'s patterns.

    data : PtychoData (diffraction, positions, optional mask, background, intensity_scale)
    obj  : (H, W) complex, the frame of `data`'s positions   probe : (N, N) complex
    """
    import torch

    from ptycho_nl import physics

    s = float(data.intensity_scale or 1.0)
    o = torch.as_tensor(np.asarray(obj), dtype=torch.complex64)
    p = torch.as_tensor(np.asarray(probe), dtype=torch.complex64)
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    background = 0.0 if data.background is None else np.asarray(data.background, np.float64)
    mask = None if data.mask is None else np.asarray(data.mask, bool)
    deviance, r_factor = [], []
    for start in range(0, data.n_patterns, CHUNK):
        stop = min(start + CHUNK, data.n_patterns)
        with torch.no_grad():
            model = physics.forward_intensity(o, p, positions[start:stop]).numpy()
        rate = s * s * (model.astype(np.float64) + background)
        counts = np.square(s * np.asarray(data.diffraction[start:stop], np.float64))
        valid = (
            np.ones(counts.shape, bool)
            if mask is None
            else np.broadcast_to(mask if mask.ndim == 2 else mask[start:stop], counts.shape)
        )
        rate = np.maximum(rate, TINY)
        log_term = np.where(counts > 0, counts * np.log(np.maximum(counts, TINY) / rate), 0.0)
        per_pixel = 2 * (rate - counts + log_term) * valid
        n_valid = np.maximum(valid.sum(axis=(-2, -1)), 1)
        deviance.extend((per_pixel.sum(axis=(-2, -1)) / n_valid).tolist())
        root = np.sqrt(counts)
        num = (np.abs(np.sqrt(rate) - root) * valid).sum(axis=(-2, -1))
        r_factor.extend((num / np.maximum((root * valid).sum(axis=(-2, -1)), TINY)).tolist())
    return DataFit(
        deviance=deviance,
        r_factor=r_factor,
        mean_deviance=float(np.mean(deviance)),
        mean_r_factor=float(np.mean(r_factor)),
    )
