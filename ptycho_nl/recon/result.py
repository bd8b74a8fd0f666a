"""The on-disk reconstruction record: `<dir>/object.npy`, `probe.npy`, `coverage.npy`,
`recon.json` (a `ReconRecord`). Every file is written atomically."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write, atomic_write_text

ARRAYS = ("object", "probe", "coverage")
MODEL_IDS = ("epie", "rpie", "lsqml", "pinn", "supervised")


class ReconRecord(BaseModel):
    """recon.json: how a reconstruction was made."""

    method: str = Field(description="Canonical model id: epie, rpie, lsqml, pinn, supervised, ...")
    iterations: int = Field(0, description="Solver passes over the scan (0 for a network).")
    errors: list[float] = Field(default_factory=list, description="Fourier error per iteration.")
    seconds_per_iteration: float | None = None
    total_seconds: float = Field(description="Wall time of the reconstruction itself.")
    source_data: str = Field(description="Path of the NPZ the patterns came from.")
    source_sha256: str = Field(description="SHA-256 of that NPZ file.")
    n_patterns: int
    object_shape: tuple[int, int]
    options: dict[str, Any] = Field(default_factory=dict, description="Solver or bundle options.")
    bundle_sha256: str | None = None
    created_utc: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _save_array(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    atomic_write(path, write)


def save_recon(
    out_dir: str | Path,
    record: ReconRecord,
    *,
    object: np.ndarray,
    probe: np.ndarray,
    coverage: np.ndarray,
) -> Path:
    """Write the arrays then recon.json (last, so its presence means the directory is complete)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _save_array(out / "object.npy", np.asarray(object, dtype=np.complex64))
    _save_array(out / "probe.npy", np.asarray(probe, dtype=np.complex64))
    _save_array(out / "coverage.npy", np.asarray(coverage, dtype=np.float32))
    atomic_write_text(out / "recon.json", record.model_dump_json(indent=2) + "\n")
    return out


def load_recon(recon_dir: str | Path) -> tuple[ReconRecord, dict[str, np.ndarray]]:
    """Read a reconstruction directory; PtychoError naming the missing or invalid file."""
    d = Path(recon_dir)
    meta = d / "recon.json"
    if not meta.is_file():
        raise PtychoError(f"{d}: not a reconstruction directory (recon.json missing)")
    try:
        record = ReconRecord.model_validate(json.loads(meta.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PtychoError(f"{meta}: invalid reconstruction record ({exc})") from None
    arrays = {}
    for name in ARRAYS:
        path = d / f"{name}.npy"
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PtychoError(f"{path}: cannot read array ({exc})") from None
    if arrays["object"].ndim != 2 or arrays["coverage"].shape != arrays["object"].shape:
        raise PtychoError(
            f"{d}: object.npy {arrays['object'].shape} and coverage.npy "
            f"{arrays['coverage'].shape} must be one (H, W) shape"
        )
    return record, arrays
