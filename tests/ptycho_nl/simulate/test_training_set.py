"""The many-object training set: deterministic, physically consistent, never the test object."""

import numpy as np
import pytest
import torch

from ptycho_nl import physics
from ptycho_nl.data.grouping import group_neighbours
from ptycho_nl.data.npz import load_npz
from ptycho_nl.simulate.config import ObjectConfig, ProbeConfig
from ptycho_nl.simulate.dataset import seeds_for
from ptycho_nl.simulate.objects import make_object
from ptycho_nl.simulate.training_set import (
    PROCEDURAL,
    TrainingSetConfig,
    build_training_set,
    make_tiles,
    tile_sources,
    write_training_set,
)

PROBE = ProbeConfig(size=32, kind="disk", aperture=0.8, defocus=10.0)
SMALL = TrainingSetConfig(n_objects=5, tile_size=80, probe=PROBE, dose=1e4, seed=3)


@pytest.fixture(scope="module")
def data():
    return build_training_set(SMALL)


def test_same_seed_same_set_other_seed_other_set(data):
    again = build_training_set(SMALL)
    np.testing.assert_array_equal(again.diffraction, data.diffraction)
    np.testing.assert_array_equal(again.object, data.object)
    other = make_tiles(SMALL.model_copy(update={"seed": 4}))
    assert not torch.equal(other, make_tiles(SMALL))


def test_patches_are_the_mosaic_under_each_probe_and_the_dose_is_met(data):
    positions = torch.from_numpy(data.positions)
    obj = torch.from_numpy(data.object)
    expected = physics.extract_patches(obj, positions, data.patch_size)
    np.testing.assert_allclose(data.patches, expected.numpy(), atol=1e-5)
    # One intensity scale for every tile: mean counts per pattern is the requested dose.
    counts = (data.intensity_scale * data.diffraction.astype(np.float64)) ** 2
    assert counts.sum(axis=(1, 2)).mean() == pytest.approx(SMALL.dose, rel=0.02)
    # And the amplitudes are Poisson samples of the forward model (mean matches per pixel sum).
    model = physics.forward_intensity(obj, torch.from_numpy(data.probe), positions).numpy()
    ratio = counts.sum() / (data.intensity_scale**2 * model.sum())
    assert ratio == pytest.approx(1.0, rel=0.01)


def test_no_patch_and_no_neighbour_group_spans_two_tiles(data):
    n = data.patch_size
    # Label the mosaic: 0 for the background between tiles, t + 1 inside tile t.
    pitch = SMALL.tile_size + 2 * n
    labels = np.zeros(data.object.shape, dtype=int)
    per_row = int(np.ceil(np.sqrt(SMALL.n_objects)))
    for t in range(SMALL.n_objects):
        r0, c0 = (t // per_row) * pitch + n, (t % per_row) * pitch + n
        labels[r0 : r0 + SMALL.tile_size, c0 : c0 + SMALL.tile_size] = t + 1
    corner = np.floor(data.positions - n / 2).astype(int)
    tile_of = []
    for r, c in corner:
        seen = np.unique(labels[r : r + n + 1, c : c + n + 1])
        assert 0 not in seen and len(seen) == 1, seen  # inside exactly one tile
        tile_of.append(seen[0])
    tile_of = np.array(tile_of)
    assert set(tile_of) == set(range(1, SMALL.n_objects + 1))  # every tile is scanned
    groups = group_neighbours(data.positions, 2)
    assert (tile_of[groups] == tile_of[groups[:, :1]]).all()


def test_the_test_objects_images_and_seed_stream_are_never_used():
    config = TrainingSetConfig(n_objects=40, procedural_fraction=0.3, exclude=["camera", "moon"])
    used = {name for pair in tile_sources(config) for name in pair}
    assert used.isdisjoint({"camera", "moon"}) and PROCEDURAL in used and len(used) > 5
    # The study's procedural test object (same seed, its own stream) is not among the tiles.
    textures = TrainingSetConfig(
        n_objects=6, procedural_fraction=1.0, tile_size=64, probe=PROBE, seed=0
    )
    tiles = make_tiles(textures).numpy()
    study_object = make_object(
        ObjectConfig(kind="procedural"), (64, 64), seed=seeds_for(0)["object"]
    ).numpy()
    for tile in tiles:
        a, b = np.angle(tile).ravel(), np.angle(study_object).ravel()
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.5


def test_amplitude_and_phase_stay_in_the_configured_ranges():
    tiles = make_tiles(SMALL).numpy()
    assert np.abs(tiles).min() >= SMALL.object.amplitude_min - 1e-6
    assert np.abs(tiles).max() <= 1.0 + 1e-6
    assert np.abs(np.angle(tiles)).max() <= SMALL.object.max_phase + 1e-6


def test_written_set_is_a_valid_contract_file(data, tmp_path):
    path = write_training_set(SMALL, tmp_path / "train.npz")
    loaded = load_npz(path)
    assert loaded.n_patterns == data.n_patterns
    assert loaded.metadata["config_digest"] and len(loaded.metadata["tiles"]) == SMALL.n_objects


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="not bundled"):
        tile_sources(TrainingSetConfig(images=["no_such_picture"]))
    with pytest.raises(ValueError, match="every image is excluded"):
        tile_sources(TrainingSetConfig(images=["camera"], exclude=["camera"]))
    with pytest.raises(ValueError, match="too small"):
        build_training_set(SMALL.model_copy(update={"tile_size": 34}))
