"""The shard set's index (`shards.json`) as records, and the checks that make a set readable.

A shard set is a directory of contract NPZ files `shard-0000.npz ...`, each holding a range of
one scan's patterns, and the index `shards.json` naming each shard's file, pattern range and
SHA-256 (specs/data_contracts.md §8). `ptycho_nl.simulate.shards` writes sets; the bridge
(`data/bridge.py`) reads one as a single dataset after `shard_problems` finds nothing wrong.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ptycho_nl.compute import ComputeRecord
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import sha256_file

INDEX_NAME = "shards.json"
INDEX_FORMAT = 1
SECTION = "[specs/data_contracts.md §8]"
REGENERATE = "rerun `ptycho-nl simulate --shards K` with the same config and --out to regenerate it"


class ShardEntry(BaseModel):
    """One shard: its file (relative to the set), its pattern range and, once written, hash."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    file: str
    start: int = Field(ge=0)
    stop: int = Field(ge=0)
    sha256: str | None = Field(None, description="None until the shard has been written.")
    compute: ComputeRecord | None = None


class PilotRecord(BaseModel):
    """The pilot a shard set was scaled from: its QC record and how the configs differ."""

    model_config = ConfigDict(extra="forbid")

    qc_record: str
    qc_record_sha256: str
    data_sha256: str
    verdict: str
    failed_items: list[str] = []
    config_digest: str | None = None
    differences: list[str] = Field(
        [], description="Config fields that differ from the pilot's besides size and seed."
    )


class ShardIndex(BaseModel):
    """`shards.json`: everything needed to read, check and resume a shard set."""

    model_config = ConfigDict(extra="forbid")

    format: int = INDEX_FORMAT
    generator: str = "ptycho_nl.simulate.shards"
    version: str
    git_sha: str | None = None
    config: dict
    config_digest: str
    n_patterns: int
    n_shards: int
    intensity_scale: float
    dose: float
    shards: list[ShardEntry]
    pilot: PilotRecord | None = None
    overrides: list[str] = Field([], description="What --force let through, one line each.")

    @property
    def complete(self) -> bool:
        return all(entry.sha256 is not None for entry in self.shards)


def index_path(path: str | Path) -> Path | None:
    """`shards.json` of a shard set given as its directory or its index file, else None."""
    path = Path(path)
    if path.is_dir() and (path / INDEX_NAME).is_file():
        return path / INDEX_NAME
    if path.name == INDEX_NAME and path.is_file():
        return path
    return None


def read_index(directory: str | Path) -> ShardIndex | None:
    """The index in `directory`, or None when there is none; an unreadable one raises
    ContractError naming the file."""
    path = Path(directory) / INDEX_NAME
    if not path.is_file():
        return None
    try:
        return ShardIndex.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
        problem = f"{path}: not a valid shard index ({reason}) {SECTION}"
        raise ContractError(str(path), [problem]) from None


def intact(directory: Path, entry: ShardEntry) -> bool:
    """The shard's file exists and has the hash its index recorded."""
    path = directory / entry.file
    return entry.sha256 is not None and path.is_file() and sha256_file(path) == entry.sha256


def shard_problems(directory: Path, index: ShardIndex) -> list[str]:
    """One line per shard that is unwritten, missing or not the file the index hashed, and
    for pattern ranges that do not tile 0..n_patterns."""
    where = directory / INDEX_NAME
    problems = []
    expected_start = 0
    for entry in index.shards:
        label = f"{where}: shard {entry.index} ({entry.file})"
        if entry.start != expected_start or entry.stop < entry.start:
            problems.append(
                f"{label}: expected patterns from {expected_start}, found "
                f"[{entry.start}, {entry.stop}) {SECTION}"
            )
        expected_start = entry.stop
        path = directory / entry.file
        if entry.sha256 is None:
            problems.append(f"{label}: not written (generation interrupted); {REGENERATE}")
        elif not path.is_file():
            problems.append(f"{label}: file missing; {REGENERATE}")
        elif (found := sha256_file(path)) != entry.sha256:
            problems.append(
                f"{label}: expected sha256 {entry.sha256[:16]}, found {found[:16]} (corrupted "
                f"or replaced); {REGENERATE}"
            )
    if expected_start != index.n_patterns:
        problems.append(
            f"{where}: expected shard ranges covering {index.n_patterns} patterns, found "
            f"{expected_start} {SECTION}"
        )
    return problems


def checked_index(path: str | Path) -> tuple[Path, ShardIndex]:
    """(directory, index) of a complete, intact shard set, or ContractError listing why not."""
    found = index_path(path)
    if found is None:
        raise ContractError(str(path), [f"{path}: no {INDEX_NAME}: not a shard set {SECTION}"])
    directory = found.parent
    index = read_index(directory)
    assert index is not None  # index_path found the file
    problems = shard_problems(directory, index)
    if problems:
        raise ContractError(str(found), problems)
    return directory, index
