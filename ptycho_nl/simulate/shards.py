"""Shard sets: one simulated scan written as K contract NPZ shards plus an index manifest.

Layout of a shard set directory (specs/data_contracts.md §8):

    shards.json          the index (`ShardIndex`): config, pattern ranges, shard hashes, pilot
    shard-0000.npz ...   shard i holds patterns [start_i, stop_i) of the scan, a contract file

Every shard rebuilds the same scene (object, probe, positions) from the config and draws its
own photon noise from (noise seed, shard index), so shards can be generated in any order, in
separate processes, and one lost shard is regenerated alone with the same bytes. All shards
share one intensity scale, fixed before any shard runs (`shard_scale`), so the photon flux is
the same across the set, as in one acquisition. The parent process alone writes `shards.json`,
atomically, after each finished shard: a killed generation leaves intact shards with their
hashes, and a re-run (`write_shard_set`) regenerates only the missing or corrupted ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field

from ptycho_nl import __version__, operators, physics
from ptycho_nl.compute import measure
from ptycho_nl.config import config_digest
from ptycho_nl.data.npz import save_npz
from ptycho_nl.data.shardset import (
    INDEX_NAME,
    PilotRecord,
    ShardEntry,
    ShardIndex,
    intact,
    read_index,
)
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ConfigError, PtychoError
from ptycho_nl.execution import Executor, JobFailure, SerialExecutor
from ptycho_nl.io_utils import atomic_write_text, sha256_file
from ptycho_nl.provenance import git_sha
from ptycho_nl.simulate.config import SimulationConfig
from ptycho_nl.simulate.dataset import noiseless, provenance, scene, seeds_for

CHUNK = 1024  # positions per illumination batch (bounded memory)


class ShardPlan(BaseModel):
    """What a worker needs to generate any shard (picklable): the config, the shard count,
    the set's one intensity scale and the provenance every shard's metadata starts from
    (measured once here, for the whole scan, not per shard)."""

    config: SimulationConfig
    n_shards: int = Field(ge=1)
    intensity_scale: float = Field(gt=0)
    metadata: dict

    def ranges(self) -> list[tuple[int, int]]:
        n, k = self.config.scan.n_positions, self.n_shards
        return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def shard_file(index: int) -> str:
    return f"shard-{index:04d}.npz"


def shard_scale(config: SimulationConfig, probe, positions, obj) -> float:
    """The one intensity scale s of a shard set: s^2 * (mean energy per pattern) = dose.

    The energy of pattern b is sum |P O_b|^2 (Parseval: that of its far field). It is taken
    here as sum_pixels |O|^2 * illumination, the probe intensity placed at each pattern's
    whole-pixel corner: no FFT, so fixing s costs far less than one shard. The sub-pixel part
    of a position is ignored, so the realised mean dose differs from the request by the
    object's variation over a pixel (the data QC gate measures it)."""
    n = config.probe.size
    placement = operators.ScanPlacement(positions, n, tuple(obj.shape), subpixel="round")
    weight = probe.abs().square().to(torch.float32)
    lit = torch.zeros(tuple(obj.shape), dtype=torch.float32)
    for start in range(0, len(positions), CHUNK):
        idx = torch.arange(start, min(start + CHUNK, len(positions)))
        lit += operators.illumination(placement, weight, idx)
    energy = float((lit.to(torch.float64) * obj.abs().square().to(torch.float64)).sum())
    if energy <= 0:
        raise ConfigError("the simulated scan has no illuminated object: no photons to scale")
    return float(np.sqrt(config.dose * len(positions) / energy))


@functools.lru_cache(maxsize=2)
def _scene(config_json: str) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor]:
    """The scene of a config, built once per process: a worker's every shard shares it (it
    is a quarter of a shard's time at 64^2 patterns). Read only: shards copy what they keep."""
    return scene(SimulationConfig.model_validate_json(config_json))


def plan_shards(config: SimulationConfig, n_shards: int, scale: float | None = None) -> ShardPlan:
    """The plan of a shard set; `scale` given (a resumed set's recorded one) is kept."""
    if not 1 <= n_shards <= config.scan.n_positions:
        raise ConfigError(
            f"--shards {n_shards}: expected 1 to {config.scan.n_positions} (the scan's patterns)"
        )
    probe, diameter, positions, obj = _scene(config.model_dump_json())  # shared with shards
    return ShardPlan(
        config=config,
        n_shards=n_shards,
        intensity_scale=scale or shard_scale(config, probe, positions, obj),
        metadata=provenance(config, positions, probe, diameter),
    )


def shard_data(plan: ShardPlan, index: int) -> PtychoData:
    """Shard `index` of `plan` in memory: its patterns, the shared object, probe and scale."""
    config = plan.config
    start, stop = plan.ranges()[index]
    probe, _, positions, obj = _scene(config.model_dump_json())
    patches, intensities = noiseless(obj, probe, positions[start:stop])
    noise_seed = int(
        np.random.SeedSequence([seeds_for(config.seed)["noise"], index]).generate_state(1)[0]
    )
    generator = torch.Generator().manual_seed(noise_seed)
    amplitude = physics.poisson_amplitude(intensities, plan.intensity_scale, generator=generator)
    shard = {"index": index, "count": plan.n_shards, "start": start, "stop": stop}
    metadata = {**plan.metadata, "shard": shard}
    return PtychoData(
        diffraction=amplitude.numpy(),
        probe=probe.numpy().copy(),
        xcoords=positions[start:stop, 1].numpy().copy(),
        ycoords=positions[start:stop, 0].numpy().copy(),
        object=obj.numpy().copy(),
        patches=patches.numpy(),
        scan_index=np.arange(start, stop, dtype=np.int64),
        intensity_scale=plan.intensity_scale,
        dose=float(config.dose),
        metadata=metadata,
    )


def generate_shard(plan: ShardPlan, index: int, out_dir: str | Path) -> ShardEntry:
    """Write shard `index` atomically under `out_dir`; its entry with hash and compute.

    A pure function of (plan, index): an executor maps it over the shards still missing."""
    start, stop = plan.ranges()[index]
    path = Path(out_dir) / shard_file(index)
    with measure("cpu") as meter:
        save_npz(shard_data(plan, index), path)
    return ShardEntry(
        index=index,
        file=path.name,
        start=start,
        stop=stop,
        sha256=sha256_file(path),
        compute=meter.record,
    )


def write_index(directory: Path, index: ShardIndex) -> Path:
    return atomic_write_text(directory / INDEX_NAME, index.model_dump_json(indent=2) + "\n")


def _existing_index(directory: Path, config: SimulationConfig, n_shards: int) -> ShardIndex | None:
    """The index to resume (same config and shard count), or None for a new set; a set of
    another config in the same directory is an error, never overwritten."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: expected a directory for the shard set, found a file")
    digest = config_digest(config)
    existing = read_index(directory)
    if existing is not None and (existing.config_digest != digest or existing.n_shards != n_shards):
        raise ConfigError(
            f"{directory / INDEX_NAME}: holds a shard set of another config "
            f"(digest {existing.config_digest[:12]}, {existing.n_shards} shards; this one "
            f"{digest[:12]}, {n_shards} shards): choose another --out or remove it"
        )
    return existing


def _new_index(plan: ShardPlan, pilot: PilotRecord | None, overrides: list[str]) -> ShardIndex:
    entries = [
        ShardEntry(index=i, file=shard_file(i), start=a, stop=b)
        for i, (a, b) in enumerate(plan.ranges())
    ]
    return ShardIndex(
        version=__version__,
        git_sha=git_sha(),
        config=plan.config.model_dump(mode="json"),
        config_digest=config_digest(plan.config),
        n_patterns=plan.config.scan.n_positions,
        n_shards=plan.n_shards,
        intensity_scale=plan.intensity_scale,
        dose=float(plan.config.dose),
        shards=entries,
        pilot=pilot,
        overrides=overrides,
    )


def write_shard_set(
    config: SimulationConfig,
    out_dir: str | Path,
    n_shards: int,
    *,
    pilot: PilotRecord | None = None,
    overrides: Iterable[str] = (),
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ShardIndex, list[int]]:
    """Generate the shards of `config` that are missing or corrupted; returns (index, the
    shard numbers generated now). Shards run through `executor` (`ptycho_nl.execution`:
    serial in this process when None, a process pool, Dask). A shard whose job fails stays
    unwritten in the index, and the call then raises PtychoError naming it: a re-run
    generates only what is still missing."""
    directory = Path(out_dir)
    existing = _existing_index(directory, config, n_shards)
    # A resumed set keeps its recorded scale and pilot: its shards were made with them.
    plan = plan_shards(config, n_shards, existing.intensity_scale if existing else None)
    index = existing or _new_index(plan, pilot, list(overrides))
    directory.mkdir(parents=True, exist_ok=True)
    todo = [entry.index for entry in index.shards if not intact(directory, entry)]
    for i in todo:
        index.shards[i] = index.shards[i].model_copy(update={"sha256": None, "compute": None})
    write_index(directory, index)
    jobs = [(shard_file(i), (plan, i, str(directory))) for i in todo]
    done, failures = index.n_shards - len(todo), []
    for key, outcome in (executor or SerialExecutor()).run(generate_shard, jobs):
        if isinstance(outcome, JobFailure):
            failures.append(f"{key}: {outcome.error}")
            continue
        index.shards[outcome.index] = outcome
        write_index(directory, index)  # after every shard: a kill loses only running shards
        done += 1
        if progress is not None:
            progress(done, index.n_shards)
    if failures:
        raise PtychoError(
            f"{directory / INDEX_NAME}: {len(failures)} shard(s) failed ({'; '.join(failures)}); "
            "a re-run generates only the shards still missing"
        )
    return index, todo
