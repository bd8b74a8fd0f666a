"""A training set of many objects, so a network learns the physics rather than one object.

Axis legend: T tiles (objects), n patterns, N patch side.

Each tile is one complex object: amplitude from one source and phase from another, each a
random square crop of an image scikit-image ships (or a procedural texture), rotated by a
multiple of 90 degrees and possibly flipped, then mapped to the study's amplitude and phase
ranges. The tiles sit on one mosaic separated by gaps wider than a patch, each scanned with the
study's raster, so the result is one ordinary contract file (one probe, one `objectGuess`
mosaic, patterns from every tile) that the bridge, neighbour grouping (groups never span two
tiles: the gap is wider than any neighbour distance) and the shard sets read unchanged.

The test object is never used: its images are excluded by name (`exclude`), and procedural
tiles draw from a seed stream no study object uses. Everything is deterministic for a seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, PositiveFloat, PositiveInt

from ptycho_nl import __version__
from ptycho_nl.config import StrictModel, config_digest
from ptycho_nl.data.npz import save_npz
from ptycho_nl.data.types import PtychoData
from ptycho_nl.provenance import git_sha
from ptycho_nl.simulate.config import ObjectConfig, ProbeConfig, ScanConfig
from ptycho_nl.simulate.dataset import noiseless
from ptycho_nl.simulate.objects import normalise, procedural_field
from ptycho_nl.simulate.probes import make_probe, probe_diameter
from ptycho_nl.simulate.scans import SCAN_MARGIN, make_scan, min_object_shape

# Bundled with scikit-image (no download), at least 256 px on each side, not binary.
SUITABLE_IMAGES = (
    "astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee", "coins",
    "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "retina", "rocket",
    "shepp_logan_phantom",
)  # fmt: skip
PROCEDURAL = "procedural"
TILE_SEED_STREAM = 7919  # procedural tiles' seed stream: no study object draws from it


class TrainingSetConfig(StrictModel):
    """Everything that determines a many-object training set (its digest goes in the file)."""

    n_objects: PositiveInt = Field(16, description="Tiles (objects) on the mosaic.")
    procedural_fraction: float = Field(
        0.25, ge=0.0, le=1.0, description="Share of tiles whose amplitude and phase are textures."
    )
    images: list[str] = Field(default_factory=lambda: list(SUITABLE_IMAGES))
    exclude: list[str] = Field(
        default_factory=list, description="Image names never used (the test object's)."
    )
    tile_size: PositiveInt = Field(96, description="Object side per tile, pixels.")
    object: ObjectConfig = Field(default_factory=lambda: ObjectConfig(kind="procedural"))
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    scan: ScanConfig = Field(default_factory=lambda: ScanConfig(view="dense", jitter=0.5))
    dose: PositiveFloat = 1e4
    seed: int = Field(0, ge=0)


def _source(name: str) -> np.ndarray:
    """A scikit-image picture as a float image in [0, 1] (colour averaged to grey)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3].mean(-1)
    return normalise(image)


def _crop(image: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (at least half the image's short side) resized to side x side."""
    from skimage.transform import resize

    short = min(image.shape)
    size = int(rng.integers(max(side, short // 2), short + 1))
    r = int(rng.integers(0, image.shape[0] - size + 1))
    c = int(rng.integers(0, image.shape[1] - size + 1))
    return resize(image[r : r + size, c : c + size], (side, side), order=1, anti_aliasing=True)


def _transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 symmetries of the square."""
    image = np.rot90(image, k=int(rng.integers(0, 4)))
    return np.ascontiguousarray(image[:, ::-1] if rng.integers(0, 2) else image)


def tile_sources(config: TrainingSetConfig) -> list[tuple[str, str]]:
    """(amplitude source, phase source) per tile: image names or 'procedural'."""
    rng = np.random.default_rng([config.seed, 1])
    names = [n for n in config.images if n not in set(config.exclude)]
    unknown = sorted(set(config.images) - set(SUITABLE_IMAGES))
    if unknown:
        raise ValueError(f"images {unknown} are not bundled scikit-image pictures")
    if not names and config.procedural_fraction < 1.0:
        raise ValueError("every image is excluded: set procedural_fraction to 1 or allow one")
    out = []
    for _ in range(config.n_objects):
        if not names or rng.random() < config.procedural_fraction:
            out.append((PROCEDURAL, PROCEDURAL))
        else:
            a, p = rng.choice(len(names), size=2, replace=len(names) < 2)
            out.append((names[a], names[p]))
    return out


def make_tiles(config: TrainingSetConfig) -> torch.Tensor:
    """(T, tile, tile) complex64 objects in the configured amplitude and phase ranges."""
    side, obj = config.tile_size, config.object
    rng = np.random.default_rng([config.seed, 2])
    cache: dict[str, np.ndarray] = {}
    tiles = []
    for t, pair in enumerate(tile_sources(config)):
        fields = []
        for k, name in enumerate(pair):
            if name == PROCEDURAL:
                tile_rng = np.random.default_rng([config.seed, TILE_SEED_STREAM, t, k])
                fields.append(procedural_field((side, side), obj.feature_size, tile_rng))
            else:
                image = cache.setdefault(name, _source(name))
                fields.append(normalise(_transform(_crop(image, side, rng), rng)))
        amplitude = obj.amplitude_min + (1.0 - obj.amplitude_min) * fields[0]
        phase = obj.max_phase * (2.0 * fields[1] - 1.0)
        tiles.append(torch.polar(torch.from_numpy(amplitude), torch.from_numpy(phase)))
    return torch.stack(tiles).to(torch.complex64)


def tile_raster(config: TrainingSetConfig, diameter: float) -> ScanConfig:
    """The largest square raster of `config.scan`'s overlap whose patches fit one tile."""
    n, step = config.probe.size, (1.0 - config.scan.target_overlap) * diameter
    per_side = max(2, int((config.tile_size - n - 2 * SCAN_MARGIN - 2) / step) + 1)
    while per_side >= 2:
        scan = config.scan.model_copy(update={"n_positions": per_side**2, "columns": per_side})
        trial = make_scan(scan, diameter=diameter, patch_size=n, seed=0)
        if max(min_object_shape(trial, n)) + 4 * config.scan.jitter <= config.tile_size:
            return scan
        per_side -= 1
    raise ValueError(
        f"tile_size {config.tile_size} is too small for {n}-pixel patches at overlap "
        f"{config.scan.target_overlap}: no 2 x 2 raster fits"
    )


def place_tiles(tiles: torch.Tensor, patch_size: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Tiles (T, S, S) in rows on one mosaic of ones, two patches apart (so no pattern sees two
    tiles and no neighbour group spans two); returns the mosaic and each tile's top-left
    (row, col)."""
    side = tiles.shape[-1]
    gap = 2 * patch_size
    pitch = side + gap
    per_row = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / per_row)
    mosaic = torch.ones((rows * pitch, per_row * pitch), dtype=torch.complex64)
    origins = []
    for t, tile in enumerate(tiles):
        r0, c0 = (t // per_row) * pitch + gap // 2, (t % per_row) * pitch + gap // 2
        mosaic[r0 : r0 + side, c0 : c0 + side] = tile
        origins.append((r0, c0))
    return mosaic, origins


def build_training_set(config: TrainingSetConfig) -> PtychoData:
    """The mosaic of `make_tiles`, each tile scanned with `config.scan`, Poisson noise at the
    dose with one intensity scale for all tiles (so the transmission is kept across them)."""
    n = config.probe.size
    probe = make_probe(config.probe)
    diameter = probe_diameter(probe)
    tile_scan = tile_raster(config, diameter)
    mosaic, origins = place_tiles(make_tiles(config), n)
    positions = []
    for t, origin in enumerate(origins):
        scan = make_scan(tile_scan, diameter=diameter, patch_size=n, seed=config.seed * 997 + t)
        positions.append(scan + torch.tensor(origin, dtype=torch.float64))
    positions = torch.cat(positions)
    return scanned_data(
        mosaic,
        probe,
        positions,
        config.dose,
        seed=config.seed,
        metadata={
            "generator": "ptycho_nl.simulate.training_set",
            "version": __version__,
            "git_sha": git_sha(),
            "config": config.model_dump(mode="json"),
            "config_digest": config_digest(config),
            "seeds": {"seed": config.seed},
            "overlap_requested": config.scan.target_overlap,
            "view": config.scan.view,
            "tiles": [list(p) for p in tile_sources(config)],
            "diffraction_kind": "amplitude",
            "probe_diameter": diameter,
            "split": "train",
        },
    )


def scanned_data(
    mosaic: torch.Tensor,
    probe: torch.Tensor,
    positions: torch.Tensor,
    dose: float,
    *,
    seed: int,
    metadata: dict,
) -> PtychoData:
    """`mosaic` scanned at `positions` (B, 2) centres with `probe`: noiseless patches and
    Poisson amplitudes at `dose` photons per pattern, one intensity scale for every pattern
    (the generator seeded with `seed`)."""
    from ptycho_nl import physics

    patches, intensities = noiseless(mosaic, probe, positions)
    generator = torch.Generator().manual_seed(seed)
    scale = physics.photon_scale(intensities, dose)
    return PtychoData(
        diffraction=physics.poisson_amplitude(intensities, scale, generator=generator).numpy(),
        probe=probe.numpy(),
        xcoords=positions[:, 1].numpy().copy(),
        ycoords=positions[:, 0].numpy().copy(),
        object=mosaic.numpy(),
        patches=patches.numpy(),
        scan_index=np.arange(len(positions), dtype=np.int64),
        intensity_scale=scale,
        dose=float(dose),
        metadata=metadata,
    )


def write_training_set(config: TrainingSetConfig, out: str | Path) -> Path:
    """`build_training_set` written as one contract NPZ, atomically."""
    return save_npz(build_training_set(config), out)
