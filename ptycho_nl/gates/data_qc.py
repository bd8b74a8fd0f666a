"""The data QC gate: `tools gate data PATH` judges an NPZ, a shard set or a directory of data
(a `--split` pair, a study's `data/`) item by item and writes `qc.json` next to it.

Items and thresholds: specs/gates/data.toml; the record: `ptycho_nl.data.qc`. Counts are
recovered from the stored amplitudes as (s A)^2 (specs/data_contracts.md §2), a pattern at a
time in chunks, so a large set is never held in memory as counts. `split_disjoint` applies
where the target holds train/test pairs; on a single dataset it is reported not measured and
does not count towards the verdict (specs/gates.md, "The data gate").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.config import config_digest
from ptycho_nl.data.qc import QcItem, QcRecord, fingerprint, record_path, write_record
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError
from ptycho_nl.gates.checks import CheckRegistry, run_gate, utc_now
from ptycho_nl.gates.definitions import definition_path, load_definition
from ptycho_nl.gates.model import Finding, GateDefinition, GateReport, judged, not_measured
from ptycho_nl.io_utils import sha256_file

CHECKS = CheckRegistry("data")
T = Mapping[str, Any]
CHUNK = 1024  # patterns per counts batch
PROVENANCE = ("config_digest", "seeds", "git_sha")


@dataclass
class PatternStats:
    """Per pattern of one dataset: total photons and brightest pixel (counts)."""

    totals: np.ndarray
    peaks: np.ndarray


@dataclass
class DataTarget:
    """What the gate judges: every dataset under `path` (label = path relative to `root`)."""

    path: Path
    root: Path
    datasets: dict[str, PtychoData] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    _stats: dict[str, PatternStats] = field(default_factory=dict)

    def stats(self, label: str) -> PatternStats:
        if label not in self._stats:
            self._stats[label] = pattern_stats(self.datasets[label])
        return self._stats[label]


def pattern_stats(data: PtychoData) -> PatternStats:
    scale = data.intensity_scale if data.intensity_scale is not None else 1.0
    totals, peaks = [], []
    for start in range(0, data.n_patterns, CHUNK):
        counts = np.square(np.asarray(data.diffraction[start : start + CHUNK], np.float64) * scale)
        totals.append(counts.sum(axis=(1, 2)))
        peaks.append(counts.max(axis=(1, 2)))
    return PatternStats(np.concatenate(totals), np.concatenate(peaks))


def open_target(path: str | Path) -> DataTarget:
    """Load every dataset of `path`; contract problems are collected, not raised."""
    from ptycho_nl.data.bridge import MemmapDatasetBridge, load_any
    from ptycho_nl.data.shardset import INDEX_NAME

    path = Path(path)
    if path.name == INDEX_NAME:
        path = path.parent
    kind, files, _ = fingerprint(path)
    root = path.parent if kind == "file" else path
    target = DataTarget(path=path, root=root)
    if kind == "shard_set":
        loads = {path.name: lambda: MemmapDatasetBridge(path).data}
    else:
        loads = {name: (lambda p=root / name: load_any(p)) for name in files}
    for label, load in loads.items():
        try:
            target.datasets[label] = load()
        except ContractError as exc:
            target.problems += exc.problems or [str(exc)]
    for label in target.datasets:
        if Path(label).name == "train.npz":
            test = str(Path(label).with_name("test.npz"))
            if test in target.datasets:
                target.pairs.append((label, test))
    return target


def _worst(values: dict[str, float]) -> tuple[str, float]:
    label = max(values, key=lambda k: values[k])
    return label, values[label]


@CHECKS.item("contract_valid")
def contract_valid(t: DataTarget, th: T) -> Finding:
    """Every file obeys specs/data_contracts.md (a shard set: every shard, hashes included)."""
    n = len(t.problems)
    note = t.problems[0] if t.problems else ""
    return judged(n == 0, n, 0, str(t.path), note)


def dose_groups(t: DataTarget) -> dict[str, list[str]]:
    """Datasets judged together for dose: a train/test pair is one scan (its regions differ in
    transmission, so each alone may be far from the scan's mean); any other dataset alone."""
    paired = {label for pair in t.pairs for label in pair}
    groups = {
        str(Path(train).parent / "{train,test}.npz"): [train, test] for train, test in t.pairs
    }
    groups.update({label: [label] for label in t.datasets if label not in paired})
    return groups


@CHECKS.item("dose", relative_tolerance=0.05, split_relative_tolerance=0.15)
def dose(t: DataTarget, th: T) -> Finding:
    """Realised mean photons per pattern within a relative tolerance of the requested dose,
    over each scan (a train/test pair together). The dose is the mean of the whole scan: a
    region split that dropped the patterns of its gap holds a region of the object whose
    transmission differs from the scan's mean, so it gets `split_relative_tolerance`."""
    margin, notes = {}, {}
    for name, labels in dose_groups(t).items():
        datasets = [t.datasets[k] for k in labels]
        requested = {d.dose or d.metadata.get("config", {}).get("dose") for d in datasets}
        if (
            len(requested) != 1
            or None in requested
            or any(d.intensity_scale is None for d in datasets)
        ):
            continue
        want = float(requested.pop())
        realised = float(np.concatenate([t.stats(k).totals for k in labels]).mean())
        dropped = any(d.metadata.get("n_dropped_in_gap") for d in datasets)
        tol = float(th["split_relative_tolerance" if dropped else "relative_tolerance"])
        deviation = abs(realised - want) / want
        margin[name] = (deviation / tol, round(deviation, 6), tol)
        notes[name] = f"{name}: {realised:.6g} photons per pattern, requested {want:.6g}" + (
            " (a region split without its gap patterns)" if dropped else ""
        )
    if not margin:
        return not_measured("no dataset records both dose and intensity_scale")
    label = max(margin, key=lambda k: margin[k][0])
    _, deviation, tol = margin[label]
    return judged(deviation <= tol, deviation, tol, f"{label}#dose", notes[label])


@CHECKS.item("empty_patterns", empty_below_photons=1.0, max_fraction=0.0)
def empty_patterns(t: DataTarget, th: T) -> Finding:
    """Share of patterns with fewer photons than `empty_below_photons` at most `max_fraction`."""
    if not t.datasets:
        return not_measured("no readable dataset")
    below = float(th["empty_below_photons"])
    shares = {k: float((t.stats(k).totals < below).mean()) for k in t.datasets}
    label, worst = _worst(shares)
    limit = float(th["max_fraction"])
    return judged(worst <= limit, round(worst, 6), limit, f"{label}#diffraction")


@CHECKS.item("saturated_patterns", detector_limit=65535.0, max_fraction=0.0)
def saturated_patterns(t: DataTarget, th: T) -> Finding:
    """Share of patterns with a pixel at or above the detector limit (counts) at most
    `max_fraction`."""
    if not t.datasets:
        return not_measured("no readable dataset")
    limit_counts = float(th["detector_limit"])
    shares = {k: float((t.stats(k).peaks >= limit_counts).mean()) for k in t.datasets}
    label, worst = _worst(shares)
    peak = max(float(t.stats(k).peaks.max()) for k in t.datasets)
    limit = float(th["max_fraction"])
    note = f"brightest pixel {peak:.6g} counts, detector limit {limit_counts:.6g}"
    return judged(worst <= limit, round(worst, 6), limit, f"{label}#diffraction", note)


def _overlap_range(meta: Mapping[str, Any], th: T) -> tuple[float, float] | None:
    view = meta.get("view")
    if view in ("dense", "sparse"):
        return float(th[f"{view}_min"]), float(th[f"{view}_max"])
    requested = meta.get("overlap_requested")
    if requested is None:
        return None
    tol = float(th["tolerance"])
    return float(requested) - tol, float(requested) + tol


@CHECKS.item(
    "overlap", dense_min=0.6, dense_max=0.85, sparse_min=0.15, sparse_max=0.45, tolerance=0.1
)
def overlap(t: DataTarget, th: T) -> Finding:
    """Measured linear overlap inside the view's range (or the requested overlap +- tolerance)."""
    import torch

    from ptycho_nl.simulate.scans import measure_overlap

    outside, measured, ranges = [], {}, {}
    for label, data in t.datasets.items():
        bounds = _overlap_range(data.metadata, th)
        if bounds is None:
            continue
        value = measure_overlap(data.positions, torch.from_numpy(np.array(data.probe)))
        measured[label], ranges[label] = round(value, 4), [round(b, 4) for b in bounds]
        if not bounds[0] <= value <= bounds[1]:
            outside.append(label)
    if not measured:
        return not_measured("no dataset records its view or requested overlap")
    label = outside[0] if outside else next(iter(measured))
    note = f"outside the range: {', '.join(outside)}" if outside else ""
    return judged(not outside, measured[label], ranges[label], f"{label}#metadata.view", note)


def overlapping_tests(train: PtychoData, test: PtychoData) -> int:
    """Test patterns whose N x N frame shares a pixel with some training pattern's frame."""
    n = train.patch_size
    a = np.floor(np.asarray(train.positions) - n / 2)
    hits = 0
    for start in range(0, test.n_patterns, CHUNK):
        b = np.floor(np.asarray(test.positions[start : start + CHUNK]) - n / 2)
        gap = np.abs(b[:, None, :] - a[None, :, :])
        hits += int(np.any(np.all(gap < n, axis=-1), axis=1).sum())
    return hits


@CHECKS.item("split_disjoint", max_overlapping=0)
def split_disjoint(t: DataTarget, th: T) -> Finding:
    """No test pattern's illuminated frame overlaps a training pattern's (each train/test pair)."""
    if not t.pairs:
        return not_measured("one dataset: no train.npz / test.npz pair to compare")
    counts = {
        test: overlapping_tests(t.datasets[train], t.datasets[test]) for train, test in t.pairs
    }
    label, worst = _worst({k: float(v) for k, v in counts.items()})
    limit = int(th["max_overlapping"])
    note = f"{int(worst)} test patterns of {label} overlap training frames" if worst else ""
    return judged(worst <= limit, int(worst), limit, f"{label}#xcoords", note)


@CHECKS.item("provenance")
def provenance(t: DataTarget, th: T) -> Finding:
    """Every dataset's metadata records its config digest, seeds and git SHA."""
    if not t.datasets:
        return not_measured("no readable dataset")
    missing = {
        label: [k for k in PROVENANCE if data.metadata.get(k) in (None, "", {})]
        for label, data in t.datasets.items()
    }
    bad = {k: v for k, v in missing.items() if v}
    label = next(iter(bad), next(iter(t.datasets)))
    note = f"{label} lacks {', '.join(bad[label])}" if bad else ""
    return judged(not bad, bad.get(label, []), list(PROVENANCE), f"{label}#metadata", note)


def default_definition() -> GateDefinition:
    return load_definition(definition_path("data"), CHECKS)


def _judge(path: str | Path, definition: GateDefinition | None) -> tuple[GateReport, DataTarget]:
    target = open_target(path)
    report = run_gate(definition or default_definition(), CHECKS, target, target_label=str(path))
    if not target.pairs:
        items = [
            i.model_copy(update={"mandatory": False}) if i.name == "split_disjoint" else i
            for i in report.items
        ]
        passed = all(i.verdict == "pass" for i in items if i.mandatory)
        report = report.model_copy(update={"items": items, "passed": passed})
    return report, target


def data_gate(path: str | Path, definition: GateDefinition | None = None) -> GateReport:
    """Run the data gate on `path` (nothing written). On a target without train/test pairs
    `split_disjoint` is reported but not counted."""
    return _judge(path, definition)[0]


def _config_of(target: DataTarget) -> dict[str, Any] | None:
    """The simulation config the data came from: a shard set's, or the one every file shares."""
    from ptycho_nl.data.shardset import read_index

    index = read_index(target.path) if target.path.is_dir() else None
    if index is not None:
        return index.config
    configs = [d.metadata.get("config") for d in target.datasets.values()]
    return configs[0] if configs and all(c == configs[0] for c in configs) else None


def qc_record(target: DataTarget, report: GateReport) -> QcRecord:
    """The record of `report` on `target`, bound to the bytes of every file it judged."""
    kind, files, digest = fingerprint(target.path)
    config = _config_of(target)
    definition = Path(report.definition) if report.definition else None
    return QcRecord(
        target=str(target.path),
        kind=kind,
        files=files,
        data_sha256=digest,
        passed=report.passed,
        failing=report.failing(mandatory_only=True),
        items=[
            QcItem(**item.model_dump(include=set(QcItem.model_fields))) for item in report.items
        ],
        definition=report.definition,
        definition_sha256=sha256_file(definition) if definition and definition.is_file() else None,
        config=config,
        config_digest=None if config is None else config_digest(config),
        created_utc=utc_now(),
    )


def run_data_qc(
    path: str | Path, definition: GateDefinition | None = None
) -> tuple[GateReport, Path]:
    """Run the data gate on `path` and write its QC record next to it; (report, record path)."""
    report, target = _judge(path, definition)
    return report, write_record(qc_record(target, report), record_path(path))
