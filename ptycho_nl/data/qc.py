"""The data QC record (`qc.json`): what the data gate found, bound to the data's SHA-256.

`tools gate data PATH` (`ptycho_nl.gates.data_qc`) writes the record next to the data:
`<stem>.qc.json` beside an NPZ file, `qc.json` inside a directory (a `--split` pair, a shard
set, a study's data directory). The record carries the hash of every file it judged and its
own hash (`record_sha256`, over the rest of the record), so a consumer can tell a record of
other data, or one edited afterwards, from a valid one. Training and the study refuse data
whose record is missing, failed or does not match (`require_passed`); specs/gates.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ptycho_nl.config import canonical_json
from ptycho_nl.data.shardset import INDEX_NAME
from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write_text, sha256_file

RECORD_NAME = "qc.json"
RECORD_FORMAT = 1
DATA_SUFFIXES = (".npz", ".h5", ".hdf5", ".cxi")
Kind = Literal["file", "shard_set", "directory"]
RERUN = "run `tools gate data {path}`"


class QcError(PtychoError):
    """Data without a valid, passing QC record (one line naming the data and the record)."""


class QcItem(BaseModel):
    """One item of the data gate as recorded (the fields of a gate report's item)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    verdict: Literal["pass", "fail", "not_measured"]
    measured: Any = None
    threshold: Any = None
    evidence: str = ""
    mandatory: bool = True
    note: str = ""


class QcRecord(BaseModel):
    """`qc.json`: the data gate's verdict on one dataset, a shard set or a directory."""

    model_config = ConfigDict(extra="forbid")

    format: int = RECORD_FORMAT
    gate: str = "data"
    target: str
    kind: Kind
    files: dict[str, str] = Field(description="Path relative to the record -> SHA-256.")
    data_sha256: str = Field(description="The file's SHA-256, or that of `files` (canonical).")
    passed: bool
    failing: list[str] = Field([], description="Items that did not pass (mandatory ones).")
    items: list[QcItem]
    definition: str = ""
    definition_sha256: str | None = None
    config: dict[str, Any] | None = Field(None, description="The simulation config, if any.")
    config_digest: str | None = None
    created_utc: str
    record_sha256: str = ""

    def content_sha256(self) -> str:
        """SHA-256 of the canonical JSON of every field but `record_sha256`."""
        body = self.model_dump(mode="json", exclude={"record_sha256"})
        return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()

    def sealed(self) -> QcRecord:
        return self.model_copy(update={"record_sha256": self.content_sha256()})


def record_path(path: str | Path) -> Path:
    """Where the record of `path` lives: `<stem>.qc.json` beside a file, `qc.json` inside a
    directory (a shard set's index given as the file stands for its directory)."""
    path = Path(path)
    if path.name == INDEX_NAME:
        path = path.parent
    if path.is_dir():
        return path / RECORD_NAME
    return path.with_name(f"{path.stem}.qc.json")


def fingerprint(path: str | Path) -> tuple[Kind, dict[str, str], str]:
    """(kind, files relative to the record -> SHA-256, data SHA-256) of a QC target."""
    path = Path(path)
    if path.name == INDEX_NAME:
        path = path.parent
    if path.is_file():
        digest = sha256_file(path)
        return "file", {path.name: digest}, digest
    if not path.is_dir():
        raise QcError(f"{path}: not found: expected a data file, a shard set or a directory")
    kind: Kind = "shard_set" if (path / INDEX_NAME).is_file() else "directory"
    names = [INDEX_NAME] if kind == "shard_set" else []
    names += sorted(
        str(p.relative_to(path))
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and not any(part.endswith(".ptycho-cache") for part in p.relative_to(path).parts)
    )
    if len(names) == (1 if kind == "shard_set" else 0):
        raise QcError(f"{path}: no data files (.npz, .h5, .hdf5, .cxi) in the directory")
    files = {name: sha256_file(path / name) for name in names}
    return kind, files, hashlib.sha256(canonical_json(files).encode("utf-8")).hexdigest()


def write_record(record: QcRecord, path: Path) -> Path:
    return atomic_write_text(path, record.sealed().model_dump_json(indent=2) + "\n")


def read_record(path: str | Path) -> QcRecord:
    """A QC record whose own hash checks out, or QcError naming the file."""
    path = Path(path)
    try:
        record = QcRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QcError(f"{path}: QC record not found") from None
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise QcError(f"{path}: not a valid QC record ({reason})") from None
    if record.record_sha256 != record.content_sha256():
        raise QcError(
            f"{path}: QC record changed after it was written: expected record_sha256 "
            f"{record.content_sha256()[:16]}, found {record.record_sha256[:16]}"
        )
    return record


def _candidates(data: Path) -> list[tuple[Path, str]]:
    """(record, this data's name in the record's `files`) from the closest record outward."""
    if data.name == INDEX_NAME:
        data = data.parent
    if data.is_dir():
        return [(data / RECORD_NAME, "")]
    parent, grand = data.parent, data.parent.parent
    return [
        (record_path(data), data.name),
        (parent / RECORD_NAME, data.name),
        (grand / RECORD_NAME, f"{parent.name}/{data.name}"),
    ]


def require_passed(data_path: str | Path) -> tuple[Path, QcRecord]:
    """The passing QC record that covers `data_path` and matches its bytes, else QcError:
    no record, a failed one, or one of other data (hash mismatch)."""
    data = Path(data_path)
    if not data.exists():
        raise QcError(f"{data}: file not found [specs/data_contracts.md §1]")
    tried = []
    for path, name in _candidates(data):
        tried.append(str(path))
        if not path.is_file():
            continue
        record = read_record(path)
        if name and name not in record.files:
            continue  # a directory record that does not cover this file
        if name:
            found, expected = sha256_file(data), record.files[name]
        else:
            found, expected = fingerprint(data)[2], record.data_sha256
        if found != expected:
            raise QcError(
                f"{data}: QC record {path} is of other data: expected sha256 {expected[:16]}, "
                f"found {found[:16]}; {RERUN.format(path=data)}"
            )
        if not record.passed:
            raise QcError(
                f"{data}: QC record {path} failed (items: {', '.join(record.failing)}); fix the "
                "data or pass --skip-qc (recorded in the manifest)"
            )
        return path, record
    raise QcError(
        f"{data}: no QC record (looked for {', '.join(tried)}); {RERUN.format(path=data)} "
        "first, or pass --skip-qc (recorded in the manifest)"
    )
