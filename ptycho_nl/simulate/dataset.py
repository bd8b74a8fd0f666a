"""Simulated datasets: object x probe x scan -> Poisson-noisy diffraction, written as NPZ.

Determinism: every random stream is seeded from `config.seed`, nothing time-dependent is stored,
and files are written byte-deterministically, so the same config gives the same SHA-256 (with
the same library version and git SHA, which the metadata records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ptycho_nl import __version__, operators, physics
from ptycho_nl.config import config_digest
from ptycho_nl.data.npz import save_npz
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ConfigError
from ptycho_nl.provenance import git_sha
from ptycho_nl.simulate.config import SimulationConfig
from ptycho_nl.simulate.objects import make_object
from ptycho_nl.simulate.probes import make_probe, make_probe_modes, mode_shares, probe_diameter
from ptycho_nl.simulate.scans import make_scan, measure_overlap, min_object_shape, split_by_region

CHUNK = 256  # patterns per forward batch (progress granularity, bounded memory)

Progress = Callable[[int, int], None]


def _seed_stream(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint32)[0])


def seeds_for(seed: int) -> dict[str, int]:
    """Independent seeds for the object, scan jitter and photon noise streams."""
    return {
        "seed": seed,
        **{k: _seed_stream(seed, i) for i, k in enumerate(("object", "scan", "noise"))},
    }


def noiseless(obj, probe, positions, progress=None):
    """Ground-truth patches Y (n, N, N) complex64 and noise-free intensities (n, N, N).

    The far field is computed from Y itself (not a second `extract_patches`), so sub-pixel
    shifts cost their FFTs once; intensities equal `physics.forward_intensity(obj, probe,
    positions)`.
    """
    n, size = len(positions), probe.shape[-1]
    modal = probe.dim() == 3  # incoherent modes (K, N, N): a (1, K, N, N) probe factor
    probe = probe[None] if modal else probe
    # fftshift folded into the probe (even N): a stack of far fields is never copied by fftshift.
    checkerboard = operators.centring_checkerboard(size, size)
    folded = checkerboard is not None
    shifted_probe = probe * checkerboard.to(probe.dtype) if folded else probe
    patches = torch.empty((n, size, size), dtype=obj.dtype)
    intensities = torch.empty((n, size, size), dtype=obj.real.dtype)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk = physics.extract_patches(obj, positions[start:stop], size)
        patches[start:stop] = chunk
        if folded:
            farfield = operators.far_field(operators.exit_wave(shifted_probe, chunk), centred=False)
        else:
            farfield = operators.far_field(operators.exit_wave(probe, chunk))
        intensity = physics.intensity(farfield)
        # Incoherent probe modes (K, N, N): the intensity is the sum of the modes' intensities.
        intensities[start:stop] = intensity.sum(-3) if modal else intensity
        if progress is not None:
            progress(stop, n)
    return patches, intensities


def _diffract(obj, probe, positions, dose, seed, progress):
    """Ground-truth patches Y, then Poisson-noisy amplitudes at the requested mean dose.

    Returns (Y (n, N, N) complex64, amplitude (n, N, N) float32, scale s)."""
    patches, intensities = noiseless(obj, probe, positions, progress)
    scale = physics.photon_scale(intensities, dose)
    generator = torch.Generator().manual_seed(seed)
    return patches, physics.poisson_amplitude(intensities, scale, generator=generator), scale


def scene(config: SimulationConfig) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor]:
    """(probe, probe diameter, positions (n, 2), object) of `config`: everything but the noise.
    Deterministic, so every shard of a shard set rebuilds the same scene (`simulate.shards`)."""
    seeds = seeds_for(config.seed)
    n = config.probe.size
    probe = make_probe(config.probe)
    diameter = probe_diameter(probe)
    if config.probe.modes > 1:
        probe = make_probe_modes(config.probe)  # (K, N, N), partially coherent
    positions = make_scan(config.scan, diameter=diameter, patch_size=n, seed=seeds["scan"])
    need = min_object_shape(positions, n)
    size = config.object.size
    if size is not None and (size < need[0] or size < need[1]):
        raise ConfigError(
            f"object.size {size} is too small for the scan: need at least {need[0]}x{need[1]}"
        )
    if size is not None:
        # Centre the scan in the requested object, by whole pixels.
        positions = positions + torch.tensor([(size - need[0]) // 2, (size - need[1]) // 2])
    shape = (size, size) if size is not None else need
    return probe, diameter, positions, make_object(config.object, shape, seed=seeds["object"])


def provenance(config: SimulationConfig, positions, probe, diameter: float) -> dict:
    """The metadata of a simulated file (specs/data_contracts.md §3); no timestamps."""
    return {
        "generator": "ptycho_nl.simulate",
        "version": __version__,
        "git_sha": git_sha(),
        "config": config.model_dump(mode="json"),
        "config_digest": config_digest(config),
        "seeds": seeds_for(config.seed),
        "diffraction_kind": "amplitude",
        "probe_diameter": diameter,
        "overlap_requested": config.scan.target_overlap,
        "overlap_measured": measure_overlap(positions, probe),
        "view": config.scan.view,
        "split": None,
    }


def simulate(config: SimulationConfig, progress: Progress | None = None) -> PtychoData:
    """The whole scan of `config` as an in-memory PtychoData (see `simulate_dataset`)."""
    probe, diameter, positions, obj = scene(config)
    patches, amplitude, scale = _diffract(
        obj, probe, positions, config.dose, seeds_for(config.seed)["noise"], progress
    )
    if probe.dim() == 3:
        # The file's probe is the coherent estimate with the beam's total power (modes are
        # reconstructed from it); the true shares are recorded for scoring.
        probe = make_probe(config.probe)
    metadata = provenance(config, positions, probe, diameter)
    if config.probe.modes > 1:
        metadata["probe_mode_powers"] = mode_shares(config.probe)
    return PtychoData(
        diffraction=amplitude.numpy(),
        probe=probe.numpy(),
        xcoords=positions[:, 1].numpy().copy(),
        ycoords=positions[:, 0].numpy().copy(),
        object=obj.numpy(),
        patches=patches.numpy(),
        scan_index=np.arange(len(positions), dtype=np.int64),
        intensity_scale=scale,
        dose=float(config.dose),
        metadata=metadata,
    )


def simulate_dataset(
    config: SimulationConfig, out: str | Path, *, progress: Progress | None = None
) -> Path:
    """Simulate `config` and write one contract NPZ file atomically; returns its path."""
    return save_npz(simulate(config, progress), out)


def simulate_train_test(
    config: SimulationConfig, out_dir: str | Path, *, progress: Progress | None = None
) -> dict[str, Path]:
    """One object, one scan, split by region into `train.npz` and `test.npz` in `out_dir`.

    Both files share the object, probe and intensity scale; the test region starts one patch
    width to the right of the last training patch (see `split_by_region`).
    """
    data = simulate(config, progress)
    train, test = split_by_region(data.positions, data.patch_size, config.test_fraction)
    out_dir = Path(out_dir)
    paths = {}
    for name, index in (("train", train), ("test", test)):
        part = data.subset(index)
        metadata = {
            **data.metadata,
            "split": name,
            "n_dropped_in_gap": data.n_patterns - len(train) - len(test),
        }
        metadata["overlap_measured"] = measure_overlap(part.positions, torch.from_numpy(data.probe))
        paths[name] = save_npz(replace(part, metadata=metadata), out_dir / f"{name}.npz")
    return paths
