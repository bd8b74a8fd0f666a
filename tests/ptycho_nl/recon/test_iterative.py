"""ePIE / rPIE / LSQML converge on noiseless data, refine a probe, and are deterministic."""

import dataclasses

import numpy as np
import pytest
import torch
from recon_scans import flat_disk_like, scanned_mask

from ptycho_nl.config import validate_config
from ptycho_nl.errors import ConfigError
from ptycho_nl.evaluate.metrics import compute_metrics
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative


def _score(result, data, **kwargs):
    return compute_metrics(result.object.numpy(), data.object, mask=scanned_mask(data), **kwargs)


def _falls_on_average(errors):
    errors = np.asarray(errors)
    k = max(len(errors) // 5, 1)
    # The mean of the last fifth is far below the first fifth's, and the trend is down throughout.
    return errors[-k:].mean() < 0.05 * errors[:k].mean() and np.all(
        np.diff([errors[i : i + k].mean() for i in range(0, len(errors) - k + 1, k)]) < 0
    )


@pytest.mark.parametrize("method", ["epie", "rpie", "lsqml"])
def test_known_probe_converges_to_the_object(scan, method):
    options = IterativeOptions(method=method, iterations=60, batch_size=16)
    result = reconstruct_iterative(scan, options=options)
    assert len(result.errors) == 60
    assert _falls_on_average(result.errors), result.errors[::10]
    metrics = _score(result, scan)
    assert metrics["phase_ssim"] >= 0.95, metrics
    assert metrics["amplitude_ssim"] >= 0.95, metrics
    assert metrics["nrmse"] < 0.05, metrics
    assert result.object.dtype == torch.complex64 and result.object.shape == (72, 72)


@pytest.mark.parametrize("method", ["epie", "rpie", "lsqml"])
def test_blind_probe_update_recovers_object_and_probe(scan, method):
    true_probe = torch.from_numpy(scan.probe)
    start = flat_disk_like(true_probe, radius=8)
    options = IterativeOptions(method=method, iterations=80, batch_size=16, update_probe=True)
    result = reconstruct_iterative(scan, options=options, initial_probe=start)
    assert _falls_on_average(result.errors), result.errors[::10]
    # A refined probe may carry a linear phase ramp that the object then mirrors (the known
    # affine ambiguity of blind ptychography), so the blind case is scored with the ramp removed.
    metrics = _score(result, scan, remove_ramp=True)
    assert metrics["phase_ssim"] >= 0.95, metrics
    assert metrics["nrmse_ramp_removed"] < 0.05, metrics

    # The refined probe approaches the truth up to a complex scalar; the flat disk did not.
    def probe_error(p):
        p = p.to(torch.complex128)
        t = true_probe.to(torch.complex128)
        c = torch.vdot(p.flatten(), t.flatten()) / torch.vdot(p.flatten(), p.flatten())
        return float((c * p - t).norm() / t.norm())

    assert probe_error(result.probe) < 0.5 * probe_error(start)


def test_same_seed_same_result_and_other_seed_differs(scan):
    options = IterativeOptions(method="rpie", iterations=5, batch_size=8, seed=3)
    a = reconstruct_iterative(scan, options=options)
    b = reconstruct_iterative(scan, options=options)
    c = reconstruct_iterative(scan, options=options.model_copy(update={"seed": 4}))
    assert torch.equal(a.object, b.object) and a.errors == b.errors
    assert not torch.equal(a.object, c.object)


@pytest.mark.parametrize(("order", "subpixel"), [("compact", "probe"), ("sequential", "object")])
def test_other_orders_and_subpixel_models_converge(scan, order, subpixel):
    options = IterativeOptions(
        method="rpie", iterations=60, batch_size=16, order=order, subpixel=subpixel
    )
    result = reconstruct_iterative(scan, options=options)
    assert _score(result, scan)["phase_ssim"] >= 0.95


@pytest.mark.parametrize(
    ("subpixel", "tolerance", "drift"), [("object", 1e-8, 1e-3), ("probe", 1e-4, 1e-2)]
)
def test_warm_start_at_truth_stays_there(scan, subpixel, tolerance, drift):
    # "object" is the data's own forward model (the truth is an exact fixed point); "probe"
    # shifts the probe instead, equal up to sub-pixel interpolation error.
    options = IterativeOptions(method="epie", iterations=3, subpixel=subpixel)
    result = reconstruct_iterative(scan, options=options, initial_object=scan.object)
    assert result.errors[0] < tolerance
    mask = scanned_mask(scan)
    assert np.abs(result.object.numpy() - scan.object)[mask].max() < drift


def test_callback_sees_every_iteration_and_progress_runs(scan):
    seen = []
    options = IterativeOptions(method="lsqml", iterations=4)
    result = reconstruct_iterative(
        scan, options=options, progress=True, callback=lambda i, e: seen.append((i, e))
    )
    assert seen == list(enumerate(result.errors))
    assert result.seconds_per_iteration > 0


def test_positions_outside_the_object_are_rejected(scan):
    small = np.ones((40, 40), np.complex64)
    with pytest.raises(ValueError, match="outside the 40x40 object"):
        reconstruct_iterative(scan, options=IterativeOptions(iterations=1), initial_object=small)


def test_options_validate_method_and_order():
    with pytest.raises(ConfigError, match="method"):
        validate_config(IterativeOptions, {"method": "dm"})
    with pytest.raises(ConfigError, match="order"):
        validate_config(IterativeOptions, {"order": "random"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(scan):
    options = IterativeOptions(method="rpie", iterations=5, batch_size=16)
    cpu = reconstruct_iterative(scan, options=options)
    gpu = reconstruct_iterative(scan, options=options.model_copy(update={"device": "cuda"}))
    torch.testing.assert_close(gpu.object, cpu.object, rtol=1e-3, atol=1e-3)


def test_fixed_partition_reuses_its_batches_and_matches_no_other_order(scan):
    options = IterativeOptions(method="epie", iterations=4, batch_size=8)
    assert options.order == "fixed"
    fixed = reconstruct_iterative(scan, options=options)
    again = reconstruct_iterative(scan, options=options)
    sequential = reconstruct_iterative(
        scan, options=options.model_copy(update={"order": "sequential"})
    )
    assert torch.equal(fixed.object, again.object)
    assert not torch.equal(fixed.object, sequential.object)
    # The fixed partition's batches keep their preconditioner for the whole run (a known probe):
    # computed once per batch, reused on every later pass; fresh batches never are.
    n_batches = -(-scan.n_patterns // options.batch_size)
    assert (fixed.cache.misses, fixed.cache.hits) == (n_batches, 3 * n_batches)
    assert (sequential.cache.misses, sequential.cache.hits) == (4 * n_batches, 0)


def test_momentum_speeds_up_convergence(scan):
    # mPIE's heavy-ball step on each pass's change: lower Fourier error after the same number of
    # passes, and still the right object.
    plain = IterativeOptions(method="epie", iterations=30, batch_size=16, momentum=0)
    without = reconstruct_iterative(scan, options=plain)
    with_momentum = reconstruct_iterative(scan, options=plain.model_copy(update={"momentum": 0.7}))
    assert with_momentum.errors[-1] < 0.5 * without.errors[-1]
    assert _score(with_momentum, scan)["phase_ssim"] >= 0.95


def test_round_mode_equals_probe_mode_on_whole_pixel_positions(scan):
    positions = np.round(scan.positions)
    data = dataclasses.replace(scan, xcoords=positions[:, 1], ycoords=positions[:, 0])
    options = IterativeOptions(method="rpie", iterations=3, batch_size=8)
    probe_mode = reconstruct_iterative(data, options=options)
    round_mode = reconstruct_iterative(
        data, options=options.model_copy(update={"subpixel": "round"})
    )
    torch.testing.assert_close(round_mode.object, probe_mode.object)


def test_lsqml_has_its_own_batch_defaults_unless_given():
    assert (IterativeOptions().batch_size, IterativeOptions().order) == (128, "fixed")
    lsqml = IterativeOptions(method="lsqml")
    assert (lsqml.batch_size, lsqml.order) == (64, "sequential")
    given = IterativeOptions(method="lsqml", batch_size=16, order="compact")
    assert (given.batch_size, given.order) == (16, "compact")
