"""Hybrid reconstruction: a network's stitched object warm-starts the iterative solver."""

import numpy as np
import pytest
import torch
from recon_scans import make_scan, scanned_mask
from scipy.ndimage import gaussian_filter

from ptycho_nl import physics
from ptycho_nl.evaluate.metrics import compute_metrics, scored_mask
from ptycho_nl.recon.hybrid import reconstruct_hybrid, warm_start, without_coarse_phase
from ptycho_nl.recon.iterative import reconstruct_iterative
from ptycho_nl.recon.network import reconstruct_from_bundle
from ptycho_nl.recon.options import IterativeOptions
from ptycho_nl.recon.quality_trace import QualityTrace, checkpoint_iterations, time_to_reach


class ImperfectNetwork:
    """Stands in for a trained bundle that is good but not exact: each pattern's true patch,
    blurred, with a wrong overall gain and a random phase offset per patch (what a real network
    cannot know from one pattern)."""

    def __init__(self, data, *, blur=1.5, gain=2.5, seed=0):
        self.patch_size = data.patch_size
        self.table = {p.tobytes(): i for i, p in enumerate(np.asarray(data.diffraction))}
        rng = np.random.default_rng(seed)
        truth = np.asarray(data.patches)
        blurred = gaussian_filter(truth.real, (0, blur, blur)) + 1j * gaussian_filter(
            truth.imag, (0, blur, blur)
        )
        offsets = np.exp(2j * np.pi * rng.random(len(truth)))[:, None, None]
        self.patches = torch.from_numpy((gain * blurred * offsets).astype(np.complex64))

    def predict(self, diffraction, *, batch_size=256, device="cpu"):
        idx = [self.table[p.numpy().tobytes()] for p in diffraction]
        return self.patches[idx]


def _nrmse(obj, data):
    return compute_metrics(np.asarray(obj), data.object, mask=scanned_mask(data))["nrmse"]


@pytest.fixture(scope="module")
def data():
    return make_scan()


def test_without_refinement_the_hybrid_is_the_network_reconstruction(data):
    net = reconstruct_from_bundle(ImperfectNetwork(data), data)
    hybrid = reconstruct_hybrid(ImperfectNetwork(data), data, refine=None)
    mask = scored_mask(net.coverage.numpy())  # the region the study scores
    # Equal up to one global complex scalar there (what metrics remove).
    a, b = net.object.numpy()[mask], hybrid.object.numpy()[mask]
    scalar = np.vdot(a, b) / np.vdot(a, a)
    np.testing.assert_allclose(scalar * a, b, rtol=1e-4, atol=1e-5)
    scores = [
        compute_metrics(o.numpy(), data.object, mask=mask) for o in (net.object, hybrid.object)
    ]
    assert scores[0]["nrmse"] == pytest.approx(scores[1]["nrmse"], rel=1e-5)
    assert hybrid.refine_seconds == 0 and hybrid.network_seconds > 0


def test_warm_start_matches_the_data_energy(data):
    # Parseval: sum_b sum |P Q_b O|^2 = sum A^2 fixes the object's scale; the network's gain of
    # 2.5 is undone, so the warm start's amplitude is the truth's on the scanned region.
    net = reconstruct_from_bundle(ImperfectNetwork(data, blur=0.0, gain=2.5), data)
    start = warm_start(net, data).numpy()
    mask = scanned_mask(data)
    ratio = np.abs(start[mask]).mean() / np.abs(data.object[mask]).mean()
    assert ratio == pytest.approx(1.0, abs=0.02)


def test_refinement_never_ends_worse_than_its_start_and_beats_a_cold_start(data):
    options = IterativeOptions(method="epie", iterations=8, batch_size=16, seed=0)
    trace = QualityTrace(data.object, scanned_mask(data))
    hybrid = reconstruct_hybrid(ImperfectNetwork(data), data, refine=options, trace=trace)
    start, begin, final = trace.points[0], trace.points[1], trace.points[-1]
    assert start.stage == "network" and start.iteration == 0
    # The solver's own start (high-pass, then a moment round) is scored too, on the clock
    # between the network's object and the first pass; the end beats both.
    assert begin.stage == "start" and begin.iteration == 0 and hybrid.coarse is not None
    assert start.seconds <= begin.seconds <= trace.points[2].seconds
    assert begin.seconds == pytest.approx(hybrid.network_seconds)
    assert final.nrmse < min(start.nrmse, begin.nrmse)
    assert final.nrmse == pytest.approx(_nrmse(hybrid.object, data), rel=1e-6)
    cold = reconstruct_iterative(data, options=options)
    assert _nrmse(hybrid.object, data) < _nrmse(cold.object, data)


def test_the_quality_trace_is_monotone_in_time_and_ends_at_the_final_score(data):
    options = IterativeOptions(method="rpie", iterations=10, batch_size=16, seed=1)
    trace = QualityTrace(data.object, scanned_mask(data))
    result = reconstruct_iterative(data, options=options, trace=trace)
    seconds = [p.seconds for p in trace.points]
    assert seconds == sorted(seconds) and seconds[0] == 0.0
    assert [p.iteration for p in trace.points] == [0, *sorted(checkpoint_iterations(10))]
    assert trace.points[-1].nrmse == pytest.approx(_nrmse(result.object, data), rel=1e-6)
    # Scoring is kept out of the clock: the last point is the run's own total time.
    assert trace.points[-1].seconds == pytest.approx(result.total_seconds, rel=0.05, abs=5e-3)
    assert time_to_reach(trace.points, trace.points[-1].nrmse) <= trace.points[-1].seconds
    assert time_to_reach(trace.points, -1.0) is None


def test_a_trace_can_score_every_pass_and_the_scores_are_those_of_shorter_runs(data):
    # A benchmark timing "passes until the best NRMSE" needs every pass, not 12 geometric
    # marks; pass k's point must be what a run of k passes ends with (same seed, same order).
    options = IterativeOptions(method="epie", iterations=6, batch_size=16, seed=2)
    trace = QualityTrace(data.object, scanned_mask(data), checkpoints=6)
    reconstruct_iterative(data, options=options, trace=trace)
    assert [p.iteration for p in trace.points] == list(range(7))
    shorter = reconstruct_iterative(data, options=options.model_copy(update={"iterations": 3}))
    assert trace.points[3].nrmse == pytest.approx(_nrmse(shorter.object, data), rel=1e-6)


def test_checkpoints_are_geometric_and_include_the_last_pass():
    assert checkpoint_iterations(1) == {1}
    marks = sorted(checkpoint_iterations(100))
    assert marks[0] == 1 and marks[-1] == 100 and len(marks) <= 12
    gaps = np.diff(marks)
    assert (gaps[1:] >= gaps[:-1]).all()  # denser early, where a solver changes most
    assert checkpoint_iterations(0) == set()


def test_a_network_that_covers_nothing_is_refused(data):
    net = reconstruct_from_bundle(ImperfectNetwork(data), data)
    net.coverage = torch.zeros_like(net.coverage)
    with pytest.raises(ValueError, match="covers no pixel"):
        warm_start(net, data)


def test_without_coarse_phase_keeps_the_amplitude_and_the_fine_phase():
    side, sigma = 128, 8.0
    y, x = np.mgrid[:side, :side].astype(np.float64)
    rng = np.random.default_rng(3)
    amplitude = 0.5 + 0.5 * gaussian_filter(rng.random((side, side)), 2) / 0.6
    fine = 0.4 * np.sin(2 * np.pi * x / 6) * np.cos(2 * np.pi * y / 7)
    coarse = 1.2 * np.sin(2 * np.pi * x / side + 0.3) + 0.8 * np.cos(2 * np.pi * y / side)
    obj = amplitude * np.exp(1j * (fine + coarse))
    obj[:8, :8] = 0  # unscanned pixels
    out = without_coarse_phase(torch.from_numpy(obj.astype(np.complex64)), sigma).numpy()
    np.testing.assert_allclose(np.abs(out), np.abs(obj), rtol=1e-5, atol=1e-6)
    assert (out[:8, :8] == 0).all()
    inner = (slice(24, 104), slice(24, 104))  # two sigmas from the edges
    left = np.angle(out * np.exp(-1j * fine))[inner]
    left = np.angle(np.exp(1j * (left - np.angle(np.exp(1j * left).mean()))))
    # A Gaussian high-pass keeps 1 - exp(-2 pi^2 sigma^2 / period^2) of a component: 7% of the
    # coarse phase (period 128, std 0.86 rad), all of the fine one (periods 6-7, std 0.2 rad,
    # which would be left behind, std 0.2, were it removed too).
    assert left.std() < 0.1 * coarse[inner].std()


class DriftingNetwork(ImperfectNetwork):
    """Every patch exact but for one smooth phase field across the object, varying over many
    probe widths: what synchronising independently predicted patches leaves behind."""

    def __init__(self, data, *, drift=1.5):
        self.patch_size = data.patch_size
        self.table = {p.tobytes(): i for i, p in enumerate(np.asarray(data.diffraction))}
        side = data.object.shape[0]
        y, x = np.mgrid[:side, :side] / side
        field = np.exp(1j * drift * (np.sin(np.pi * x) * np.cos(np.pi * y) + x))
        drifted = torch.from_numpy((np.asarray(data.object) * field).astype(np.complex64))
        pos = torch.as_tensor(data.positions, dtype=torch.float64)
        self.patches = physics.extract_patches(drifted, pos, data.patch_size)


def test_a_start_without_its_coarse_phase_drift_refines_faster():
    data = make_scan(side=128, step=5)
    options = IterativeOptions(method="epie", iterations=12, batch_size=16, seed=0)
    net = DriftingNetwork(data)
    kept = reconstruct_hybrid(net, data, refine=options, phase_highpass=0.0, moment_rounds=0)
    cut = reconstruct_hybrid(net, data, refine=options, moment_rounds=0)  # 2 probe diameters
    start = _nrmse(reconstruct_hybrid(net, data, refine=None).object, data)
    assert _nrmse(cut.object, data) < 0.5 * _nrmse(kept.object, data) < start
    with pytest.raises(ValueError, match="probe diameters >= 0, got -1"):
        reconstruct_hybrid(net, data, refine=options, phase_highpass=-1.0)


def test_the_data_moments_give_the_start_back_its_coarse_phase():
    data = make_scan(side=128, step=5)
    options = IterativeOptions(method="epie", iterations=12, batch_size=16, seed=0)
    net = DriftingNetwork(data)
    # Even from the whole drifting object, the moments measure the drift and take it out.
    whole = reconstruct_hybrid(net, data, refine=options, phase_highpass=0.0, moment_rounds=0)
    fixed = reconstruct_hybrid(net, data, refine=options, phase_highpass=0.0, moment_rounds=2)
    assert fixed.coarse.rounds == 2 and whole.coarse is None
    assert _nrmse(fixed.object, data) < 0.25 * _nrmse(whole.object, data)
    # The default (high-pass, then one round) beats the high-pass alone.
    cut = reconstruct_hybrid(net, data, refine=options, moment_rounds=0)
    default = reconstruct_hybrid(net, data, refine=options)
    assert default.coarse.rounds == 1 and _nrmse(default.object, data) < _nrmse(cut.object, data)
    with pytest.raises(ValueError, match="moment_rounds must be >= 0, got -1"):
        reconstruct_hybrid(net, data, refine=options, moment_rounds=-1)
