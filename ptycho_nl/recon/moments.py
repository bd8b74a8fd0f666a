"""Coarse amplitude and phase of an object from the data's two lowest moments per pattern.

Axis legend: B patterns (scan positions), N pattern side, H x W object, P neighbour pairs.

With psi = P O_b the exit wave at position b and Psi its (ortho, centred) far field:

    zeroth moment   sum_q |Psi(q)|^2            = sum_x |P(x)|^2 |O_b(x)|^2          (Parseval)
    first moment    sum_q q |Psi(q)|^2 / total  = (N / 2 pi) <grad arg psi>_{|psi|^2}

(q in frequency-index units, the identity of differential phase contrast). Multiplying the
object by a smooth field a exp(i e) scales the zeroth by ~a^2 and shifts the first by the
|psi|^2-weighted mean of grad e, while everything else in the model stays. So the difference
between the measured and the modelled moments at each position says how far the model's
probe-scale amplitude and phase gradient are off there: the ratio of totals gives the amplitude
factor, and the gradient differences, integrated over the scan's neighbour graph by least
squares, give the phase (up to a constant). Both are taken to pixels as the probe-intensity-
weighted average of the per-position values (the stitch's weights), so the correction is smooth
on the probe's scale and leaves the finer structure alone.

Why: a network predicts each patch's fine structure well, but the synchronisation of hundreds of
independent patches drifts over many probe widths (docs/findings.md, NET-009); these moments
measure that drift directly, whatever the start. The fixed point is biased by the start's own
errors below the correction's scale (a centre of mass measures the whole weighted gradient, so
their mean gradient over the probe lands in the coarse phase), so a few rounds are worth
running, not many (docs/performance.md, "Coarse phase from the data's moments").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ptycho_nl import physics
from ptycho_nl.operators import ScanPlacement, adjoint_shift, illumination
from ptycho_nl.recon.stitch import COVERAGE_FLOOR

NEIGHBOUR_REACH = 1.6  # pairs closer than this many nearest-neighbour spacings constrain e
# The per-position values are integrated between neighbours, so the probe-smoothed phase must be
# sampled finely enough: scan spacing <= 0.4 probe diameters (>= 60% linear overlap). The demo's
# sparse view (0.61) got worse with a round (NRMSE 0.24 -> 0.51), R1 (0.28) and the dense
# view (0.26) better (docs/performance.md, "Coarse phase from the data's moments").
MAX_SPACING = 0.4
# Photon noise of the centres, integrated over the scan, must stay below this (rad, standard
# deviation over the scanned pixels). R1 at 1e4 has 0.010 and the demo's dense view at 1e5 0.014:
# a round helps both. The dense view at 1e3 has 0.14, where a round took the hybrid from NRMSE
# 0.19 to 0.30; R1 at 1e3 has 0.032, where it made the hybrid reach 1.05x the best iterative
# NRMSE sooner (171% -> 105% of the iterative time) but 1.01x later (123% -> 176%).
MAX_PHASE_NOISE = 0.02
CHUNK = 1024  # positions per forward pass and per read of the data (memory, not results)


def pattern_moments(intensity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(total (B,), centre (B, 2) row/col) of centred patterns (B, N_r, N_c), float64.

    The centre is in frequency-index units from the zero frequency (index N // 2 after the
    centring shift); a pattern with no counts has its centre at 0.
    """
    total, centre, _ = _moments(intensity)
    return total, centre


def _moments(intensity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """total (B,), centre (B, 2) and spread (B, 2): the variance of q along each axis."""
    values = intensity.to(torch.float64)
    n_r, n_c = values.shape[-2:]
    q_r = torch.arange(n_r, dtype=torch.float64, device=values.device) - n_r // 2
    q_c = torch.arange(n_c, dtype=torch.float64, device=values.device) - n_c // 2
    total = values.sum(dim=(-2, -1))
    safe = torch.where(total > 0, total, 1.0)
    rows, cols = values.sum(-1), values.sum(-2)
    centre = torch.stack([(rows * q_r).sum(-1) / safe, (cols * q_c).sum(-1) / safe], dim=-1)
    second = torch.stack(
        [(rows * q_r.square()).sum(-1) / safe, (cols * q_c.square()).sum(-1) / safe], dim=-1
    )
    return total, centre, (second - centre.square()).clamp_min(0)


def _neighbour_pairs(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Pairs (a, b) closer than NEIGHBOUR_REACH nearest-neighbour spacings, and the median
    nearest-neighbour spacing (pixels)."""
    from scipy.spatial import cKDTree

    if len(positions) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0.0
    tree = cKDTree(positions)
    spacing = np.median(tree.query(positions, k=2)[0][:, 1])
    pairs = tree.query_pairs(NEIGHBOUR_REACH * max(float(spacing), 1e-9), output_type="ndarray")
    return pairs[:, 0], pairs[:, 1], float(spacing)


@dataclass
class MomentCorrector:
    """Everything about one scan that the rounds reuse: positions, probe, the measured
    moments, the neighbour graph's factorised normal equations and the stitch weights."""

    positions: torch.Tensor  # (B, 2) float64 centres
    probes: torch.Tensor  # (M, N, N) complex64: incoherent modes
    amplitudes: np.ndarray  # (B, N, N) the data's own (possibly memory-mapped) amplitudes
    mask: torch.Tensor | None  # (N, N) or (B, N, N) float, 1 where a pixel counts
    shape: tuple[int, int]
    photon_scale: float | None = None  # s with counts = (s A)^2, when the data record it

    @classmethod
    def for_data(cls, data, shape: tuple[int, int]) -> MomentCorrector:
        # np.array copies: the data may be memory-mapped read-only (`load_npz(mmap=True)`).
        probes = torch.from_numpy(np.array(data.probe, dtype=np.complex64))
        probes = probes.reshape(-1, *probes.shape[-2:])
        mask = None
        if getattr(data, "mask", None) is not None:
            mask = torch.from_numpy(np.array(data.mask, dtype=np.float64))
        positions = physics.coords_to_positions(data.xcoords, data.ycoords)
        scale = getattr(data, "intensity_scale", None)
        return cls(
            positions, probes, data.diffraction, mask, tuple(shape),
            None if scale is None else float(scale),
        )  # fmt: skip

    def _chunks(self):
        """Slices of at most CHUNK positions: no step holds more than that many patterns."""
        bsz = len(self.positions)
        return [slice(i, min(i + CHUNK, bsz)) for i in range(0, bsz, CHUNK)]

    def _mask_of(self, rows: slice) -> torch.Tensor | None:
        if self.mask is None:
            return None
        return self.mask[rows] if self.mask.ndim == 3 else self.mask

    def _measured(self, rows: slice) -> torch.Tensor:
        """The measured amplitudes of `rows` (float64, masked), read chunk by chunk."""
        amplitude = torch.from_numpy(np.array(self.amplitudes[rows], dtype=np.float64))
        mask = self._mask_of(rows)
        return amplitude if mask is None else amplitude * mask

    def __post_init__(self) -> None:
        from scipy.sparse import coo_matrix, identity
        from scipy.sparse.linalg import factorized

        moments = [_moments(self._measured(rows).square()) for rows in self._chunks()]
        self.measured_total = torch.cat([m[0] for m in moments])  # (B,)
        self.measured_centre = torch.cat([m[1] for m in moments])  # (B, 2)
        self._measured_spread = torch.cat([m[2] for m in moments])  # (B, 2)
        p = self.positions.numpy()
        self._a, self._b, self.spacing = _neighbour_pairs(p)
        bsz, n_pairs = len(p), len(self._a)
        # Differences e_b - e_a along every pair, plus the mean of e pinned to 0 (the constant
        # phase is free); the normal equations are factorised once and reused every round.
        rows = np.r_[np.arange(n_pairs), np.arange(n_pairs), np.full(bsz, n_pairs)]
        cols = np.r_[self._a, self._b, np.arange(bsz)]
        vals = np.r_[-np.ones(n_pairs), np.ones(n_pairs), np.full(bsz, 1.0 / bsz)]
        self._diff = coo_matrix((vals, (rows, cols)), shape=(n_pairs + 1, bsz)).tocsc()
        # (A tiny ridge keeps pieces of a scan that no pair connects solvable, each at mean 0.)
        normal = self._diff.T @ self._diff + 1e-9 * identity(bsz)
        self._solve = factorized(normal.tocsc())
        self._step = p[self._b] - p[self._a]  # (P, 2) pixels
        n = self.probes.shape[-1]
        weights = self.probes.abs().square().sum(0).to(torch.float32)
        self._scan = ScanPlacement(self.positions, n, self.shape, subpixel="object")
        idx = torch.arange(len(self._scan))
        self._idx = idx
        self._placed = adjoint_shift(
            self._scan, weights.to(torch.complex64).expand(len(p), n, n), idx
        )
        coverage = illumination(self._scan, weights, idx)
        self._covered = coverage > COVERAGE_FLOOR * coverage.max()
        self._coverage = torch.where(self._covered, coverage, 1.0)

    @property
    def covered(self) -> torch.Tensor:
        """(H, W) bool: the pixels a probe reaches (the only ones a round changes)."""
        return self._covered

    @property
    def n_pairs(self) -> int:
        """How many neighbour pairs the integration uses."""
        return len(self._a)

    def modelled(
        self, obj: torch.Tensor, *, misfit: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """The model's moments for `obj` (H, W): total (B,), centre (B, 2), and its misfit to
        the data, sum (sqrt(I_model) - A)^2 over the counted pixels (amplitude domain), or None
        with `misfit=False` (then the data are not read)."""
        totals, centres, error = [], [], 0.0 if misfit else None
        for rows in self._chunks():
            positions = self.positions[rows].to(obj.device)
            intensity = sum(
                physics.forward_intensity(obj, probe, positions).to(torch.float64)
                for probe in self.probes.to(obj.device)
            ).cpu()
            mask = self._mask_of(rows)
            if mask is not None:
                intensity = intensity * mask
            total, centre, _ = _moments(intensity)
            totals.append(total)
            centres.append(centre)
            if misfit:
                error += float((intensity.sqrt() - self._measured(rows)).square().sum())
        return torch.cat(totals), torch.cat(centres), error

    def to_pixels(self, values: np.ndarray) -> torch.Tensor:
        """(H, W) float: sum_b w(x - t_b) v_b / sum_b w(x - t_b), 0 where nothing is scanned."""
        v = torch.from_numpy(np.asarray(values, dtype=np.float32)).to(torch.complex64)
        summed = self._scan.add(
            torch.zeros(self.shape, dtype=torch.complex64),
            self._placed * v[:, None, None],
            self._idx,
        )
        return torch.where(self._covered, summed.real / self._coverage, 0.0)

    def integrate(self, gradient: np.ndarray) -> np.ndarray:
        """(B,) values e whose pair differences best match the mean (B, 2) gradient (per pixel)
        of the two ends times their separation (least squares, mean 0)."""
        rhs = np.r_[0.5 * ((gradient[self._a] + gradient[self._b]) * self._step).sum(-1), 0.0]
        return self._solve(self._diff.T @ rhs)

    def centre_noise(self) -> torch.Tensor | None:
        """(B, 2) standard deviation of the measured centres' phase gradients (rad per pixel)
        from photon counting, or None without a photon scale: Var(centre) = Var_q / photons
        per axis for Poisson counts, Var_q the pattern's own spread in frequency."""
        if self.photon_scale is None:
            return None
        n_r, n_c = self.probes.shape[-2:]
        photons = (self.measured_total * self.photon_scale**2).clamp_min(1.0)
        scale = torch.tensor([2 * math.pi / n_r, 2 * math.pi / n_c], dtype=torch.float64)
        return (self._measured_spread / photons[:, None]).sqrt() * scale

    def phase_noise(self, seed: int = 0) -> float | None:
        """Standard deviation (rad, over the scanned pixels) of the phase correction that the
        centres' photon noise alone would make (one seeded draw, integrated and taken to
        pixels like a round's correction), or None without a photon scale."""
        sigma = self.centre_noise()
        if sigma is None:
            return None
        generator = torch.Generator().manual_seed(seed)
        draw = torch.randn(sigma.shape, dtype=torch.float64, generator=generator)
        phase = self.to_pixels(self.integrate((sigma * draw).numpy()))
        return float(phase[self._covered].std()) if bool(self._covered.any()) else 0.0

    def round(self, obj: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        """One amplitude then one phase correction of `obj` (H, W) complex, whose modelled
        totals are `total` (the phase step models the amplitude-corrected object)."""
        ratio = torch.where(total > 0, self.measured_total / total.clamp_min(1e-30), 1.0)
        factor = self.to_pixels(ratio.sqrt().numpy())
        obj = obj * torch.where(self._covered, factor, 1.0).to(obj.device)
        _, centre, _ = self.modelled(obj, misfit=False)
        n_r, n_c = self.probes.shape[-2:]
        scale = torch.tensor([2 * math.pi / n_r, 2 * math.pi / n_c], dtype=torch.float64)
        gradient = ((self.measured_centre - centre) * scale).numpy()
        phase = self.to_pixels(self.integrate(gradient))
        return obj * torch.polar(torch.ones_like(phase), phase).to(obj.device)


@dataclass
class CoarseOutcome:
    """What `correct_coarse` did: rounds kept, and why it stopped early (None: it did not)."""

    rounds: int
    reason: str | None = None
    spacing_ratio: float | None = None  # scan spacing / probe diameter
    phase_noise: float | None = None  # rad, see `MomentCorrector.phase_noise`


def correct_coarse(obj: torch.Tensor, data, rounds: int) -> tuple[torch.Tensor, CoarseOutcome]:
    """`obj` (H, W) complex after up to `rounds` moment corrections against `data` (a
    PtychoData whose amplitudes are in the model's units, as `hybrid.warm_start` scales the
    object), and what was done.

    No round runs where the moments cannot be trusted: scan positions too far apart for the
    gradients to be integrated (`MAX_SPACING`) or centres too noisy (`MAX_PHASE_NOISE`). A round
    is kept only when it lowers the amplitude-domain misfit to the data; the first that does not
    ends the corrections.
    """
    if rounds < 0:
        raise ValueError(f"moment rounds must be >= 0, got {rounds}")
    if rounds == 0:
        return obj, CoarseOutcome(0)
    from ptycho_nl.simulate.probes import probe_diameter

    corrector = MomentCorrector.for_data(data, tuple(obj.shape[-2:]))
    diameter = probe_diameter(corrector.probes[0])
    ratio = corrector.spacing / diameter if diameter > 0 else float("inf")
    noise = corrector.phase_noise()
    outcome = CoarseOutcome(0, None, ratio, noise)
    if corrector.n_pairs == 0:
        outcome.reason = "no two scan positions are neighbours: nothing to integrate over"
        return obj, outcome
    if not 0 < ratio <= MAX_SPACING:
        outcome.reason = f"scan spacing {ratio:.2f} probe diameters (at most {MAX_SPACING})"
        return obj, outcome
    if noise is not None and noise > MAX_PHASE_NOISE:
        outcome.reason = f"photon noise {noise:.3f} rad in the phase (at most {MAX_PHASE_NOISE})"
        return obj, outcome
    total, _, misfit = corrector.modelled(obj)
    for _ in range(rounds):
        candidate = corrector.round(obj, total)
        candidate_total, _, candidate_misfit = corrector.modelled(candidate)
        if not candidate_misfit < misfit:
            outcome.reason = "a round did not lower the misfit to the data"
            break
        obj, total, misfit = candidate, candidate_total, candidate_misfit
        outcome.rounds += 1
    return obj.to(torch.complex64), outcome
