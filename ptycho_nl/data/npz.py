"""NPZ read/write for the data contract (`specs/data_contracts.md`).

Reading never unpickles (`allow_pickle=False`) and reports every contract problem at once as a
`ContractError`. Writing is atomic and byte-deterministic: members are stored uncompressed in a
fixed order with a fixed zip timestamp, so the same arrays always give the same SHA-256 (numpy's
own `np.savez` stamps the current time into the archive).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.data.contract import CONTRACT, normalise_legacy, validate_arrays
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import atomic_write

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ContractWarning(UserWarning):
    """A file was accepted after a legacy conversion (`specs/data_contracts.md` §4)."""


def write_npz_deterministic(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Atomically write `arrays` (key -> array, written in the given order) as an NPZ file."""

    def writer(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED) as archive:
            for key, value in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)

    return atomic_write(path, writer)


def read_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """All members of an NPZ file as arrays; a file that is not a readable NPZ -> ContractError."""
    path = Path(path)
    if not path.is_file():
        raise ContractError(str(path), [f"{path}: file not found [specs/data_contracts.md §1]"])
    try:
        # Our own handle: np.load leaks its file when the zip directory is unreadable.
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head not in (b"PK\x03\x04", b"PK\x05\x06"):
                # Checked here: numpy would try to unpickle it and blame "pickled data".
                raise ValueError(f"not a zip archive: starts with {head!r}")
            fh.seek(0)
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an NPZ archive")
            with archive:
                return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ContractError(
            str(path),
            [f"{path}: not a readable NPZ archive ({reason}) [specs/data_contracts.md §1]"],
        ) from None


def arrays_to_data(arrays: Mapping[str, Any], source: str) -> PtychoData:
    """Contract-valid arrays -> PtychoData (no copies of the big arrays)."""
    scalar = lambda key: float(np.asarray(arrays[key])) if key in arrays else None  # noqa: E731
    metadata = json.loads(str(arrays["metadata"])) if "metadata" in arrays else {}
    return PtychoData(
        diffraction=arrays["diffraction"],
        probe=arrays["probeGuess"],
        xcoords=arrays["xcoords"],
        ycoords=arrays["ycoords"],
        object=arrays.get("objectGuess"),
        patches=arrays.get("Y"),
        scan_index=arrays.get("scan_index"),
        intensity_scale=scalar("intensity_scale"),
        dose=scalar("dose"),
        metadata=metadata,
        source=source,
        mask=arrays.get("mask"),
        background=arrays.get("background"),
    )


def _check(arrays: Mapping[str, Any], source: str) -> tuple[PtychoData, list[str]]:
    arrays, notes = normalise_legacy(arrays, source)
    problems = validate_arrays(arrays, source)
    if problems:
        raise ContractError(source, problems)
    return arrays_to_data(arrays, source), notes


def check_arrays(arrays: Mapping[str, Any], source: str) -> PtychoData:
    """Normalise legacy keys (warning), validate, and build PtychoData or raise ContractError."""
    data, notes = _check(arrays, source)
    for note in notes:
        warnings.warn(note, ContractWarning, stacklevel=2)
    return data


def load_npz(path: str | Path, *, mmap: bool = False) -> PtychoData:
    """Read and validate an NPZ file.

    mmap=True returns the big arrays as read-only memory maps into the (uncompressed) archive
    after validating them, so a large file is not held in memory twice; compressed members are
    read normally. Raises ContractError listing every problem.
    """
    path = Path(path)
    data, notes = _check(read_npz_arrays(path), str(path))
    for note in notes:
        warnings.warn(note, ContractWarning, stacklevel=2)
    if not mmap or notes:
        return data  # converted legacy arrays exist only in memory, not in the archive
    maps = _memmap_members(path)
    big = {"diffraction": "diffraction", "patches": "Y"}
    return replace(
        data,
        **{
            field: maps[key]
            for field, key in big.items()
            if key in maps and getattr(data, field) is not None
        },
    )


def _memmap_members(path: Path) -> dict[str, np.memmap]:
    """Memory maps of the stored (uncompressed) `.npy` members of an NPZ archive."""
    maps: dict[str, np.memmap] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                continue
            fh.seek(info.header_offset)
            local = fh.read(30)
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            major, _ = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject or 0 in shape:
                continue
            maps[info.filename[:-4]] = np.memmap(
                path,
                dtype=dtype,
                mode="r",
                offset=fh.tell(),
                shape=shape,
                order="F" if fortran else "C",
            )
    return maps


def data_to_arrays(data: PtychoData) -> dict[str, Any]:
    """PtychoData -> contract keys in the table's order (optional keys only when present)."""
    values: dict[str, Any] = {
        "diffraction": np.asarray(data.diffraction, dtype=np.float32),
        "probeGuess": np.asarray(data.probe, dtype=np.complex64),
        "xcoords": np.asarray(data.xcoords, dtype=np.float64),
        "ycoords": np.asarray(data.ycoords, dtype=np.float64),
        "objectGuess": None if data.object is None else np.asarray(data.object, np.complex64),
        "Y": None if data.patches is None else np.asarray(data.patches, np.complex64),
        "scan_index": None if data.scan_index is None else np.asarray(data.scan_index, np.int64),
        "intensity_scale": None
        if data.intensity_scale is None
        else np.float64(data.intensity_scale),
        "dose": None if data.dose is None else np.float64(data.dose),
        "metadata": np.array(json.dumps(data.metadata, sort_keys=True, separators=(",", ":")))
        if data.metadata
        else None,
        "mask": None if data.mask is None else np.asarray(data.mask, dtype=bool),
        "background": None
        if data.background is None
        else np.asarray(data.background, dtype=np.float32),
    }
    return {spec.key: values[spec.key] for spec in CONTRACT if values[spec.key] is not None}


def save_npz(data: PtychoData, path: str | Path) -> Path:
    """Validate and atomically write `data` as a contract NPZ file (deterministic bytes)."""
    arrays = data_to_arrays(data)
    problems = validate_arrays(arrays, str(path))
    if problems:
        raise ContractError(str(path), problems)
    return write_npz_deterministic(path, arrays)
