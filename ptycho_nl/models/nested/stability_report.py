"""The stability journal of nested-learning runs, generated from their records alone.

`stability_report(run_dirs, out_dir)` reads each run's `config.json`, `logs/events.jsonl`,
`failures/*.jsonl` and `manifest.json` (specs/training_outputs.md) and writes, atomically:
`stability.json` (the `StabilityReport` record), `stability.md` (dated, one row per run side by
side: teach scale, clipping, status, the step where the run diverged, clip counts, largest
gradient norms per level, losses) and `stability.png` (loss and memory gradient norm per step).
Nothing in it is typed by hand.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write, atomic_write_text

LEVEL_SUFFIXES = ("_grad_norm", "_grad_max", "_clipped")
STEP_IN_ERROR = re.compile(r"\bat step (\d+)")


class ReportError(PtychoError):
    """A run directory the report cannot read (one line naming the file)."""


class RunStability(BaseModel):
    """What one run's records say about its stability."""

    model_config = ConfigDict(extra="forbid")

    run: str
    model_type: str | None
    teach_scales: list[float]
    clip: bool | None
    max_lr: float | None
    status: str
    diverged_at_step: int | None
    failure: str | None
    steps_logged: int
    last_step: int | None
    outer_clipped_steps: int
    inner_clipped: dict[str, int]
    max_inner_grad_norm: dict[str, float]
    max_grad_norm: float | None
    max_teach_factor: float | None
    first_loss: float | None
    last_loss: float | None
    best_val_loss: float | None


class StabilityReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    created_utc: str
    runs: list[RunStability]


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: not found (not a training run directory?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: unreadable JSON ({exc})") from None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: unreadable JSON lines ({exc})") from None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def read_run(run_dir: Path) -> tuple[RunStability, list[dict[str, Any]]]:
    """The stability record of one run, and its step events (for the plots)."""
    config, manifest = _json(run_dir / "config.json"), _json(run_dir / "manifest.json")
    events = _jsonl(run_dir / "logs" / "events.jsonl") if (run_dir / "logs").is_dir() else []
    failures = [r for f in sorted(run_dir.glob("failures/*.jsonl")) for r in _jsonl(f)]
    steps = [e for e in events if e.get("kind") == "step"]
    nested = config.get("model", {}).get("nested", {})
    levels = sorted(
        {k[: -len(s)] for e in steps for k in e for s in LEVEL_SUFFIXES if k.endswith(s)}
    )
    fatal = [r for r in failures if r.get("kind") != "oom"]
    diverged, failure = None, None
    if fatal:
        diverged, failure = int(fatal[0]["step"]), f"{fatal[0]['kind']}: {fatal[0]['detail']}"
    elif manifest.get("status") == "failed":  # e.g. anomaly mode's non-finite fast weights
        failure = manifest.get("error")
        found = STEP_IN_ERROR.search(failure or "")
        diverged = int(found.group(1)) if found else None
    kind = config.get("model", {}).get("type")
    written = {"attention": 0, "hope": 1 + len(nested.get("cms_periods", []))}.get(kind, 1)
    scales = (nested.get("teach_scales") or [nested.get("teach_scale")] * written)[:written]
    losses = [_number(e.get("loss")) for e in steps]

    def most(key: str) -> float | None:
        values = [v for v in (_number(e.get(key)) for e in steps) if v is not None]
        return max(values) if values else None

    record = RunStability(
        run=str(run_dir),
        model_type=kind,
        teach_scales=[float(s) for s in scales if s is not None],
        clip=nested.get("clip"),
        max_lr=nested.get("max_lr"),
        status=str(manifest.get("status")),
        diverged_at_step=diverged,
        failure=failure,
        steps_logged=len(steps),
        last_step=steps[-1]["step"] if steps else None,
        outer_clipped_steps=sum(1 for e in events if e.get("kind") == "grad_clipped"),
        inner_clipped={
            lv: int(sum(e.get(f"{lv}_clipped", 0) or 0 for e in steps)) for lv in levels
        },
        max_inner_grad_norm={lv: most(f"{lv}_grad_max") or 0.0 for lv in levels},
        max_grad_norm=most("grad_norm"),
        max_teach_factor=most("teach_factor"),
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        best_val_loss=_number(manifest.get("metrics", {}).get("best_val_loss")),
    )
    return record, steps


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return "/".join(_fmt(v) for v in value)
    return str(value)


def render_markdown(report: StabilityReport) -> str:
    """The journal: the date, one table row per run, then each run's failure line."""
    columns = [
        ("run", lambda r: Path(r.run).name),
        ("type", lambda r: r.model_type),
        ("teach scales", lambda r: r.teach_scales),
        ("clip", lambda r: r.clip),
        ("max_lr", lambda r: r.max_lr),
        ("status", lambda r: r.status),
        ("diverged at step", lambda r: r.diverged_at_step),
        ("last logged step", lambda r: r.last_step),
        ("inner clips", lambda r: r.inner_clipped),
        ("max inner grad", lambda r: r.max_inner_grad_norm),
        ("max grad norm", lambda r: r.max_grad_norm),
        ("outer clipped steps", lambda r: r.outer_clipped_steps),
        ("loss first/last", lambda r: [r.first_loss, r.last_loss]),
        ("best val loss", lambda r: r.best_val_loss),
    ]
    lines = [
        f"# Stability journal ({report.created_utc})",
        "",
        "Generated by `ptycho-nl report stability` from the runs' records (config.json, "
        "logs/events.jsonl, failures/, manifest.json); nothing here is typed by hand.",
        "",
        "| " + " | ".join(name for name, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for run in report.runs:
        lines.append("| " + " | ".join(_fmt(get(run)) for _, get in columns) + " |")
    failed = [r for r in report.runs if r.failure]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- `{Path(r.run).name}`: {r.failure}" for r in failed]
    return "\n".join(lines) + "\n"


def _plot(runs: list[tuple[RunStability, list[dict[str, Any]]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, grad_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for record, steps in runs:
        label = Path(record.run).name
        xs = [e["step"] for e in steps]
        loss_ax.plot(xs, [e.get("loss") for e in steps], label=label)
        grad_ax.plot(xs, [e.get("memory_grad_max") for e in steps], label=label)
        if record.diverged_at_step is not None:
            loss_ax.axvline(record.diverged_at_step, linestyle=":", color="k")
    loss_ax.set(xlabel="step", ylabel="training loss", title="loss (dotted: divergence)")
    grad_ax.set(xlabel="step", ylabel="largest per-token inner gradient", title="memory")
    grad_ax.set_yscale("log")
    loss_ax.legend(fontsize=7)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png", dpi=100, bbox_inches="tight")

    try:
        return atomic_write(path, write)
    finally:
        plt.close(fig)


def stability_report(run_dirs: list[Path], out_dir: Path) -> dict[str, Path]:
    """Write stability.json, stability.md and stability.png for `run_dirs` into `out_dir`."""
    if not run_dirs:
        raise ReportError("no run directories given")
    runs = [read_run(Path(d)) for d in run_dirs]
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = StabilityReport(created_utc=created, runs=[r for r, _ in runs])
    out_dir = Path(out_dir)
    paths = {
        "json": atomic_write_text(out_dir / "stability.json", report.model_dump_json(indent=2)),
        "markdown": atomic_write_text(out_dir / "stability.md", render_markdown(report)),
    }
    paths["plot"] = _plot(runs, out_dir / "stability.png")
    return paths
