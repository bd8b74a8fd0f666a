"""Iterative reconstruction: ePIE, rPIE and LSQML, batched over scan positions.

Axis legend: n positions in the scan, B positions in a mini-batch, N probe side, H x W object.

The solvers are one-step functions: `pie.pie_step` updates object and probe in place (ePIE
scatters straight into the object), `lsqml.lsqml_step` returns increments; this module owns the
loop: mini-batch order, probe-update schedule, error log, timing. Incoherent probe modes
(`probe_modes` > 1) or position correction take the general path (`mixed_steps.py`: whole frame,
no memoised preconditioners; modes orthogonalised after every probe-refining pass, positions
moved by `positions.PositionRefiner` after every refining pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ptycho_nl.data.types import PtychoData
from ptycho_nl.operators import ScanPlacement, support_box
from ptycho_nl.progress import progress_bar
from ptycho_nl.recon.lsqml import lsqml_step
from ptycho_nl.recon.mixed_steps import mixed_lsqml_step, mixed_pie_step
from ptycho_nl.recon.modes import initial_modes, mode_powers, orthogonalise
from ptycho_nl.recon.options import IterativeOptions
from ptycho_nl.recon.pie import pie_step
from ptycho_nl.recon.positions import PositionRefiner, shift_estimate
from ptycho_nl.recon.quality_trace import QualityTrace, checkpoint_iterations
from ptycho_nl.recon.solver_cache import Batch, CacheStats, SolverCache


@dataclass
class IterativeResult:
    """object (H, W) complex64 and probe (N, N) complex64 on the CPU; errors: normalised Fourier
    error sum (|Psi| - A)^2 / sum A^2 per iteration, measured before that iteration's updates.
    With K > 1 probe modes `probe` is the strongest mode and `probe_modes` all K (K, N, N);
    with position correction `positions` holds the refined (n, 2) (row, col) centres."""

    object: torch.Tensor
    probe: torch.Tensor
    errors: list[float] = field(default_factory=list)
    seconds_per_iteration: float = 0.0
    total_seconds: float = 0.0
    cache: CacheStats = field(default_factory=CacheStats)  # the solver cache's reuse counts
    probe_modes: torch.Tensor | None = None  # (K, N, N) when K > 1
    mode_powers: list[float] = field(default_factory=list)  # each mode's share of the power
    positions: np.ndarray | None = None  # refined positions (n, 2) when corrected


def _z_order(positions: np.ndarray) -> np.ndarray:
    """Permutation sorting positions along a Morton (Z-order) curve: nearby positions stay close."""
    grid = np.round(positions - positions.min(0)).astype(np.int64)
    code = np.zeros(len(grid), dtype=np.int64)
    for bit in range(20):
        code |= ((grid[:, 0] >> bit) & 1) << (2 * bit + 1)
        code |= ((grid[:, 1] >> bit) & 1) << (2 * bit)
    return np.argsort(code, kind="stable")


class _MiniBatches:
    """The mini-batches of each pass with their measured amplitudes (B, N, N).

    Fixed partitions ("fixed", "compact") keep one index tensor and one contiguous amplitude
    block per batch for the whole run, named by their number: no per-step gather of amplitudes,
    and the solver cache's per-batch values (flat indices, illumination) are reused every pass."""

    def __init__(self, amplitude: torch.Tensor, options: IterativeOptions, positions: np.ndarray):
        self.gen = torch.Generator().manual_seed(options.seed)
        self.size = options.batch_size
        self.device = amplitude.device
        self.amplitude, self.fixed = amplitude, None
        if options.order == "sequential":
            return
        order = (
            torch.from_numpy(_z_order(positions))
            if options.order == "compact"
            else torch.randperm(len(amplitude), generator=self.gen)
        )
        chunks = [chunk.to(self.device) for chunk in order.split(self.size)]
        self.fixed = [Batch(i, idx, amplitude.index_select(0, idx)) for i, idx in enumerate(chunks)]
        self.amplitude = None  # each batch holds its own contiguous copy

    def epoch(self) -> list[Batch]:
        if self.fixed is not None:
            return [self.fixed[i] for i in torch.randperm(len(self.fixed), generator=self.gen)]
        n = len(self.amplitude)
        batches = [
            c.to(self.device) for c in torch.randperm(n, generator=self.gen).split(self.size)
        ]
        return [Batch(None, idx, self.amplitude.index_select(0, idx)) for idx in batches]


@dataclass(eq=False)
class _Run:
    """A solver run's state: the estimates it updates and what stays fixed while it runs."""

    obj: torch.Tensor  # (H, W) complex64, updated in place
    probe: torch.Tensor  # (N, N) complex64, updated in place when refined
    scan: ScanPlacement
    batches: _MiniBatches
    cache: SolverCache
    total_energy: float  # sum A^2 over valid pixels, the error normalisation
    valid: torch.Tensor | None = None  # (N, N) or (n, N, N) bool detector mask, unshifted
    background: torch.Tensor | float = 0.0  # LSQML's b, () or (N, N), unshifted
    general: bool = False  # probe modes (K, N, N) or refined positions: `mixed_steps.py`
    refiner: PositionRefiner | None = None

    def move_positions(self, options: IterativeOptions) -> None:
        # End of a refining pass: new positions, so a new placement and a new cache.
        positions = self.refiner.end_pass()
        self.scan = ScanPlacement(
            positions, self.scan.n, self.scan.shape, subpixel=options.subpixel
        )
        self.cache = SolverCache(self.scan)

    def batch_mask(self, batch: Batch) -> torch.Tensor | None:
        if self.valid is None or self.valid.dim() == 2:
            return self.valid
        return self.valid.index_select(0, batch.idx)


def _detector(data: PtychoData, device) -> tuple[torch.Tensor | None, torch.Tensor | float]:
    """The data's mask and background (specs/data_contracts.md §6) in the steps' unshifted
    layout; (None, 0.0) when the file has neither."""
    valid = background = None
    if data.mask is not None:
        valid = torch.as_tensor(np.asarray(data.mask), dtype=torch.bool).to(device)
        valid = torch.fft.ifftshift(valid, dim=(-2, -1))
    if data.background is not None:
        background = torch.as_tensor(np.asarray(data.background), dtype=torch.float32)
        if background.dim() == 2:
            background = torch.fft.ifftshift(background, dim=(-2, -1))
        background = background.to(device)
    return valid, (0.0 if background is None else background)


def _power_ratio(probe, amplitude, valid, background) -> float:
    """sqrt(mean_b sum_valid (A^2 - b) / sum_valid |F P|^2): the probe scale at which a unit
    object's far field carries the data's mean power (the valid pixels only)."""
    from ptycho_nl.operators import far_field

    model = far_field(probe, centred=False).abs().square()
    measured = (amplitude.square() - background).clamp_min(0)
    if valid is not None:
        model, measured = model * valid, measured * valid
    per_pattern = measured.sum(dim=(-2, -1)).mean()
    modelled = model.sum(dim=(-2, -1)).mean()  # a per-pattern mask: the mean over patterns
    return float((per_pattern / modelled.clamp_min(1e-30)).sqrt())


def _set_up(data, options, initial_object, initial_probe) -> _Run:
    device = torch.device(options.device)
    shape = tuple(initial_object.shape[-2:]) if initial_object is not None else data.object_shape
    obj = (
        torch.ones(shape, dtype=torch.complex64)
        if initial_object is None
        else torch.as_tensor(initial_object).to(torch.complex64).clone()
    ).to(device)
    probe = torch.as_tensor(data.probe if initial_probe is None else initial_probe)
    probe = probe.to(torch.complex64).clone().to(device)
    amplitude = torch.as_tensor(np.asarray(data.diffraction), dtype=torch.float32).to(device)
    amplitude = torch.fft.ifftshift(amplitude, dim=(-2, -1))  # the steps' unshifted layout
    valid, background = _detector(data, device)
    match = options.probe_power == "data" or (
        options.probe_power == "auto" and data.object is None and initial_object is None
    )
    if match and initial_probe is None:
        probe *= _power_ratio(probe, amplitude, valid, background)
    if options.method != "lsqml" and isinstance(background, torch.Tensor):
        # (r)PIE fits |Psi| to the background-free amplitude sqrt(max(A^2 - b, 0)).
        amplitude = (amplitude.square() - background).clamp_min_(0).sqrt_()
    general = options.probe_modes > 1 or options.position_correction
    if general and probe.dim() == 2:
        probe = initial_modes(probe, options.probe_modes)
    positions = torch.as_tensor(data.positions, dtype=torch.float64).to(device)
    n = probe.shape[-1]
    box = None
    if options.probe_box and options.method != "lsqml" and options.subpixel != "object":
        box = None if general else support_box(probe, margin=n // 8 if options.update_probe else 0)
    # Refined positions move every pass: exact sub-pixel shifts, no shared classes.
    steps = 0 if options.position_correction else options.subpixel_steps
    scan = ScanPlacement(
        positions,
        n,
        shape,
        subpixel=options.subpixel,
        box=box,
        subpixel_steps=steps if steps is not None else (4 if options.update_probe else 0),
    )
    energy = amplitude.square() if valid is None else amplitude.square() * valid
    total_energy = float(energy.sum())
    if options.method != "lsqml":
        # (r)PIE multiplies the far field by the amplitudes: a complex copy saves a type
        # promotion (a full-size temporary) every step.
        amplitude = amplitude.to(torch.complex64)
    # Fixed partitions hold their own contiguous copies of the amplitudes.
    batches = _MiniBatches(amplitude, options, np.asarray(data.positions))
    cache = SolverCache(scan)
    refiner = None
    if options.position_correction:
        refiner = PositionRefiner(
            positions, n, shape, gain=options.position_gain,
            step_limit=options.position_step_limit, affine=options.position_affine,
        )  # fmt: skip
    return _Run(obj, probe, scan, batches, cache, total_energy, valid, background, general, refiner)


def _general_pass(run: _Run, options: IterativeOptions, probe_on: bool, refine: bool) -> float:
    """`_one_pass` with probe modes and/or position correction (`mixed_steps.py`)."""
    alpha = 1.0 if options.method == "epie" else options.alpha
    err = torch.zeros((), dtype=torch.float64, device=run.obj.device)
    for batch in run.batches.epoch():
        valid = run.batch_mask(batch)
        if options.method == "lsqml":
            d_obj, d_probe, step = mixed_lsqml_step(
                run.obj, run.probe, run.scan, batch, run.cache, beta=options.beta,
                update_probe=probe_on, valid=valid, background=run.background,
                noise_model=options.noise_model, delta=options.lsqml_delta,
            )  # fmt: skip
            run.obj += d_obj
            if d_probe is not None:
                run.probe += d_probe
        else:
            step = mixed_pie_step(
                run.obj, run.probe, run.scan, batch, run.cache, alpha=alpha, beta=options.beta,
                probe_beta=options.probe_beta if probe_on else 0.0, valid=valid,
            )  # fmt: skip
        if refine:
            run.refiner.record(batch.idx, shift_estimate(step.patches, step.probes, step.chi))
        if probe_on:
            run.cache.probe_changed()
        err += step.residual.sum()
    if probe_on and run.probe.shape[0] > 1:
        run.probe.copy_(orthogonalise(run.probe))  # unique modes, strongest first
        run.cache.probe_changed()
    if refine:
        run.move_positions(options)
    return float(err)


def _one_pass(run: _Run, options: IterativeOptions, probe_on: bool) -> float:
    """Every mini-batch once, in this pass's order; returns the summed residual."""
    alpha = 1.0 if options.method == "epie" else options.alpha
    err = torch.zeros((), dtype=torch.float64, device=run.obj.device)
    for batch in run.batches.epoch():
        if options.method == "lsqml":
            d_obj, residual, d_probe = lsqml_step(
                run.obj, run.probe, run.scan, batch, run.cache,
                beta=options.beta, update_probe=probe_on,
                valid=run.batch_mask(batch), background=run.background,
                noise_model=options.noise_model, delta=options.lsqml_delta,
            )  # fmt: skip
            run.obj += d_obj
            if d_probe is not None:
                run.probe += d_probe
        else:
            residual = pie_step(
                run.obj, run.probe, run.scan, batch, run.cache,
                alpha=alpha, beta=options.beta,
                probe_beta=options.probe_beta if probe_on else 0.0,
                tolerance=options.preconditioner_tolerance, valid=run.batch_mask(batch),
            )  # fmt: skip
        if probe_on:
            run.cache.probe_changed()
        err += residual.sum()
    return float(err)


def reconstruct_iterative(
    data: PtychoData,
    *,
    options: IterativeOptions,
    initial_object: torch.Tensor | np.ndarray | None = None,
    initial_probe: torch.Tensor | np.ndarray | None = None,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
    trace: QualityTrace | None = None,
) -> IterativeResult:
    """Reconstruct the object (and optionally the probe) from measured amplitudes.

    data            : diffraction (n, N, N) float32 amplitudes, positions, probe (N, N)
    initial_object  : (H, W) complex warm start (e.g. a stitched network output); default ones
    initial_probe   : (N, N) complex; default `data.probe`
    progress        : show a progress bar on stderr   callback(iteration, error) after each pass
    trace           : score the object against the truth at checkpoint passes (quality vs time;
                      scoring time is excluded from every timing)
    Deterministic for a given `options.seed` on a given device.
    Raises ValueError when a scan position puts its patch outside the object.
    """
    run = _set_up(data, options, initial_object, initial_probe)
    obj = run.obj
    velocity = torch.zeros_like(obj) if options.momentum > 0 else None
    previous = obj.clone() if velocity is not None else None
    errors: list[float] = []
    marks = (
        checkpoint_iterations(options.iterations, trace.checkpoints) if trace is not None else set()
    )
    if trace is not None and not trace.points:
        trace.record(0.0, 0, obj, options.method)  # the starting object
    scored = trace.scoring_seconds if trace is not None else 0.0
    start = time.perf_counter()
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(options.method, total=options.iterations)
        for it in range(options.iterations):
            probe_on = options.update_probe and it >= options.probe_update_start
            if run.general:
                refine = run.refiner is not None and it >= options.position_start
                passed = _general_pass(run, options, probe_on, refine)
            else:
                passed = _one_pass(run, options, probe_on)
            errors.append(passed / max(run.total_energy, 1e-30))
            if velocity is not None:
                # Heavy-ball step on the pass's net change: speeds up the slowly converging
                # low spatial frequencies (global phase ramps) of local PIE updates.
                velocity.mul_(options.momentum).add_(obj).sub_(previous)
                obj.add_(velocity, alpha=options.momentum)
                previous.copy_(obj)
            if callback is not None:
                callback(it, errors[-1])
            if it + 1 in marks:
                spent = time.perf_counter() - start - (trace.scoring_seconds - scored)
                trace.record(spent, it + 1, obj, options.method)
            bar.update(task, advance=1, description=f"{options.method} err {errors[-1]:.3e}")
    total = time.perf_counter() - start
    if trace is not None:
        total -= trace.scoring_seconds - scored
    modes = run.probe.cpu() if run.probe.dim() == 3 and len(run.probe) > 1 else None
    return IterativeResult(
        object=obj.cpu(),
        probe=run.probe.cpu() if run.probe.dim() == 2 else run.probe[0].cpu(),
        probe_modes=modes,
        mode_powers=mode_powers(run.probe) if run.probe.dim() == 3 else [1.0],
        positions=None if run.refiner is None else run.refiner.positions.cpu().numpy(),
        errors=errors,
        seconds_per_iteration=total / options.iterations,
        total_seconds=total,
        cache=run.cache.stats,
    )
