"""Position correction: the least-squares shift estimate recovers a known shift, the per-pass
constraints hold, and on a scan whose positions are off by up to 2 px the corrected run finds
them to well under a pixel and reconstructs as well as the run with the true positions."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ptycho_nl.evaluate.metrics import compute_metrics
from ptycho_nl.operators import fourier_shift
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative
from ptycho_nl.recon.positions import PositionRefiner, affine_projection, shift_estimate
from ptycho_nl.simulate.config import ObjectConfig, ProbeConfig, ScanConfig, SimulationConfig
from ptycho_nl.simulate.dataset import simulate
from ptycho_nl.simulate.probes import make_probe


def test_shift_estimate_recovers_a_known_subpixel_shift():
    """chi = P (O shifted by d) - P O, with O a smooth periodic object: the fitted shift is d
    (central differences are accurate to ~3 % at these periods of 16 and 32/3 px)."""
    axis = torch.arange(32, dtype=torch.float64)
    r, c = axis[:, None], axis[None, :]
    phase = 0.8 * torch.sin(2 * math.pi * r / 16) + 0.5 * torch.cos(2 * math.pi * 3 * c / 32)
    amp = 0.8 + 0.2 * torch.sin(2 * math.pi * (r + c) / 16)
    obj = torch.polar(amp, phase).to(torch.complex64)
    probe = make_probe(ProbeConfig(size=32, kind="gaussian", sigma=5.0))
    d = torch.tensor([[0.15, -0.1], [-0.05, 0.2]], dtype=torch.float64)
    patches = obj.expand(2, 32, 32).contiguous()
    # O(j + d): the frame of a position moved by +d, by an exact Fourier shift of -d.
    moved = fourier_shift(patches, -d)
    chi = probe * (moved - patches)
    estimate = shift_estimate(patches, probe.expand(2, 32, 32), chi)
    torch.testing.assert_close(estimate, d, atol=0.02, rtol=0.1)


def test_affine_projection_recovers_a_global_map():
    gen = torch.Generator().manual_seed(0)
    nominal = torch.rand(50, 2, generator=gen, dtype=torch.float64) * 40
    matrix = torch.tensor([[1.02, 0.01], [-0.015, 0.99]], dtype=torch.float64)
    mapped = nominal @ matrix + torch.tensor([0.3, -0.2], dtype=torch.float64)
    noisy = mapped + 0.05 * torch.randn(50, 2, generator=gen, dtype=torch.float64)
    projected = affine_projection(nominal, noisy)
    assert float((projected - mapped).abs().max()) < 0.05


def test_refiner_limits_each_step_and_removes_the_common_shift():
    nominal = torch.tensor([[20.0, 20.0], [30.0, 30.0], [40.0, 25.0]], dtype=torch.float64)
    refiner = PositionRefiner(nominal, 16, (64, 64), gain=1.0, step_limit=0.5, affine=False)
    refiner.record(torch.tensor([0, 1, 2]), torch.tensor([[3.0, 0.0], [0.1, 0.1], [0.2, -0.1]]))
    moved = refiner.end_pass() - nominal
    clipped = torch.tensor([[0.5, 0.0], [0.1, 0.1], [0.2, -0.1]], dtype=torch.float64)
    torch.testing.assert_close(moved, clipped - clipped.mean(0))
    assert float(moved.abs().max()) <= 1.0  # a limited step, less its mean


@pytest.fixture(scope="module")
def perturbed():
    cfg = SimulationConfig(
        probe=ProbeConfig(size=32, kind="disk", aperture=0.5, defocus=8.0),
        object=ObjectConfig(kind="procedural"),
        scan=ScanConfig(n_positions=100, view="dense"),
        dose=1e6,
    )
    data = simulate(cfg)
    error = np.random.default_rng(1).uniform(-2, 2, data.positions.shape)  # +-2 px per axis
    moved = data.positions + error
    bad = dataclasses.replace(data, xcoords=moved[:, 1].copy(), ycoords=moved[:, 0].copy())
    return data, bad


def _nrmse(result, data):
    pos = data.positions
    mask = np.zeros(data.object.shape, bool)
    (r0, c0), (r1, c1) = np.ceil(pos.min(0)).astype(int), np.floor(pos.max(0)).astype(int)
    mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return compute_metrics(result.object.numpy(), data.object, mask=mask)["nrmse"]


# LSQML with the Poisson update: at this high dose it converges further in 100 passes than the
# amplitude-likelihood defaults (docs/performance.md), so the comparison is not convergence-bound.
POISSON = dict(noise_model="poisson", momentum=0.8, beta=1.0, lsqml_delta=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("method, extra", [("epie", {}), ("lsqml", POISSON)])
def test_correction_finds_positions_off_by_two_pixels(perturbed, method, extra):
    data, bad = perturbed
    # The exact sub-pixel model ("object" shifts, as the simulation): the probe-shift mode's
    # interpolation error would otherwise bound the position precision near 0.2 px.
    common = dict(method=method, iterations=100, batch_size=16, subpixel="object", **extra)
    truth_run = reconstruct_iterative(data, options=IterativeOptions(**common))
    uncorrected = reconstruct_iterative(bad, options=IterativeOptions(**common))
    options = IterativeOptions(
        **common, position_correction=True, position_start=5, position_gain=1.5
    )
    corrected = reconstruct_iterative(bad, options=options)
    error = corrected.positions - data.positions
    start_error = bad.positions - data.positions
    # A common translation of all positions only translates the object: not observable.
    rms = float(np.sqrt(((error - error.mean(0)) ** 2).sum(1).mean()))
    start = float(np.sqrt(((start_error - start_error.mean(0)) ** 2).sum(1).mean()))
    assert start > 1.5 and rms < 0.2, (start, rms)
    assert _nrmse(corrected, data) <= 1.1 * _nrmse(truth_run, data), (
        _nrmse(corrected, data),
        _nrmse(truth_run, data),
    )
    assert _nrmse(uncorrected, data) > 2 * _nrmse(corrected, data)


@pytest.mark.slow
def test_affine_constraint_recovers_a_scaled_rotated_scan(perturbed):
    """Positions off by a global 3% scale and 1 degree rotation (up to 1.3 px): the affine
    constraint finds them better than free per-position refinement."""
    data, _ = perturbed
    pos = data.positions
    centre, theta = pos.mean(0), np.deg2rad(1.0)
    rotation = 1.03 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = (pos - centre) @ rotation.T + centre
    bad = dataclasses.replace(data, xcoords=moved[:, 1].copy(), ycoords=moved[:, 0].copy())
    rms = {}
    for affine in (False, True):
        options = IterativeOptions(
            method="epie", iterations=100, batch_size=16, subpixel="object",
            position_correction=True, position_start=5, position_gain=1.5,
            position_affine=affine,
        )  # fmt: skip
        found = reconstruct_iterative(bad, options=options).positions
        error = found - pos
        rms[affine] = float(np.sqrt(((error - error.mean(0)) ** 2).sum(1).mean()))
    assert rms[True] < 0.1 and rms[True] < 0.5 * rms[False], rms
