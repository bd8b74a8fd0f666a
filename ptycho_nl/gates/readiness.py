"""Readiness checks that run now: a fresh smoke run judged on the spot (`tools readiness STAGE`).

A stage (`specs/gates/readiness_<stage>.toml`) names which of these checks it needs; `tools`
adds the pytest gates of plans/gates.json (`tools/gates/readiness.py`). Every check states the
command that reproduces it. The smoke runs and their data live in the target's work directory
(`plans/readiness/<stage>/<UTC>/` under `tools`), so the evidence stays readable afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptycho_nl.gates.checks import CheckRegistry
from ptycho_nl.gates.model import Finding, GateError, failed, judged, not_measured, passed
from ptycho_nl.gates.run_files import RunFiles

READINESS_CHECKS = CheckRegistry("readiness")
T = Mapping[str, Any]
SMOKE_EPOCHS = 4  # the tiny preset halves its loss within four epochs


def _smoke_config(**updates: Any):
    from ptycho_nl.train import PRESET_CONFIGS, TrainConfig

    raw = PRESET_CONFIGS["tiny"].model_dump()
    raw.update(epochs=SMOKE_EPOCHS, device="cpu", checkpoint_every=2)
    raw["telemetry"] = {**raw["telemetry"], "log_gpu_stats": True}
    for key, value in updates.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return TrainConfig.model_validate(raw)


@dataclass
class ReadinessTarget:
    """Where the checks work; the smoke data and run are made once, on first use."""

    root: Path
    work_dir: Path
    _smoke: Path | None = field(default=None, repr=False)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def data(self) -> Path:
        path = self.work_dir / "data" / "tiny.npz"
        if not path.is_file():
            from ptycho_nl.simulate import PRESETS, simulate_dataset

            simulate_dataset(PRESETS["tiny"], path)
        return path

    def smoke_run(self) -> Path:
        """A fresh tiny training (4 epochs, GPU telemetry asked for) in `work_dir/smoke`."""
        if self._smoke is None:
            from ptycho_nl.train import train

            run = self.work_dir / "smoke"
            result = train(_smoke_config(), self.data(), run, progress=False)
            if result.status != "completed":
                raise GateError(f"{run}: the smoke run ended {result.status}: {result.error}")
            self._smoke = run
        return self._smoke


@READINESS_CHECKS.item("config_digest_everywhere")
def config_digest_everywhere(target: ReadinessTarget, t: T) -> Finding:
    """Every log line, event, checkpoint and record of a fresh smoke run carries its digest."""
    from ptycho_nl.train.checkpoint import load_checkpoint

    run = RunFiles.open(target.smoke_run())
    digest = run.config()["config_digest"]
    where = target.rel(run.root)
    places: list[tuple[str, str | None]] = []
    for n, line in enumerate(run.log_lines(), 1):
        places.append(
            (
                f"{where}/logs/training.log:{n}",
                digest if f"config_digest={digest}" in line else None,
            )
        )
    for n, event in run.events():
        places.append((f"{where}/logs/events.jsonl:{n}", event.get("config_digest")))
    for path in sorted(run.checkpoints.glob("*.pt")):
        places.append((f"{where}/{run.rel(path)}", load_checkpoint(path)["config_digest"]))
    for name in ("logs/metrics.json", "manifest.json"):
        places.append((f"{where}/{name}", run.json(name).get("config_digest")))
    bad = [p for p, value in places if value != digest]
    note = f"missing or different in {bad[0]}" if bad else f"digest {digest[:12]}..."
    command = f"ptycho-nl train (tiny preset); grep config_digest= {where}/logs/*"
    return judged(not bad, len(places) - len(bad), len(places), where, note, command=command)


@READINESS_CHECKS.item("sentinel_wired")
def sentinel_wired(target: ReadinessTarget, t: T) -> Finding:
    """A tiny run with an exploding learning rate (NaN) exits non-zero with a failure record."""
    run = target.work_dir / "nan_run"
    config = _smoke_config(optimizer={"lr": 1e30}, telemetry={"log_gpu_stats": False})
    config_path = target.work_dir / "nan_config.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.model_dump_json(indent=2), encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "ptycho_nl.train",
        "--config",
        str(config_path),
        "--data",
        str(target.data()),
        "--out",
        str(run),
        "--no-progress",
    ]
    command = " ".join(["python", *argv[1:]])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    records = RunFiles(run).failure_records() if run.is_dir() else []
    kinds = [r.get("kind") for _, r in records]
    ok = proc.returncode != 0 and any(str(k).startswith("nan") for k in kinds)
    evidence = records[0][0] if records else target.rel(run)
    evidence = f"{target.rel(run)}/{evidence}" if records else evidence
    note = f"exit {proc.returncode}, failure records {kinds}"
    return judged(ok, note, "exit != 0 and a nan_* record", evidence, command=command)


@READINESS_CHECKS.item("telemetry_fields")
def telemetry_fields(target: ReadinessTarget, t: T) -> Finding:
    """The smoke run's step events carry gpu_mem_mb/gpu_util_pct, or say why they are absent."""
    run = RunFiles.open(target.smoke_run())
    where = f"{target.rel(run.root)}/logs/events.jsonl"
    steps = [(n, e) for n, e in run.events() if e.get("kind") == "step"]
    with_gpu = [n for n, e in steps if "gpu_mem_mb" in e and "gpu_util_pct" in e]
    reasons = [
        (n, e.get("reason")) for n, e in run.events() if e.get("kind") == "telemetry_unavailable"
    ]
    command = "ptycho-nl train --set telemetry.log_gpu_stats=true; grep gpu_ logs/events.jsonl"
    if steps and len(with_gpu) == len(steps):
        return passed(
            f"{len(with_gpu)} step events",
            "gpu fields on every step",
            f"{where}:{with_gpu[0]}",
            command=command,
        )
    if reasons and reasons[0][1]:
        return passed(
            "absent",
            "present, or absent with the reason",
            f"{where}:{reasons[0][0]}",
            note=f"absent: {reasons[0][1]}",
            command=command,
        )
    return failed(
        f"{len(with_gpu)} of {len(steps)}",
        "present, or absent with the reason",
        where,
        "GPU fields missing and no telemetry_unavailable reason",
        command=command,
    )


@READINESS_CHECKS.item("post_training_gate")
def post_training_gate_check(target: ReadinessTarget, t: T) -> Finding:
    """The post-training gate passes on the smoke run (after its baseline report)."""
    from ptycho_nl.gates.baseline import write_baseline_report
    from ptycho_nl.gates.post_training import post_training_gate
    from ptycho_nl.gates.render import write_report

    run = target.smoke_run()
    write_baseline_report(run)
    report = post_training_gate(run)
    written = write_report(report, run)
    failing = report.failing(mandatory_only=True)
    mandatory = [i for i in report.items if i.mandatory]
    return judged(
        report.passed,
        f"{len(mandatory) - len(failing)} of {len(mandatory)} mandatory",
        "all mandatory items pass",
        target.rel(written["json"]),
        f"not passing: {', '.join(failing)}" if failing else "",
        command=f"tools gate post-training {target.rel(run)}",
    )


@READINESS_CHECKS.item("memory_within_budget", budget_gb=24.0, batch_size=32)
def memory_within_budget(target: ReadinessTarget, t: T) -> Finding:
    """Every registered trainable model's step fits the budget (CUDA when visible, else CPU)."""
    import torch

    from ptycho_nl.gates.memory import trace_all

    device = "cuda" if torch.cuda.is_available() else "cpu"
    budget, batch = float(t["budget_gb"]), int(t["batch_size"])
    traces, skipped = trace_all(batch, device=device, budget_gb=budget, data_path=target.data())
    path = target.work_dir / "memory_trace.json"
    path.write_text(
        json.dumps({"traces": [x.model_dump() for x in traces], "skipped": skipped}, indent=2),
        encoding="utf-8",
    )
    peaks = {x.model: round(x.step.peak / 2**30, 4) for x in traces}
    command = (
        f"ptycho-nl trace-memory --batch-size {batch} --device {device} --budget-gb {budget:g}"
    )
    over = [x.model for x in traces if not x.fits]
    evidence = target.rel(path)
    if over or not traces:
        note = f"over budget: {', '.join(over)}" if over else "no model could be traced"
        return failed(peaks, f"<= {budget:g} GiB", evidence, note, command=command)
    if skipped:
        note = "; ".join(f"{k} not traced: {v}" for k, v in skipped.items())
        return not_measured(note, f"<= {budget:g} GiB", evidence, measured=peaks, command=command)
    return passed(peaks, f"<= {budget:g} GiB at batch {batch}", evidence, command=command)
