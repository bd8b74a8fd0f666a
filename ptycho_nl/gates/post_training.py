"""The post-training gate: the checklist a finished training run is judged by, item by item.

Each item below is a check on the files the run left (specs/training_outputs.md); the items a
gate uses, mandatory or not, and their thresholds are in specs/gates/post_training.toml.
Checkpoint, metrics-schema, report and environment items: `post_training_files.py`.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ptycho_nl.gates.checks import CheckRegistry, run_gate
from ptycho_nl.gates.definitions import definition_path, load_definition
from ptycho_nl.gates.model import (
    Finding,
    GateDefinition,
    GateReport,
    failed,
    judged,
    not_measured,
    passed,
)
from ptycho_nl.gates.post_training_files import FILE_CHECKS
from ptycho_nl.gates.run_files import RunFiles, finite

LOG_CHECKS = CheckRegistry("post_training")
T = Mapping[str, Any]

_COMPLETE = "Training complete"
_ERROR_LINE = re.compile(r"\b(error|exception|traceback|failed|failure)\b", re.IGNORECASE)


def _log_evidence(run: RunFiles, n: int) -> str:
    return f"{run.rel(run.log_path)}:{n}"


@LOG_CHECKS.item("training_complete")
def training_complete(run: RunFiles, t: T) -> Finding:
    """The training log says "Training complete"."""
    for n, line in enumerate(run.log_lines(), 1):
        if _COMPLETE in line:
            return passed(True, _COMPLETE, _log_evidence(run, n))
    return failed(False, _COMPLETE, run.rel(run.log_path), f"no {_COMPLETE!r} line")


@LOG_CHECKS.item("no_error_lines")
def no_error_lines(run: RunFiles, t: T) -> Finding:
    """No line of the training log reports an error, exception or failure."""
    bad = [n for n, line in enumerate(run.log_lines(), 1) if _ERROR_LINE.search(line)]
    if bad:
        line = run.log_lines()[bad[0] - 1].split(" ", 2)[-1]
        return failed(len(bad), 0, _log_evidence(run, bad[0]), f"first: {line[:120]}")
    return passed(0, 0, run.rel(run.log_path))


def _stopped_early(run: RunFiles, early: object, done: object) -> bool:
    """The manifest's early stop is what the config and the epoch log say happened: patience
    set, the log ending at that epoch, and that many epochs past its lowest val_loss."""
    patience = run.config().get("early_stop_patience", 0)
    epochs = run.epochs()
    if not (isinstance(patience, int) and patience > 0 and early == done == len(epochs)):
        return False
    vals = [e.get("val_loss") for e in epochs]
    if not all(isinstance(v, int | float) for v in vals):
        return False
    best = vals.index(min(vals)) + 1
    return early - best >= patience


@LOG_CHECKS.item("final_epoch_reached")
def final_epoch_reached(run: RunFiles, t: T) -> Finding:
    """The job completed every configured epoch, or early stopping ended it (manifest status
    completed, `metrics.stopped_early_at` its last epoch)."""
    manifest, target = run.manifest(), run.config().get("epochs")
    done, status = manifest.get("epochs_completed"), manifest.get("status")
    early = (manifest.get("metrics") or {}).get("stopped_early_at")
    finished = status in ("completed", "skipped")
    ok = finished and (done == target or (early is not None and _stopped_early(run, early, done)))
    if not ok:
        note = f"manifest status {status}" + (
            f": {manifest['error']}" if manifest.get("error") else ""
        )
    elif early is not None:
        note = f"stopped early after epoch {early} of {target} (early_stop_patience)"
    else:
        note = ""
    return judged(ok, done, target, "manifest.json#epochs_completed", note)


@LOG_CHECKS.item("no_failure_records")
def no_failure_records(run: RunFiles, t: T) -> Finding:
    """The sentinel wrote no failure record (failures/*.jsonl)."""
    records = run.failure_records()
    if records:
        where, first = records[0]
        return failed(len(records), 0, where, f"{first.get('kind')}: {first.get('detail')}")
    return passed(0, 0, "failures/")


def _train_losses(run: RunFiles) -> list[Any]:
    return [e.get("train_loss") for e in run.epochs()]


@LOG_CHECKS.item("losses_finite")
def losses_finite(run: RunFiles, t: T) -> Finding:
    """Every train/val loss in metrics.json and every logged step loss is finite."""
    for e in run.epochs():
        for key in ("train_loss", "val_loss"):
            if not finite(e.get(key)):
                where = f"logs/metrics.json#epochs[num={e.get('num')}].{key}"
                return failed(e.get(key), "finite", where, "non-finite loss")
    for n, event in run.events():
        # the event log stores a non-finite value as null (JSON has no NaN)
        if event.get("kind") == "step" and "loss" in event and not finite(event["loss"]):
            return failed(event["loss"], "finite", f"logs/events.jsonl:{n}", "non-finite step")
    numeric = [(w, r) for w, r in run.failure_records() if str(r.get("kind", "")).startswith("nan")]
    if numeric:
        where, record = numeric[0]
        return failed(record.get("kind"), "finite", where, str(record.get("detail")))
    if not run.epochs():
        return failed(0, ">= 1 epoch", "logs/metrics.json#epochs", "no epoch recorded")
    return passed(True, "finite", "logs/metrics.json#epochs[*].train_loss,val_loss")


@LOG_CHECKS.item("loss_convergence", min_relative_decrease=0.5)
def loss_convergence(run: RunFiles, t: T) -> Finding:
    """Final train loss below the first, by at least `min_relative_decrease` of it."""
    losses = _train_losses(run)
    need = float(t["min_relative_decrease"])
    where = "logs/metrics.json#epochs[0,-1].train_loss"
    if len(losses) < 2 or not all(finite(x) for x in (losses[0], losses[-1])):
        return failed(None, f">= {need:.0%}", where, f"{len(losses)} finite epoch loss(es)")
    first, last = float(losses[0]), float(losses[-1])
    if first <= 0:
        return failed(None, f">= {need:.0%}", where, f"first loss {first:.4g} is not positive")
    decrease = (first - last) / first
    note = f"{first:.4g} -> {last:.4g}"
    return judged(last < first and decrease >= need, round(decrease, 4), need, where, note)


@LOG_CHECKS.item("loss_not_flat", min_relative_range=1e-3)
def loss_not_flat(run: RunFiles, t: T) -> Finding:
    """The train loss moved: (max - min) / |first| at least `min_relative_range`."""
    losses = [float(x) for x in _train_losses(run) if finite(x)]
    need = float(t["min_relative_range"])
    where = "logs/metrics.json#epochs[*].train_loss"
    if len(losses) < 2 or losses[0] == 0:
        return failed(None, need, where, f"{len(losses)} finite epoch loss(es)")
    spread = (max(losses) - min(losses)) / abs(losses[0])
    return judged(spread >= need, float(f"{spread:.4g}"), need, where)


@LOG_CHECKS.item("gpu_utilisation", min_mean_pct=60.0, accept_with_note_pct=40.0)
def gpu_utilisation(run: RunFiles, t: T) -> Finding:
    """Mean `gpu_util_pct` of the step events; not measured (never a pass) without telemetry."""
    need, band = float(t["min_mean_pct"]), float(t["accept_with_note_pct"])
    samples = [(n, e["gpu_util_pct"]) for n, e in run.events() if finite(e.get("gpu_util_pct"))]
    if not samples:
        reasons = [
            e.get("reason") for _, e in run.events() if e.get("kind") == "telemetry_unavailable"
        ]
        why = reasons[0] if reasons else "no gpu_util_pct in logs/events.jsonl (telemetry off)"
        return not_measured(why, need, "logs/events.jsonl")
    mean = sum(v for _, v in samples) / len(samples)
    where = f"logs/events.jsonl:{samples[0][0]}-{samples[-1][0]}#gpu_util_pct"
    if mean >= need:
        return passed(round(mean, 1), need, where, f"{len(samples)} samples")
    if mean >= band:
        return passed(round(mean, 1), need, where, f"accepted with note: in [{band:g}, {need:g})")
    return failed(round(mean, 1), need, where, f"{len(samples)} samples")


@LOG_CHECKS.item("duration_in_range", min_s=0.0, max_s=86400.0)
def duration_in_range(run: RunFiles, t: T) -> Finding:
    """Total epoch time (sum of duration_s) within [min_s, max_s]."""
    times = [e.get("duration_s") for e in run.epochs()]
    where = "logs/metrics.json#epochs[*].duration_s"
    lo, hi = float(t["min_s"]), float(t["max_s"])
    if not times or not all(finite(x) for x in times):
        return failed(None, [lo, hi], where, "missing or non-numeric duration_s")
    total = round(sum(times), 3)
    return judged(lo <= total <= hi, total, [lo, hi], where)


@LOG_CHECKS.item("epoch_time_stability", tolerance=0.2)
def epoch_time_stability(run: RunFiles, t: T) -> Finding:
    """Every epoch's duration_s within +-tolerance of the median epoch."""
    times = [e.get("duration_s") for e in run.epochs()]
    tol = float(t["tolerance"])
    where = "logs/metrics.json#epochs[*].duration_s"
    if not times or not all(finite(x) for x in times):
        return failed(None, f"+-{tol:.0%}", where, "missing or non-numeric duration_s")
    median = statistics.median(times)
    worst = max(abs(x - median) / median for x in times) if median > 0 else 0.0
    off = [i + 1 for i, x in enumerate(times) if median > 0 and abs(x - median) / median > tol]
    note = f"median {median:.4g} s" + (f"; outside: epochs {off}" if off else "")
    return judged(not off, round(worst, 4), tol, where, note)


def default_definition() -> GateDefinition:
    return load_definition(definition_path("post_training"), CHECKS)


def post_training_gate(
    run_dir: str | Path, definition: GateDefinition | None = None, *, skip: tuple[str, ...] = ()
) -> GateReport:
    """Run the post-training gate on `run_dir` (GateError when it is not a run directory).

    skip : items left out (the baseline report runs the gate without its own two items)
    """
    run = RunFiles.open(run_dir)
    definition = definition or default_definition()
    if skip:
        kept = [i for i in definition.items if i.name not in skip]
        definition = definition.model_copy(update={"items": kept})
    return run_gate(definition, CHECKS, run, target_label=str(run.root))


# the gate's registry: the items above, then the file items (order of specs/gates.md)
CHECKS = LOG_CHECKS.merged(FILE_CHECKS, "post_training")
