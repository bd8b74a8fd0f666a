"""Pilot -> scale: a shard set is generated only from a pilot whose data QC passed and whose
config differs from the scale config only in size and seed.

`pilot_record(qc_path, config, force=...)` reads the pilot's QC record (`ptycho_nl.data.qc`,
hash-checked), compares the configs and returns the `PilotRecord` for the shard index plus the
overrides `--force` let through; without `force` any reason to refuse is one QcError line that
names the failing items or the differing fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptycho_nl.data.qc import QcError, fingerprint, read_record
from ptycho_nl.data.shardset import PilotRecord
from ptycho_nl.io_utils import sha256_file
from ptycho_nl.simulate.config import SimulationConfig

# What may change between a pilot and its scaled-up set: how much data, and which draw.
SCALE_FIELDS = ("seed", "scan.n_positions", "scan.columns", "object.size")
FORCE = "pass --force to scale anyway (recorded in shards.json)"


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
    return out


def config_differences(pilot: dict[str, Any], scale: dict[str, Any]) -> list[str]:
    """`field: pilot -> scale` for every config field that differs besides size and seed."""
    a, b = _leaves(pilot), _leaves(scale)
    return [
        f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if key not in SCALE_FIELDS and a.get(key) != b.get(key)
    ]


def pilot_record(
    qc_path: str | Path, config: SimulationConfig, *, force: bool = False
) -> tuple[PilotRecord, list[str]]:
    """(the pilot record for the shard index, overrides). Without `force` a failed pilot, a
    pilot without a config, changed pilot data or a config differing beyond size and seed
    raises QcError; with `force` each becomes one override line."""
    qc_path = Path(qc_path)
    record = read_record(qc_path)
    reasons = []
    if not record.passed:
        reasons.append(f"pilot QC failed (items: {', '.join(record.failing)})")
    target = Path(record.target)
    if target.exists() and fingerprint(target)[2] != record.data_sha256:
        reasons.append(f"pilot data {target} changed since its QC record was written")
    if record.config is None:
        differences = ["the pilot's QC record holds no simulation config"]
    else:
        differences = config_differences(record.config, config.model_dump(mode="json"))
    if differences:
        reasons.append(
            "config differs from the pilot's beyond size and seed: " + "; ".join(differences)
        )
    if reasons and not force:
        raise QcError(f"{qc_path}: scaling refused: {' | '.join(reasons)}; {FORCE}")
    pilot = PilotRecord(
        qc_record=str(qc_path),
        qc_record_sha256=sha256_file(qc_path),
        data_sha256=record.data_sha256,
        verdict="pass" if record.passed else "fail",
        failed_items=list(record.failing),
        config_digest=record.config_digest,
        differences=differences,
    )
    return pilot, [f"--force: {reason}" for reason in reasons]
