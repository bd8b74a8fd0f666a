"""`tools gate reproduce RUN_DIR`: train again from the run's own config and seed in a fresh
directory and compare the loss trajectories.

CPU: every compared loss must be bit-identical (the rerun uses the original's torch thread count). CUDA: within `CUDA_RTOL` relative (atomics and
non-deterministic kernels reorder sums). The rerun lives in `<run>/reproduce/<UTC>/`, and
`<run>/reproduce_report.json` records both trajectories as evidence.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ptycho_nl.gates.model import GateError
from ptycho_nl.gates.run_files import RunFiles
from ptycho_nl.io_utils import atomic_write_text

CUDA_RTOL = 1e-4
REPORT_NAME = "reproduce_report.json"


class EpochPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num: int
    original_train: float | None
    rerun_train: float | None
    original_val: float | None
    rerun_val: float | None
    max_rel_diff: float | None  # None: a value is missing or not finite
    ok: bool


class ReproduceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: str
    rerun_dir: str
    device: str
    epochs_compared: int
    tolerance: str  # "bit-identical" or "rtol=1e-4"
    epochs: list[EpochPair]
    rerun_status: str
    passed: bool
    summary: str

    def text(self) -> str:
        lines = [f"reproduce {self.run_dir} -> {self.rerun_dir} ({self.device}, {self.tolerance})"]
        for e in self.epochs:
            lines.append(
                f"  epoch {e.num}: train {e.original_train!r} vs {e.rerun_train!r}, "
                f"val {e.original_val!r} vs {e.rerun_val!r}  {'ok' if e.ok else 'DIFFERS'}"
            )
        lines.append(("reproduced: " if self.passed else "NOT reproduced: ") + self.summary)
        return "\n".join(lines)


def _data_path(run: RunFiles) -> Path:
    raw = run.manifest().get("data_path")
    if not isinstance(raw, str) or not raw:
        raise GateError(f"{run.root / 'manifest.json'}: key data_path: expected the data file")
    path = Path(raw)
    if not path.is_file():
        raise GateError(f"{run.root / 'manifest.json'}: data_path {raw}: file not found")
    return path


def _pair(num: int, a: dict, b: dict | None, rtol: float) -> EpochPair:
    values = [a.get("train_loss"), (b or {}).get("train_loss")]
    values += [a.get("val_loss"), (b or {}).get("val_loss")]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    diff = None
    if finite:
        diff = max(
            abs(x - y) / max(abs(x), abs(y), 1e-300)
            for x, y in ((values[0], values[1]), (values[2], values[3]))
        )
    ok = finite and (
        values[0] == values[1] and values[2] == values[3] if rtol == 0 else diff <= rtol
    )
    return EpochPair(
        num=num,
        original_train=values[0],
        rerun_train=values[1],
        original_val=values[2],
        rerun_val=values[3],
        max_rel_diff=diff,
        ok=bool(ok),
    )


def _device_of(run_dir: Path) -> str:
    """The device the rerun trained on (its `start` event)."""
    events = RunFiles(run_dir).events()
    starts = [e for _, e in events if e.get("kind") == "start"]
    return str(starts[0].get("device", "unknown")) if starts else "unknown"


def _train_like(run: RunFiles, cfg, rerun_dir: Path, k: int):
    """Train with the original's thread count too: CPU sums split across threads differ."""
    import torch

    from ptycho_nl.train import train

    threads = run.manifest().get("environment", {}).get("torch_threads")
    before = torch.get_num_threads()
    if isinstance(threads, int) and threads > 0:
        torch.set_num_threads(threads)
    try:
        stop = k if k < cfg.epochs else None
        return train(cfg, _data_path(run), rerun_dir, stop_after_epoch=stop, progress=False)
    finally:
        torch.set_num_threads(before)


def reproduce_run(run_dir: str | Path, *, epochs: int | None = None) -> ReproduceReport:
    """Re-train the run (first `epochs` epochs, default all) and compare its trajectory."""
    from ptycho_nl.train.config import TrainConfig

    run = RunFiles.open(run_dir)
    raw = dict(run.config())
    raw.pop("config_digest", None)
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValueError as exc:
        raise GateError(
            f"{run.root / 'config.json'}: not a valid training config ({exc})"
        ) from None
    original = run.epochs()
    k = epochs or cfg.epochs
    if k > len(original):
        raise GateError(
            f"{run.metrics_path}: key epochs: expected at least {k} recorded epoch(s), "
            f"found {len(original)}"
        )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S%fZ")
    rerun_dir = run.root / "reproduce" / stamp
    result = _train_like(run, cfg, rerun_dir, k)
    device = _device_of(rerun_dir)
    rtol = CUDA_RTOL if device.startswith("cuda") else 0.0
    by_num = {e.get("num"): e for e in result.epochs}
    pairs = [_pair(i + 1, original[i], by_num.get(i + 1), rtol) for i in range(k)]
    bad = [p.num for p in pairs if not p.ok]
    passed = not bad and result.status in ("completed", "stopped_budget")
    if result.status not in ("completed", "stopped_budget"):
        summary = f"the rerun ended {result.status}: {result.error}"
    elif bad:
        summary = f"epoch(s) {bad} differ (first at epoch {bad[0]})"
    else:
        summary = f"{k} epoch(s) match"
    report = ReproduceReport(
        run_dir=str(run.root),
        rerun_dir=str(rerun_dir),
        device=device,
        epochs_compared=k,
        tolerance="bit-identical" if rtol == 0 else f"rtol={CUDA_RTOL:g}",
        epochs=pairs,
        rerun_status=result.status,
        passed=passed,
        summary=summary,
    )
    atomic_write_text(run.root / REPORT_NAME, report.model_dump_json(indent=2) + "\n")
    return report
