"""Set-up of a training session: the job request, the run directory, the model family's task,
optimiser, schedule, sentinel, and the state to start from (fresh or resumed).

Everything the epoch loop (`ptycho_nl.train.loop`) touches is built here, so the loop itself
reads top to bottom without construction code.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ptycho_nl.config import load_config, validate_config
from ptycho_nl.errors import ConfigError, PtychoError
from ptycho_nl.io_utils import atomic_write_json, sha256_file
from ptycho_nl.models.registry import StepFn, StepOutput, TaskInputs, TrainingTask, prepare_task
from ptycho_nl.provenance import environment
from ptycho_nl.train import distributed as ddp
from ptycho_nl.train.checkpoint import load_checkpoint
from ptycho_nl.train.config import TrainConfig
from ptycho_nl.train.runlog import RunLog
from ptycho_nl.train.seeding import restore_rng_state, seed_everything
from ptycho_nl.train.sentinel import Sentinel
from ptycho_nl.train.telemetry import GpuTelemetry


def resolve_config(config: TrainConfig | dict | str | Path) -> TrainConfig:
    """A TrainConfig from a record, a plain dict or a JSON file (ConfigError if invalid)."""
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return validate_config(TrainConfig, config)
    return load_config(TrainConfig, config)


def job_config(path: Path | None, *, log_gpu_stats: bool = False) -> TrainConfig | Path:
    """The config an entry point passes to `train`: the file's (defaults without one), with GPU
    statistics switched on if asked. An invalid file is returned as its path, so that `train`
    records the message as a failed job with a manifest."""
    config: TrainConfig = TrainConfig()
    if path is not None:
        try:
            config = resolve_config(path)
        except PtychoError:
            return path
    if log_gpu_stats:
        raw = config.model_dump()
        raw["telemetry"]["log_gpu_stats"] = True
        config = TrainConfig.model_validate(raw)
    return config


QcPolicy = Literal["require", "skip", "off"]


def check_data_qc(data_path: str | Path, policy: QcPolicy) -> dict[str, Any] | None:
    """The `data_qc` block of the manifest, after the check `policy` asks for: "require"
    raises QcError (one line) unless a passing QC record matches the data's bytes; "skip"
    records the override (and what record, if any, was there); "off" checks nothing."""
    from ptycho_nl.data.qc import QcError, require_passed

    if policy == "off":
        return None
    if policy == "skip":
        try:
            path, record = require_passed(data_path)
            found = f"passing record {path}"
        except QcError as exc:
            found = str(exc)
        return {"status": "skipped", "override": "--skip-qc", "found": found}
    path, record = require_passed(data_path)
    data = Path(data_path)
    return {
        "status": "passed",
        "record": str(path),
        "record_sha256": record.record_sha256,
        # what was trained on: the file's bytes (checked against the record), or a set's digest
        "data_sha256": sha256_file(data) if data.is_file() else record.data_sha256,
    }


def refuse_data(config, error: str, out_dir: str | Path, data_path: str | Path):
    """The failed job of data refused by its QC check (config recorded when it resolves)."""
    import os

    from ptycho_nl.train.records import finish_failed
    from ptycho_nl.train.runlog import utc_iso

    try:
        cfg = resolve_config(config)
    except PtychoError:
        cfg = None
    write = os.environ.get("RANK", "0") == "0"
    return finish_failed(
        Path(out_dir), cfg, error, started_utc=utc_iso(), data_path=data_path, write=write
    )


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config device: 'cuda' requested but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    """The config as written to config.json and into the bundle: every field plus its digest."""
    return {**cfg.model_dump(mode="json"), "config_digest": cfg.digest}


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights that later optimiser steps leave alone."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class RunRequest:
    """One training job as asked for (the arguments of `train`, resolved)."""

    cfg: TrainConfig
    data_path: Path
    run_dir: Path
    started_utc: str
    resume: bool = False
    stop_after_epoch: int | None = None  # the session's epoch budget; None: run to cfg.epochs
    progress: bool = True

    @property
    def digest(self) -> str:
        return self.cfg.digest

    @property
    def last_epoch(self) -> int:
        """The last epoch this session trains."""
        return min(self.cfg.epochs, self.stop_after_epoch or self.cfg.epochs)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Multiplier of the base learning rate in 0-based `epoch` (warm-up then constant/cosine)."""
    schedule = cfg.schedule
    if epoch < schedule.warmup_epochs:
        return (epoch + 1) / (schedule.warmup_epochs + 1)
    if schedule.name == "constant":
        return 1.0
    span = max(cfg.epochs - schedule.warmup_epochs, 1)
    progress = (epoch - schedule.warmup_epochs) / span
    floor = schedule.min_lr_factor
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    opt = cfg.optimizer
    cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
    # foreach: one kernel per operation over all parameters instead of a Python loop per tensor
    # (torch's CPU default). The same arithmetic, bit for bit, and 1.2-2.3x faster on the
    # compact PINN's 0.59 M parameters (benchmarks/bench_optimizer.py), 0.3-2 ms of a ~45 ms
    # step. Not `fused`: it rounds otherwise.
    return cls(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay, foreach=True)


class StepModule(nn.Module):
    """model + the family's step as one module, so DDP's forward hook sees the loss."""

    def __init__(self, model: nn.Module, step: StepFn):
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, batch: Any, state: Any) -> StepOutput:
        return self.step(self.model, batch, state)


@dataclass
class Session:
    """What one session trains with. `step_module` is DDP-wrapped under torchrun;
    `plain_step` is the same computation without DDP (validation)."""

    request: RunRequest
    ctx: ddp.DistContext
    device: torch.device
    log: RunLog
    env: dict[str, Any]
    task: TrainingTask
    step_module: nn.Module
    plain_step: StepModule
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sentinel: Sentinel
    telemetry: GpuTelemetry
    use_amp: bool

    @property
    def model(self) -> nn.Module:
        return self.task.model


@dataclass
class RunState:
    """What the loop carries from epoch to epoch (restored on resume)."""

    start_epoch: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    stopped_early_at: int | None = None  # the epoch early stopping ended the run after
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)


def _prepare_run_dir(req: RunRequest, ctx: ddp.DistContext, resuming: bool) -> RunLog:
    """Clear an older run's logs and checkpoints (unless resuming), write config.json."""
    if ctx.is_main and not resuming:
        for stale in ("logs", "checkpoints"):
            shutil.rmtree(req.run_dir / stale, ignore_errors=True)
    ddp.barrier(ctx)
    log = RunLog(req.run_dir, req.digest, enabled=ctx.is_main)
    if ctx.is_main:
        req.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(req.run_dir / "config.json", config_record(req.cfg))
    return log


def open_session(req: RunRequest, ctx: ddp.DistContext, device: torch.device) -> Session:
    """Seeds, run directory, the family's task (data + model), optimiser and guards."""
    cfg, digest = req.cfg, req.digest
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    if ddp.broadcast_text(digest, ctx) != digest:
        raise ConfigError("ranks disagree on the config digest: launch every rank with one config")
    resuming = req.resume and (req.checkpoints / "last_model.pt").is_file()
    log = _prepare_run_dir(req, ctx, resuming)
    log.event(
        "start",
        model=cfg.model.name,
        data_path=str(req.data_path),
        device=str(device),
        world_size=ctx.world_size,
        resumed=resuming,
    )
    log.info(
        f"Training started: model={cfg.model.name} data={req.data_path} device={device} "
        f"world_size={ctx.world_size}" + (" (resumed)" if resuming else "")
    )
    inputs = TaskInputs(cfg, req.data_path, device, rank=ctx.rank, world_size=ctx.world_size)
    task = prepare_task(cfg.model.name, inputs)
    task.model.to(device)
    plain_step = StepModule(task.model, task.step)
    step_module: nn.Module = plain_step
    if ctx.enabled:
        step_module = nn.parallel.DistributedDataParallel(
            plain_step, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = make_optimizer(task.model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
    telemetry = GpuTelemetry(enabled=cfg.telemetry.log_gpu_stats, device_index=device.index or 0)
    if cfg.telemetry.log_gpu_stats and not telemetry.available:
        log.info(f"GPU telemetry unavailable: {telemetry.unavailable_reason}")
        log.event("telemetry_unavailable", reason=telemetry.unavailable_reason)
    sentinel = Sentinel(
        req.run_dir / "failures",
        config_digest=digest,
        grad_clip_norm=cfg.sentinel.grad_clip_norm,
        max_oom_per_minute=cfg.sentinel.max_oom_per_minute,
        check_parameters=cfg.sentinel.check_parameters,
        write=ctx.is_main,
        on_event=log.event,
    )
    return Session(
        request=req,
        ctx=ctx,
        device=device,
        log=log,
        env=environment(),
        task=task,
        step_module=step_module,
        plain_step=plain_step,
        optimizer=optimizer,
        scheduler=scheduler,
        sentinel=sentinel,
        telemetry=telemetry,
        use_amp=cfg.amp and device.type == "cuda",
    )


def start_or_resume(s: Session) -> RunState:
    """Epoch 1, or the epoch after checkpoints/last_model.pt with its weights, optimiser,
    schedule, RNG and metrics history (resume). The best weights so far start as the current
    ones, or those of checkpoints/best_model.pt when resuming."""
    req, model, state = s.request, s.model, RunState()
    last_path, best_path = req.checkpoints / "last_model.pt", req.checkpoints / "best_model.pt"
    resuming = req.resume and last_path.is_file()
    if req.resume and not resuming:
        s.log.info("no checkpoints/last_model.pt to resume from: starting from epoch 1")
    if resuming:
        saved = load_checkpoint(last_path, map_location=s.device)
        if saved["config_digest"] != req.digest:
            raise ConfigError(
                f"{last_path}: cannot resume: checkpoint config_digest {saved['config_digest']} "
                f"differs from this config's {req.digest}"
            )
        model.load_state_dict(saved["model_state_dict"])
        s.optimizer.load_state_dict(saved["optimizer_state_dict"])
        s.scheduler.load_state_dict(saved["scheduler_state_dict"])
        restore_rng_state(saved["rng_state"])
        state.start_epoch = int(saved["epoch"]) + 1
        state.best_val = float(saved["best_val_loss"])
        old = s.log.read_metrics() if s.ctx.is_main else None
        state.history = [e for e in (old or {}).get("epochs", []) if e["num"] < state.start_epoch]
        state.best_epoch = next(
            (e["num"] for e in state.history if e["val_loss"] == state.best_val), 0
        )
        s.log.event("resumed", epoch=state.start_epoch - 1)
    if resuming and best_path.is_file():  # the bundle holds the best model, not the last one
        state.best_state = load_checkpoint(best_path, map_location=s.device)["model_state_dict"]
    else:
        state.best_state = snapshot(model)
    return state
