"""Post-training items on the run's files: checkpoints, the metrics schema, the baseline
report and the environment record (the log and loss items: `post_training.py`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptycho_nl.gates.checks import CheckRegistry
from ptycho_nl.gates.model import Finding, GateError, failed, judged, not_measured, passed
from ptycho_nl.gates.run_files import RunFiles

FILE_CHECKS = CheckRegistry("post_training")
T = Mapping[str, Any]

BASELINE_NAME = "baseline_results.md"
# the sections `ptycho-nl report baseline` writes, in order (specs/gates.md)
REPORT_SECTIONS = (
    "Configuration",
    "Final metrics",
    "Training profile",
    "Checkpoints",
    "Learning curves",
    "Decision",
)
DECISIONS = ("deploy", "optimise", "fix")
DECISION_LINE = re.compile(r"^\*\*Decision: (deploy|optimise|fix)\*\*", re.MULTILINE)


def _checkpoint(run: RunFiles, name: str) -> Finding:
    from ptycho_nl.train.checkpoint import CHECKPOINT_KEYS, load_checkpoint

    path = run.checkpoints / name
    where = run.rel(path)
    if not path.is_file():
        return failed("missing", "loadable", where, "file not found")
    size = path.stat().st_size
    if size == 0:
        return failed("0 bytes", "loadable", where, "empty file")
    try:
        state = load_checkpoint(path)  # torch.load(weights_only=True); keys checked there
    except Exception as exc:  # truncated or foreign file: the message names it
        return failed(f"{size} bytes", "loadable", where, str(exc).replace(str(path), where))
    note = f"epoch {state['epoch']}, {len(CHECKPOINT_KEYS)} keys"
    return passed(f"{size} bytes", "loadable with required keys", where, note)


@FILE_CHECKS.item("best_checkpoint")
def best_checkpoint(run: RunFiles, t: T) -> Finding:
    """checkpoints/best_model.pt exists, is non-empty, loads weights_only with its keys."""
    return _checkpoint(run, "best_model.pt")


@FILE_CHECKS.item("last_checkpoint")
def last_checkpoint(run: RunFiles, t: T) -> Finding:
    """checkpoints/last_model.pt exists, is non-empty, loads weights_only with its keys."""
    return _checkpoint(run, "last_model.pt")


@FILE_CHECKS.item("periodic_checkpoints")
def periodic_checkpoints(run: RunFiles, t: T) -> Finding:
    """checkpoint_epoch_<k>.pt for every completed epoch k that is a multiple of
    checkpoint_every, each loadable."""
    every = run.config().get("checkpoint_every")
    done = len(run.epochs())
    if not isinstance(every, int) or every < 1:
        raise GateError(f"{run.root / 'config.json'}: key checkpoint_every: expected int >= 1")
    due = [k for k in range(every, done + 1, every)]
    if not due:
        return passed(0, 0, "checkpoints/", f"no epoch of {done} is a multiple of {every}")
    bad = []
    for k in due:
        finding = _checkpoint(run, f"checkpoint_epoch_{k}.pt")
        if finding.verdict != "pass":
            bad.append(f"{finding.evidence}: {finding.note}")
    good = len(due) - len(bad)
    return judged(not bad, good, len(due), "checkpoints/checkpoint_epoch_<k>.pt", "; ".join(bad))


class _Epoch(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    num: int = Field(ge=1)
    train_loss: float
    val_loss: float
    duration_s: float = Field(ge=0)
    steps: int = Field(ge=0)
    train_s: float = Field(ge=0)
    samples_per_s: float = Field(ge=0)
    data_wait_fraction: float = Field(ge=0)
    grad_clipped_steps: int = Field(ge=0)
    lr: float = Field(ge=0)


class MetricsFile(BaseModel):
    """The schema of logs/metrics.json (specs/training_outputs.md)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    config_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    epochs: list[_Epoch] = Field(min_length=1)
    best: dict[str, Any]
    environment: dict[str, Any]


@FILE_CHECKS.item("metrics_schema")
def metrics_schema(run: RunFiles, t: T) -> Finding:
    """logs/metrics.json validates against its schema (types, finite numbers, config digest)."""
    raw = run.metrics()
    try:
        MetricsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        found = repr(first.get("input"))[:40]
        return failed(
            f"{exc.error_count()} error(s)",
            "valid",
            f"logs/metrics.json#{key}",
            f"{first['msg']} (found {found})",
        )
    digest = run.config().get("config_digest")
    if raw["config_digest"] != digest:
        return failed(
            raw["config_digest"][:12],
            digest,
            "logs/metrics.json#config_digest",
            "digest differs from config.json",
        )
    return passed("valid", "valid", "logs/metrics.json", f"{len(raw['epochs'])} epoch(s)")


def _report_text(run: RunFiles) -> str:
    path = run.root / BASELINE_NAME
    if not path.is_file():
        raise GateError(f"{path}: missing (write it with `ptycho-nl report baseline {run.root}`)")
    return path.read_text(encoding="utf-8")


@FILE_CHECKS.item("baseline_report")
def baseline_report(run: RunFiles, t: T) -> Finding:
    """baseline_results.md is present with every section."""
    text = _report_text(run)
    heads = set(re.findall(r"^## (.+?)\s*$", text, re.MULTILINE))
    missing = [s for s in REPORT_SECTIONS if s not in heads]
    n = len(REPORT_SECTIONS)
    note = f"missing: {', '.join(missing)}" if missing else ""
    return judged(not missing, n - len(missing), n, BASELINE_NAME, note)


@FILE_CHECKS.item("decision_recorded")
def decision_recorded(run: RunFiles, t: T) -> Finding:
    """baseline_results.md states a decision: deploy, optimise or fix."""
    text = _report_text(run)
    match = DECISION_LINE.search(text)
    if not match:
        return failed(None, "|".join(DECISIONS), BASELINE_NAME, "no '**Decision: ...**' line")
    line = text[: match.start()].count("\n") + 1
    return passed(match.group(1), "|".join(DECISIONS), f"{BASELINE_NAME}:{line}")


# keys of manifest.json `environment`; the CUDA ones only when `cuda` is true
_ENV_KEYS = (
    "python",
    "torch",
    "cuda",
    "deterministic_algorithms",
    "cudnn_deterministic",
    "cudnn_benchmark",
)
_CUDA_KEYS = ("cuda_device", "cuda_memory_gb", "cuda_version")


@FILE_CHECKS.item("environment_recorded")
def environment_recorded(run: RunFiles, t: T) -> Finding:
    """manifest.json records Python, torch, CUDA (GPU model and memory when used) and the
    determinism switches; config.json the seed and the deterministic flag."""
    env = run.manifest().get("environment")
    if not isinstance(env, dict):
        return failed(None, "an object", "manifest.json#environment", "no environment record")
    need = list(_ENV_KEYS) + (list(_CUDA_KEYS) if env.get("cuda") else [])
    missing = [f"environment.{k}" for k in need if k not in env]
    config = run.config()
    missing += [f"config.{k}" for k in ("seed", "deterministic") if k not in config]
    recorded = len(need) + 2 - len(missing)
    note = (
        f"missing: {', '.join(missing)}"
        if missing
        else (f"seed {config['seed']}, deterministic {config['deterministic']}, cuda {env['cuda']}")
    )
    return judged(not missing, recorded, len(need) + 2, "manifest.json#environment", note)


@FILE_CHECKS.item("data_checked")
def data_checked(run: RunFiles, t: T) -> Finding:
    """The run's data passed the data QC gate (manifest `data_qc`); a --skip-qc shows here."""
    qc = run.manifest().get("data_qc")
    if not qc:
        return not_measured(
            "data not checked (library train with qc='off', or a family the gate does not judge)",
            evidence="manifest.json#data_qc",
        )
    if qc.get("status") == "passed":
        return passed("passed", "passed", "manifest.json#data_qc", qc.get("record", ""))
    return failed(
        qc.get("status"),
        "passed",
        "manifest.json#data_qc",
        f"{qc.get('override')}: {qc.get('found')}",
    )
