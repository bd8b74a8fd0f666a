"""The memory-mapped dataset bridge: validate once, cache as `.npy`, serve torch tensors.

Cache layout (next to the data, or under `cache_dir`):

    <stem>.ptycho-cache/<sha256[:16]>/<key>.npy   one array per contract key, written atomically
    <stem>.ptycho-cache/<sha256[:16]>/manifest.json  written last: sha256, arrays, scalars

The directory is keyed by the source file's SHA-256, so a changed file gets a new cache and is
never served stale; a cache whose manifest exists was validated when it was written. A shard
set (`data/shardset.py`) is cached the same way, as one dataset, keyed by its index's SHA-256.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from ptycho_nl.data.contract import CONTRACT_BY_KEY
from ptycho_nl.data.grouping import group_neighbours
from ptycho_nl.data.hdf5 import load_hdf5
from ptycho_nl.data.npz import arrays_to_data, data_to_arrays, load_npz
from ptycho_nl.data.shardset import ShardIndex, checked_index, index_path
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import atomic_write, atomic_write_json, sha256_file

HDF5_SUFFIXES = (".h5", ".hdf5", ".cxi")
CACHE_FORMAT = 1
ARRAY_KEYS = ("diffraction", "probeGuess", "xcoords", "ycoords", "objectGuess", "Y", "scan_index")


class CachedArray(BaseModel):
    file: str
    shape: list[int]
    dtype: str


class CacheManifest(BaseModel):
    """`manifest.json` of one cache directory."""

    format: int = CACHE_FORMAT
    source: str
    sha256: str
    arrays: dict[str, CachedArray]
    intensity_scale: float | None = None
    dose: float | None = None
    metadata: dict[str, Any] = {}


def load_any(path: str | Path) -> PtychoData:
    """Read NPZ or HDF5 (.h5/.hdf5/.cxi) by suffix into validated PtychoData."""
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return load_hdf5(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path, mmap=True)
    raise ContractError(
        str(path),
        [
            f"{path}: file type: expected .npz, .h5, .hdf5 or .cxi, found '{path.suffix}' "
            "[specs/data_contracts.md §1]"
        ],
    )


def cache_directory(path: Path, sha256: str, cache_dir: str | Path | None = None) -> Path:
    base = Path(cache_dir) if cache_dir is not None else path.parent
    return base / f"{path.stem}.ptycho-cache" / sha256[:16]


def _write_cache(data: PtychoData, directory: Path, sha256: str) -> CacheManifest:
    arrays = data_to_arrays(data)
    entries = {}
    for key in ARRAY_KEYS:
        if key not in arrays:
            continue
        value = np.ascontiguousarray(arrays[key])

        def writer(tmp: Path, value: np.ndarray = value) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.save would append ".npy" to tmp
                np.save(fh, value, allow_pickle=False)

        atomic_write(directory / f"{key}.npy", writer)
        entries[key] = CachedArray(
            file=f"{key}.npy", shape=list(value.shape), dtype=str(value.dtype)
        )
    manifest = CacheManifest(
        source=str(data.source),
        sha256=sha256,
        arrays=entries,
        intensity_scale=data.intensity_scale,
        dose=data.dose,
        metadata=data.metadata,
    )
    atomic_write_json(directory / "manifest.json", manifest.model_dump(mode="json"))
    return manifest


def _per_pattern(key: str, value: np.ndarray) -> bool:
    """Whether `key` holds one row per pattern (its contract shape for this rank starts with n)."""
    shapes = [alt.strip() for alt in CONTRACT_BY_KEY[key].shape.split(" or ")]
    dims = [[d for d in s.strip("()").split(",") if d.strip()] for s in shapes]
    return any(d[:1] == ["n"] and len(d) == value.ndim for d in dims)


def _write_shard_cache(
    directory: Path, index: ShardIndex, cache: Path, sha256: str
) -> CacheManifest:
    """Concatenate a shard set into one cache without holding it in memory: each shard is
    read once, its per-pattern rows copied into `.npy` memory maps; shared arrays (probe,
    object) come from shard 0 and must be equal in every shard. The maps are renamed into
    place when full and the manifest is written last, so a crash leaves no trusted cache."""
    first = load_npz(directory / index.shards[0].file, mmap=True)
    arrays0 = data_to_arrays(first)
    keys = [k for k in ARRAY_KEYS if k in arrays0]
    heads = {k: np.asarray(arrays0[k]) for k in keys}
    rows = {k: _per_pattern(k, heads[k]) for k in keys}
    shapes = {
        k: (index.n_patterns, *heads[k].shape[1:]) if rows[k] else heads[k].shape for k in keys
    }
    cache.mkdir(parents=True, exist_ok=True)
    temps = {k: cache / f".{k}.npy.partial" for k in keys}
    maps = {
        k: np.lib.format.open_memmap(temps[k], mode="w+", dtype=heads[k].dtype, shape=shapes[k])
        for k in keys
    }
    try:
        for entry in index.shards:
            part = data_to_arrays(load_npz(directory / entry.file, mmap=True))
            for k in keys:
                n = entry.stop - entry.start if rows[k] else None
                _check_shard_part(directory / entry.file, k, part.get(k), heads[k], n)
                if rows[k]:
                    maps[k][entry.start : entry.stop] = part[k]
                else:
                    maps[k][...] = part[k]
        for k in keys:
            maps[k].flush()
            os.replace(temps[k], cache / f"{k}.npy")
    finally:
        maps.clear()
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    entries = {
        k: CachedArray(file=f"{k}.npy", shape=list(shapes[k]), dtype=str(heads[k].dtype))
        for k in keys
    }
    metadata = {k: v for k, v in first.metadata.items() if k != "shard"}
    metadata["shard_set"] = {"n_shards": index.n_shards, "config_digest": index.config_digest}
    manifest = CacheManifest(
        source=str(directory),
        sha256=sha256,
        arrays=entries,
        intensity_scale=index.intensity_scale,
        dose=index.dose,
        metadata=metadata,
    )
    atomic_write_json(cache / "manifest.json", manifest.model_dump(mode="json"))
    return manifest


def _check_shard_part(path: Path, key: str, part, head: np.ndarray, rows: int | None) -> None:
    """A shard must hold `rows` patterns (its index range) of every key shard 0 has, and the
    same shared arrays (rows None): otherwise it is not part of one scan."""
    if part is None:
        found = "absent"
    elif rows is not None:
        found = None if len(part) == rows else f"{len(part)} patterns, not {rows} (its range)"
    else:
        found = None if np.array_equal(np.asarray(part), head) else "different values"
    if found is not None:
        raise ContractError(
            str(path),
            [
                f"{path}: key '{key}': expected the shard's part of one scan (as shard 0), "
                f"found {found} [specs/data_contracts.md §8]"
            ],
        )


def _read_cache(directory: Path, sha256: str) -> CacheManifest | None:
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = CacheManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # an unreadable manifest is rebuilt, not trusted
    ok = manifest.sha256 == sha256 and manifest.format == CACHE_FORMAT
    return (
        manifest
        if ok and all((directory / a.file).is_file() for a in manifest.arrays.values())
        else None
    )


class MemmapDatasetBridge:
    """A validated dataset file served from a memory-mapped `.npy` cache.

    path : .npz / .h5 / .hdf5 / .cxi, or a shard set (its directory or `shards.json`), read
           as one dataset     gridsize : 1 (single patterns) or g (g^2 neighbours)
    Attributes: `.data` (PtychoData of np.memmap arrays), `.probe` (N, N) complex64 tensor,
    `.intensity_scale` (float, 1.0 when the file has none), `.groups` (G, C) int64,
    `.sha256` of the source file, `.cache_dir` (the directory in use).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        gridsize: int = 1,
        cache_dir: str | Path | None = None,
        seed: int = 0,
    ):
        self.path = Path(path)
        shards = index_path(self.path)
        if shards is None and not self.path.is_file():
            raise ContractError(
                str(self.path), [f"{self.path}: file not found [specs/data_contracts.md §1]"]
            )
        if shards is not None:
            # A shard set: every shard checked against its hash on each open, as a single
            # file is rehashed; the index's hash (it records every shard's) keys the cache.
            directory, index = checked_index(shards)
            self.path = directory
            self.sha256 = sha256_file(shards)
        else:
            self.sha256 = sha256_file(self.path)
        self.cache_dir = cache_directory(self.path, self.sha256, cache_dir)
        manifest = _read_cache(self.cache_dir, self.sha256)
        if manifest is None and shards is not None:
            manifest = _write_shard_cache(directory, index, self.cache_dir, self.sha256)
        elif manifest is None:
            manifest = _write_cache(load_any(self.path), self.cache_dir, self.sha256)
        maps = {
            key: np.load(self.cache_dir / entry.file, mmap_mode="r", allow_pickle=False)
            for key, entry in manifest.arrays.items()
        }
        # The contract's key -> field mapping lives in arrays_to_data; the cache keeps the
        # scalars in its manifest rather than as arrays.
        self.data = dataclasses.replace(
            arrays_to_data(maps, str(self.path)),
            intensity_scale=manifest.intensity_scale,
            dose=manifest.dose,
            metadata=manifest.metadata,
        )
        self.probe = torch.from_numpy(np.array(maps["probeGuess"], dtype=np.complex64))
        scale = manifest.intensity_scale
        self.intensity_scale = float(scale) if scale is not None else 1.0
        self.gridsize = gridsize
        self.groups = group_neighbours(self.data.positions, gridsize, seed)

    def dataset(self, indices: np.ndarray | None = None) -> GroupDataset:
        """A torch Dataset over the groups at `indices` (all groups when None)."""
        groups = self.groups if indices is None else self.groups[np.asarray(indices)]
        return GroupDataset(self.data, groups)


class GroupDataset(torch.utils.data.Dataset):
    """Items are dicts of tensors for one group of C patterns (docs/architecture.md):
    diffraction (C, N, N) float32, positions (C, 2) float64, index (C,) int64 and, when the file
    has `Y`, patches (C, N, N) complex64. Only the rows of one group are read from the maps."""

    def __init__(self, data: PtychoData, groups: np.ndarray):
        self.data = data
        self.groups = np.asarray(groups, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        index = self.groups[i]
        data = self.data
        # Fancy indexing a memmap copies just these rows into a fresh, writable array.
        item = {
            "diffraction": torch.from_numpy(np.asarray(data.diffraction[index])),
            "positions": torch.from_numpy(
                np.stack([data.ycoords[index], data.xcoords[index]], axis=-1).astype(np.float64)
            ),
            "index": torch.from_numpy(index.copy()),
        }
        if data.patches is not None:
            item["patches"] = torch.from_numpy(np.asarray(data.patches[index]))
        return item
