"""Simulation physics: dose, forward model, overlap control, region split, provenance."""

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ptycho_nl import physics
from ptycho_nl import simulate as sim
from ptycho_nl.config import config_digest
from ptycho_nl.data.npz import load_npz
from ptycho_nl.errors import ConfigError
from ptycho_nl.io_utils import sha256_file


def _config(**changes) -> sim.SimulationConfig:
    return sim.SimulationConfig.model_validate({**sim.PRESETS["tiny"].model_dump(), **changes})


@pytest.fixture(scope="module")
def tiny():
    return sim.simulate(sim.PRESETS["tiny"])


def test_counts_recovered_from_amplitudes_are_integers_at_the_requested_dose(tiny):
    counts = physics.amplitude_to_counts(torch.from_numpy(tiny.diffraction), tiny.intensity_scale)
    exact = (torch.from_numpy(tiny.diffraction).double() * tiny.intensity_scale).square()
    assert float((exact - counts).abs().max()) < 1e-2  # float32 storage keeps counts exact
    totals = counts.sum(dim=(-2, -1))
    n, dose = len(totals), tiny.dose
    # Sum of n Poisson totals with mean dose each: std of the mean is sqrt(dose / n).
    assert abs(float(totals.mean()) - dose) < 5 * math.sqrt(dose / n)


def test_counts_have_poisson_statistics_around_the_noise_free_rate(tiny):
    obj, probe = torch.from_numpy(tiny.object), torch.from_numpy(tiny.probe)
    rate = physics.forward_intensity(obj, probe, torch.from_numpy(tiny.positions)).double()
    rate = rate * tiny.intensity_scale**2
    counts = physics.amplitude_to_counts(torch.from_numpy(tiny.diffraction), tiny.intensity_scale)
    z = float((counts - rate).sum() / rate.sum().sqrt())
    assert abs(z) < 5  # unbiased
    # Pearson statistic per pixel: E[(k - rate)^2 / rate] = 1 (variance = mean) with variance
    # 2 + 1/rate, so the mean over M pixels has std sqrt((2 + 1/rate) / M).
    bright = rate > 5
    pearson = ((counts - rate).square() / rate)[bright]
    tolerance = 5 * math.sqrt(2.2 / int(bright.sum()))
    assert float(pearson.mean()) == pytest.approx(1.0, abs=tolerance)


def test_patches_are_extracted_object_and_noiseless_amplitude_is_far_field():
    data = sim.simulate(_config(dose=1e13))
    obj = torch.from_numpy(data.object)
    positions = torch.from_numpy(data.positions)
    patches = physics.extract_patches(obj, positions, data.patch_size)
    torch.testing.assert_close(torch.from_numpy(data.patches), patches)
    # Independent direct computation with numpy's FFT of the exit wave.
    psi = data.probe[None] * data.patches.astype(np.complex128)
    direct = np.abs(np.fft.fftshift(np.fft.fft2(psi, norm="ortho"), axes=(-2, -1)))
    bright = direct > 1e-3 * direct.max()  # relative Poisson noise ~ 1/sqrt(counts) there
    np.testing.assert_allclose(data.diffraction[bright], direct[bright], rtol=2e-3)


def test_gaussian_probe_diameter_is_four_sigma():
    for sigma in (3.0, 5.0):
        probe = sim.make_probe(sim.ProbeConfig(kind="gaussian", size=64, sigma=sigma))
        assert sim.probe_diameter(probe) == pytest.approx(4 * sigma, abs=0.3)


def test_disk_probe_is_the_focus_of_its_pupil():
    cfg = sim.ProbeConfig(kind="disk", size=64, aperture=0.5, defocus=10.0)
    probe = sim.make_probe(cfg)
    pupil_energy = physics.intensity(physics.far_field(probe.to(torch.complex128)))
    r = torch.arange(64, dtype=torch.float64) - 32
    outside = (r[:, None] ** 2 + r[None, :] ** 2) > (0.5 * 32) ** 2
    assert float(pupil_energy[outside].sum() / pupil_energy.sum()) < 1e-12
    assert float(probe.abs().max()) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["raster", "spiral"])
@pytest.mark.parametrize("view", ["dense", "sparse"])
def test_measured_overlap_matches_requested(kind, view):
    probe = sim.make_probe(sim.ProbeConfig(kind="gaussian", size=32, sigma=4.0))
    diameter = sim.probe_diameter(probe)
    cfg = sim.ScanConfig(kind=kind, n_positions=100, view=view)
    positions = sim.make_scan(cfg, diameter=diameter, patch_size=32)
    assert sim.measure_overlap(positions, probe) == pytest.approx(sim.VIEWS[view], abs=1e-6)
    # Independent: the median nearest-neighbour step by brute force.
    p = positions.numpy()
    d = np.linalg.norm(p[:, None] - p[None], axis=-1) + np.diag(np.full(len(p), np.inf))
    assert np.median(d.min(axis=1)) == pytest.approx((1 - sim.VIEWS[view]) * diameter)


def test_nearest_neighbour_distances_equal_the_all_pairs_minimum():
    # Jittered points with one exact duplicate (distance 0) against a direct O(n^2) search.
    gen = np.random.default_rng(3)
    points = gen.uniform(0, 50, size=(300, 2))
    points[17] = points[4]
    diff = points[:, None, :] - points[None, :, :]
    direct = np.sqrt((diff**2).sum(-1))
    np.fill_diagonal(direct, np.inf)
    got = sim.nearest_neighbour_distances(points)
    np.testing.assert_allclose(got.numpy(), direct.min(axis=1), rtol=0, atol=1e-12)
    assert got[4] == got[17] == 0.0
    assert torch.isinf(sim.nearest_neighbour_distances(points[:1])).all()


def test_jitter_moves_positions_but_keeps_overlap_close():
    probe = sim.make_probe(sim.ProbeConfig(kind="gaussian", size=32, sigma=4.0))
    cfg = sim.ScanConfig(n_positions=100, overlap=0.5, jitter=0.3)
    positions = sim.make_scan(cfg, diameter=16.0, patch_size=32, seed=1)
    frac = positions - torch.round(positions)
    assert float(frac.abs().max()) > 0.05
    assert sim.measure_overlap(positions, probe) == pytest.approx(0.5, abs=0.05)


def test_train_and_test_patches_never_share_a_pixel(tmp_path):
    paths = sim.simulate_train_test(sim.PRESETS["tiny"], tmp_path)
    train, test = load_npz(paths["train"]), load_npz(paths["test"])
    assert train.n_patterns > 0 and test.n_patterns > 0
    n = train.patch_size
    ct = np.floor(train.positions - n / 2)  # (a, 2) top-left pixels
    cs = np.floor(test.positions - n / 2)
    gap = np.abs(ct[:, None, :] - cs[None, :, :])  # (a, b, 2)
    windows_intersect = (gap < n).all(axis=-1)
    assert not windows_intersect.any()
    np.testing.assert_array_equal(train.object, test.object)
    assert train.intensity_scale == test.intensity_scale
    assert (train.metadata["split"], test.metadata["split"]) == ("train", "test")
    assert not set(train.scan_index) & set(test.scan_index)


def test_same_config_gives_byte_identical_files_and_seed_changes_them(tmp_path):
    cfg = _config(object={"kind": "procedural"})
    a = sim.simulate_dataset(cfg, tmp_path / "a.npz")
    b = sim.simulate_dataset(cfg, tmp_path / "b.npz")
    c = sim.simulate_dataset(_config(object={"kind": "procedural"}, seed=1), tmp_path / "c.npz")
    assert sha256_file(a) == sha256_file(b) != sha256_file(c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz", "c.npz"]


def test_metadata_records_provenance(tiny):
    meta = tiny.metadata
    assert meta["config_digest"] == config_digest(sim.PRESETS["tiny"])
    assert (
        meta["seeds"]["seed"] == 0
        and len({meta["seeds"][k] for k in ("object", "scan", "noise")}) == 3
    )
    assert meta["git_sha"] == sim.git_sha()  # one value per process (lru_cache)
    sim.git_sha.cache_clear()  # the lead may commit while tests run: compare fresh values
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(sim.__file__).parent, capture_output=True, text=True
    )
    assert sim.git_sha() == (head.stdout.strip() if head.returncode == 0 else None)
    assert meta["version"] == __import__("ptycho_nl").__version__
    assert meta["overlap_measured"] == pytest.approx(0.7, abs=1e-6)
    assert sim.SimulationConfig.model_validate(meta["config"]) == sim.PRESETS["tiny"]


def test_camera_moon_object_comes_from_the_shipped_images():
    from skimage import data as skdata
    from skimage.transform import resize

    cfg = sim.ObjectConfig(kind="camera_moon", amplitude_min=0.4, max_phase=0.8)
    obj = sim.make_object(cfg, (96, 80)).numpy()
    assert obj.shape == (96, 80) and obj.dtype == np.complex64
    amp, phase = np.abs(obj), np.angle(obj)
    assert amp.min() == pytest.approx(0.4, abs=1e-5) and amp.max() == pytest.approx(1.0, abs=1e-5)
    assert phase.min() == pytest.approx(-0.8, abs=1e-5) and phase.max() == pytest.approx(
        0.8, abs=1e-5
    )
    camera = resize(skdata.camera().astype(float), (96, 80))
    moon = resize(skdata.moon().astype(float), (96, 80))
    assert np.corrcoef(amp.ravel(), camera.ravel())[0, 1] > 0.99
    assert np.corrcoef(phase.ravel(), moon.ravel())[0, 1] > 0.99


def test_procedural_object_is_seeded():
    cfg = sim.ObjectConfig(kind="procedural")
    a, b, c = (sim.make_object(cfg, (64, 64), seed=s) for s in (3, 3, 4))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_presets_and_config_errors():
    assert sim.PRESETS["tiny"].probe.size == 32 and sim.PRESETS["small"].probe.size == 64
    assert 200 <= sim.PRESETS["small"].scan.n_positions <= 800
    with pytest.raises(ValueError, match="either view or overlap"):
        sim.ScanConfig(view="dense", overlap=0.5)
    with pytest.raises(ConfigError, match="object.size 40 is too small"):
        sim.simulate(_config(object={"size": 40}))


def test_object_size_centres_the_scan():
    data = sim.simulate(_config(object={"size": 120}))
    assert data.object.shape == (120, 120)
    centre = data.positions.mean(axis=0)
    np.testing.assert_allclose(centre, [60, 60], atol=2.0)


@pytest.mark.parametrize("size", [16, 15])
def test_simulated_intensities_equal_the_physics_forward_model(size):
    """The simulator folds fftshift into the probe for even N; odd N takes the plain path."""
    from ptycho_nl.simulate.dataset import _diffract

    g = torch.Generator().manual_seed(0)
    obj = torch.polar(0.5 + torch.rand(40, 40, generator=g), torch.rand(40, 40, generator=g))
    obj = obj.to(torch.complex64)
    probe = torch.randn(size, size, generator=g, dtype=torch.complex64)
    positions = torch.tensor([[20.0, 20.0], [18.3, 21.7], [22.5, 19.25]], dtype=torch.float64)
    dose = 1e14  # relative Poisson noise ~1e-7 where it matters
    patches, amplitude, scale = _diffract(obj, probe, positions, dose, 0, None)
    expected = physics.forward_intensity(obj, probe, positions)
    torch.testing.assert_close(patches, physics.extract_patches(obj, positions, size))
    torch.testing.assert_close(
        amplitude.double().square(), expected.double(), rtol=1e-4, atol=1e-6 * float(expected.max())
    )


def test_progress_callback_counts_up_to_every_pattern(tmp_path):
    calls = []
    sim.simulate_dataset(
        sim.PRESETS["tiny"], tmp_path / "p.npz", progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (64, 64) and all(t == 64 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
