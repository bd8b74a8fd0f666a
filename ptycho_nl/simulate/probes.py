"""Probes and their diameter.

The probe diameter D is the diameter of the centroid-centred circle holding 1 - e^-2 (86.5 %)
of |P|^2: 4 sigma for a Gaussian, the usual 1/e^2 diameter. Overlap is defined against it.
"""

from __future__ import annotations

import math

import torch

from ptycho_nl import physics
from ptycho_nl.simulate.config import ProbeConfig

ENCLOSED_ENERGY = 1.0 - math.exp(-2.0)


def make_probe(cfg: ProbeConfig) -> torch.Tensor:
    """(N, N) complex64 probe centred at pixel N // 2, peak amplitude 1."""
    n = cfg.size
    coords = torch.arange(n, dtype=torch.float64) - n // 2
    r2 = coords[:, None] ** 2 + coords[None, :] ** 2
    if cfg.kind == "gaussian":
        field = torch.polar(torch.exp(-r2 / (4 * cfg.sigma**2)), cfg.curvature * r2 / cfg.sigma**2)
    else:
        # Pupil (far-field plane) radius in frequency pixels; the probe is its back-propagation.
        radius = cfg.aperture * n / 2
        pupil = torch.polar((r2 <= radius**2).to(torch.float64), cfg.defocus * r2 / radius**2)
        # back_propagate puts the focus at pixel (0, 0); fftshift centres it at N // 2.
        field = torch.fft.fftshift(physics.back_propagate(pupil.to(torch.complex128)))
    field = field.to(torch.complex128)
    return (field / field.abs().max()).to(torch.complex64)


def probe_diameter(probe: torch.Tensor) -> float:
    """Diameter (pixels) of the centroid-centred circle holding 86.5 % of |probe|^2."""
    weight = probe.abs().to(torch.float64).square()
    n_rows, n_cols = weight.shape
    rows = torch.arange(n_rows, dtype=torch.float64)[:, None].expand_as(weight)
    cols = torch.arange(n_cols, dtype=torch.float64)[None, :].expand_as(weight)
    total = weight.sum()
    r = torch.hypot(rows - (weight * rows).sum() / total, cols - (weight * cols).sum() / total)
    order = torch.argsort(r.flatten())
    radii, cumulative = r.flatten()[order], torch.cumsum(weight.flatten()[order], 0) / total
    k = int(torch.searchsorted(cumulative, torch.tensor([ENCLOSED_ENERGY], dtype=torch.float64)))
    k = min(max(k, 1), radii.numel() - 1)
    # Linear interpolation between the two pixel radii that bracket the energy fraction.
    c0, c1, r0, r1 = cumulative[k - 1], cumulative[k], radii[k - 1], radii[k]
    t = (ENCLOSED_ENERGY - c0) / (c1 - c0) if c1 > c0 else 0.0
    return float(2.0 * (r0 + t * (r1 - r0)))


def mode_shares(cfg: ProbeConfig) -> list[float]:
    """The K modes' shares of the power, normalised to sum 1 (config or halving shares)."""
    powers = cfg.mode_powers or [0.5**k for k in range(cfg.modes)]
    total = sum(powers)
    return [p / total for p in powers]


def make_probe_modes(cfg: ProbeConfig) -> torch.Tensor:
    """(K, N, N) complex64 orthogonal incoherent modes of a partially coherent beam.

    An extended source illuminates the optic from slightly different directions: mode 0 is the
    coherent probe of `make_probe`, modes 1..K-1 the same probe under far-field tilts of
    `mode_tilt` pixels (right, down, left, up, ...). The tilted probes are orthonormalised
    (Gram-Schmidt, strongest first) and scaled to the shares `mode_shares`; the total power is
    that of the coherent probe, so the dose means the same thing. K = 1: `make_probe` (1, N, N).
    """
    probe = make_probe(cfg).to(torch.complex128)
    if cfg.modes == 1:
        return probe[None].to(torch.complex64)
    n = cfg.size
    coords = torch.arange(n, dtype=torch.float64) - n // 2
    directions = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1)]
    basis = [probe / probe.norm()]
    for k in range(1, cfg.modes):
        dr, dc = directions[(k - 1) % len(directions)]
        reach = cfg.mode_tilt * (1 + (k - 1) // len(directions))
        phase = 2 * math.pi * reach * (dr * coords[:, None] + dc * coords[None, :]) / n
        mode = probe * torch.polar(torch.ones_like(phase), phase)
        for earlier in basis:
            mode = mode - (earlier.conj() * mode).sum() * earlier
        basis.append(mode / mode.norm())
    total = float(probe.abs().square().sum())
    shares = mode_shares(cfg)
    modes = torch.stack([b * math.sqrt(total * p) for b, p in zip(basis, shares, strict=True)])
    return modes.to(torch.complex64)
