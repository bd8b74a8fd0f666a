"""The training loop: `train(config, data_path, out_dir) -> RunResult`.

One flat loop with commented stages (nanoGPT style): set-up, resume, per epoch (train steps under
the sentinel, validation, checkpoints, metrics), bundle, manifest. Run-directory layout:
specs/training_outputs.md. Under `torchrun` the same code runs DDP (rank 0 writes).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ptycho_nl.config import load_config, validate_config
from ptycho_nl.errors import ConfigError, ContractError, PtychoError
from ptycho_nl.io_utils import atomic_write_json
from ptycho_nl.models import LossContext
from ptycho_nl.models.registry import build_model, model_class
from ptycho_nl.train import distributed as ddp
from ptycho_nl.train.bundle import save_bundle
from ptycho_nl.train.checkpoint import load_checkpoint, save_checkpoint
from ptycho_nl.train.config import TrainConfig
from ptycho_nl.train.manifest import JobManifest, git_sha, read_manifest, write_manifest
from ptycho_nl.train.runlog import RunLog, utc_iso
from ptycho_nl.train.seeding import capture_rng_state, restore_rng_state, seed_everything
from ptycho_nl.train.sentinel import Sentinel
from ptycho_nl.train.telemetry import GpuTelemetry, environment

BUNDLE_NAME = "bundle.zip"


@dataclass
class RunResult:
    """What a training job produced. `model` is the best model in memory (completed runs)."""

    run_dir: Path
    status: str
    manifest: dict[str, Any]
    bundle_path: Path | None = None
    best_val_loss: float | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    config_digest: str | None = None
    model: nn.Module | None = None


class LossModule(nn.Module):
    """model + loss context as one module, so DDP's forward hook sees the loss computation."""

    def __init__(self, model: nn.Module, context: LossContext):
        super().__init__()
        self.model = model
        self.context = context

    def forward(self, batch: dict[str, torch.Tensor]):
        return self.model.training_loss(batch, self.context)


def resolve_config(config: TrainConfig | dict | str | Path) -> TrainConfig:
    """A TrainConfig from a record, a plain dict or a JSON file (ConfigError if invalid)."""
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return validate_config(TrainConfig, config)
    return load_config(TrainConfig, config)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config device: 'cuda' requested but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def open_source(data_path: Path, cfg: TrainConfig):
    """The validated, memory-mapped dataset bridge (raises ContractError on bad data)."""
    from ptycho_nl.data.bridge import MemmapDatasetBridge

    return MemmapDatasetBridge(data_path, gridsize=cfg.data.gridsize, seed=cfg.seed)


def split_groups(n_groups: int, cfg: TrainConfig) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of group indices (same on every rank)."""
    order = torch.randperm(n_groups, generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    if cfg.data.max_groups is not None:
        order = order[: cfg.data.max_groups]
    n_val = max(1, round(len(order) * cfg.data.val_fraction))
    if len(order) - n_val < 1:
        raise ConfigError(f"data: {len(order)} groups cannot be split into train and validation")
    return sorted(order[n_val:]), sorted(order[:n_val])


def input_scale_of(source) -> float:
    """One global input normalisation: RMS of the stored amplitudes (first 4096 patterns)."""
    sample = np.asarray(source.data.diffraction[:4096], dtype=np.float64)
    rms = float(np.sqrt(np.mean(np.square(sample))))
    return rms if rms > 0 and math.isfinite(rms) else 1.0


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate_loss(loss_module: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Mean loss over a loader (weighted by batch size), model in eval mode."""
    loss_module.eval()
    total, count = 0.0, 0
    for batch in loader:
        loss, _ = loss_module(to_device(batch, device))
        size = batch["diffraction"].shape[0]
        total += float(loss) * size
        count += size
    loss_module.train()
    return total / max(count, 1)


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
    return cls(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def train(
    config: TrainConfig | dict | str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Train one model and write its run directory; never raises for a bad job.

    config : TrainConfig, dict or JSON path   data_path : NPZ obeying the data contract
    out_dir : the run directory   resume : continue from checkpoints/last_model.pt
    stop_after_epoch : end this session after that epoch (a budgeted or pre-empted session;
        `resume=True` continues it exactly)
    A bad config, a data file that fails the contract or a sentinel stop ends as status
    "failed" with the error text in manifest.json; a completed run with the same config digest
    already in `out_dir` is "skipped".
    """
    run_dir = Path(out_dir)
    started = utc_iso()
    cfg = None
    try:
        cfg = resolve_config(config)
        device = pick_device(cfg.device)
    except PtychoError as exc:
        digest = cfg.digest if cfg is not None else None
        return _failed(run_dir, cfg, digest, str(exc), started, data_path)
    digest = cfg.digest
    ctx = ddp.init_distributed(device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    try:
        previous = read_manifest(run_dir)
        if (
            not resume
            and previous is not None
            and previous.status in ("completed", "skipped")
            and previous.config_digest == digest
            and previous.bundle_path
            and (run_dir / previous.bundle_path).is_file()
        ):
            manifest = previous.model_copy(update={"status": "skipped", "finished_utc": utc_iso()})
            if ctx.is_main:
                write_manifest(run_dir, manifest)
            return RunResult(
                run_dir=run_dir,
                status="skipped",
                manifest=manifest.model_dump(mode="json"),
                bundle_path=run_dir / previous.bundle_path,
                best_val_loss=previous.metrics.get("best_val_loss"),
                config_digest=digest,
            )
        return _run(
            cfg,
            digest,
            Path(data_path),
            run_dir,
            ctx,
            device,
            resume,
            stop_after_epoch,
            progress,
            started,
        )
    except PtychoError as exc:
        return _failed(run_dir, cfg, digest, str(exc), started, data_path, write=ctx.is_main)
    finally:
        ddp.shutdown(ctx)


def _failed(run_dir, cfg, digest, error, started, data_path, *, write=True) -> RunResult:
    manifest = JobManifest(
        status="failed",
        error=error,
        config_digest=digest,
        model_name=cfg.model.name if cfg is not None else None,
        data_path=str(data_path),
        git_sha=git_sha(),
        environment=environment(),
        started_utc=started,
        finished_utc=utc_iso(),
    )
    if write:
        write_manifest(run_dir, manifest)
        if digest is not None:
            RunLog(run_dir, digest).info(f"Training failed: {error}")
    return RunResult(
        run_dir=run_dir,
        status="failed",
        manifest=manifest.model_dump(mode="json"),
        error=error,
        config_digest=digest,
    )


def _run(cfg, digest, data_path, run_dir, ctx, device, resume, stop_after_epoch, progress, started):
    # --- set-up: seeds, data, model, optimiser -------------------------------------------
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    if ddp.broadcast_text(digest, ctx) != digest:
        raise ConfigError("ranks disagree on the config digest: launch every rank with one config")
    checkpoints = run_dir / "checkpoints"
    last_path = checkpoints / "last_model.pt"
    resuming = resume and last_path.is_file()
    if ctx.is_main and not resuming:
        for stale in ("logs", "checkpoints"):  # outputs of an older run in this directory
            shutil.rmtree(run_dir / stale, ignore_errors=True)
    ddp.barrier(ctx)
    log = RunLog(run_dir, digest, enabled=ctx.is_main)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            run_dir / "config.json", {**cfg.model_dump(mode="json"), "config_digest": digest}
        )
    log.event(
        "start",
        model=cfg.model.name,
        data_path=str(data_path),
        device=str(device),
        world_size=ctx.world_size,
        resumed=resuming,
    )
    log.info(
        f"Training started: model={cfg.model.name} data={data_path} device={device} "
        f"world_size={ctx.world_size}" + (" (resumed)" if resuming else "")
    )

    source = open_source(data_path, cfg)
    if model_class(cfg.model.name).requires_ground_truth and source.data.patches is None:
        raise ContractError(
            str(data_path),
            [
                f"{data_path}: key 'Y': model '{cfg.model.name}' trains on ground-truth patches, "
                "expected (n, N, N) complex64, found no such key [specs/data_contracts.md]"
            ],
        )
    train_idx, val_idx = split_groups(len(source.groups), cfg)
    train_set, val_set = source.dataset(train_idx), source.dataset(val_idx)
    n = int(source.probe.shape[-1])
    model = build_model(cfg.model.name, n=n, channels=cfg.model.channels, amp_max=cfg.model.amp_max)
    model.set_input_scale(input_scale_of(source))
    model.to(device)
    context = LossContext(
        probe=source.probe.to(device),
        intensity_scale=float(source.intensity_scale),
        overlap_weight=cfg.loss.overlap_weight,
        loss=cfg.loss.kind,
    )
    plain_loss = LossModule(model, context)
    loss_module = plain_loss
    if ctx.enabled:
        loss_module = nn.parallel.DistributedDataParallel(
            plain_loss, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
    sampler = DistributedSampler(
        train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed
    )
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler)
    val_loader = DataLoader(val_set, batch_size=max(cfg.batch_size, 64), shuffle=False)
    use_amp = cfg.amp and device.type == "cuda"
    telemetry = GpuTelemetry(enabled=cfg.telemetry.log_gpu_stats, device_index=device.index or 0)
    if cfg.telemetry.log_gpu_stats and not telemetry.available:
        log.info(f"GPU telemetry unavailable: {telemetry.unavailable_reason}")
        log.event("telemetry_unavailable", reason=telemetry.unavailable_reason)
    sentinel = Sentinel(
        run_dir / "failures",
        config_digest=digest,
        grad_clip_norm=cfg.sentinel.grad_clip_norm,
        max_oom_per_minute=cfg.sentinel.max_oom_per_minute,
        check_parameters=cfg.sentinel.check_parameters,
        write=ctx.is_main,
        on_event=log.event,
    )

    # --- resume ----------------------------------------------------------------------------
    history: list[dict[str, Any]] = []
    best_val, best_epoch, start_epoch = math.inf, 0, 1
    if resuming:
        state = load_checkpoint(last_path, map_location=device)
        if state["config_digest"] != digest:
            raise ConfigError(
                f"{last_path}: cannot resume: checkpoint config_digest {state['config_digest']} "
                f"differs from this config's {digest}"
            )
        model.load_state_dict(state["model_state_dict"])
        optimizer.load_state_dict(state["optimizer_state_dict"])
        scheduler.load_state_dict(state["scheduler_state_dict"])
        restore_rng_state(state["rng_state"])
        start_epoch = int(state["epoch"]) + 1
        best_val = float(state["best_val_loss"])
        old = log.read_metrics() if ctx.is_main else None
        history = [e for e in (old or {}).get("epochs", []) if e["num"] < start_epoch]
        best_epoch = next((e["num"] for e in history if e["val_loss"] == best_val), 0)
        log.event("resumed", epoch=start_epoch - 1)
    elif resume:
        log.info("no checkpoints/last_model.pt to resume from: starting from epoch 1")

    env = environment()
    steps_per_epoch = len(train_loader)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_path = checkpoints / "best_model.pt"
    if resuming and best_path.is_file():  # the bundle holds the best model, not the last one
        best_state = load_checkpoint(best_path, map_location=device)["model_state_dict"]
    last_epoch = min(cfg.epochs, stop_after_epoch or cfg.epochs)

    # --- epochs ----------------------------------------------------------------------------
    with _progress(progress and ctx.is_main) as bar:
        for epoch in range(start_epoch, last_epoch + 1):
            sampler.set_epoch(epoch)
            task = bar.add_task("train", total=steps_per_epoch, epoch=epoch, loss="-")
            t_epoch = time.perf_counter()
            wait_s, total_loss, seen, clipped = 0.0, 0.0, 0, 0
            t_fetch = time.perf_counter()
            for i, batch in enumerate(train_loader):
                wait_s += time.perf_counter() - t_fetch
                step = (epoch - 1) * steps_per_epoch + i + 1
                batch = to_device(batch, device)
                with sentinel.monitor(step, model) as watch:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                        loss, parts = loss_module(batch)
                    watch.loss = loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                if watch.skipped:
                    t_fetch = time.perf_counter()
                    continue
                optimizer.step()
                size = batch["diffraction"].shape[0]
                total_loss += float(loss.detach()) * size
                seen += size
                clipped += int(watch.clipped)
                bar.update(task, advance=1, loss=f"{float(loss.detach()):.4g}")
                if step % cfg.telemetry.log_every_steps == 0:
                    log.event(
                        "step",
                        step=step,
                        epoch=epoch,
                        loss=float(loss.detach()),
                        grad_norm=watch.grad_norm,
                        lr=optimizer.param_groups[0]["lr"],
                        **{k: float(v) for k, v in parts.items()},
                        **telemetry.sample(),
                    )
                t_fetch = time.perf_counter()
            train_s = time.perf_counter() - t_epoch  # the training phase only, not validation
            bar.remove_task(task)
            if cfg.sentinel.check_parameters:
                sentinel.check_model(epoch * steps_per_epoch, model)
            scheduler.step()

            # --- evaluate, checkpoint, log ---------------------------------------------
            train_loss = ddp.mean_across_ranks(total_loss / max(seen, 1), ctx, device)
            val_loss = evaluate_loss(plain_loss, val_loader, device)
            duration = time.perf_counter() - t_epoch
            record = {
                "num": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "duration_s": round(duration, 4),
                "steps": steps_per_epoch,
                "train_s": round(train_s, 4),
                "samples_per_s": round(seen * ctx.world_size / train_s, 2),
                "data_wait_fraction": round(wait_s / train_s, 4),
                "grad_clipped_steps": clipped,
                "lr": optimizer.param_groups[0]["lr"],
            }
            history.append(record)
            improved = val_loss < best_val
            if improved:
                best_val, best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if ctx.is_main:
                ckpt = {
                    "model_state_dict": model.state_dict(),
                    "optimizer_state_dict": optimizer.state_dict(),
                    "scheduler_state_dict": scheduler.state_dict(),
                    "epoch": epoch,
                    "val_loss": val_loss,
                    "best_val_loss": best_val,
                    "config_digest": digest,
                    "rng_state": capture_rng_state(),
                }
                if improved:
                    save_checkpoint(best_path, **ckpt)
                if epoch % cfg.checkpoint_every == 0:
                    save_checkpoint(checkpoints / f"checkpoint_epoch_{epoch}.pt", **ckpt)
                save_checkpoint(last_path, **ckpt)
            log.event("epoch", **record)
            log.info(
                f"epoch {epoch}/{cfg.epochs} train_loss={train_loss:.6g} "
                f"val_loss={val_loss:.6g} duration_s={duration:.2f}"
                + (" (best)" if improved else "")
            )
            log.write_metrics(_metrics(history, best_val, best_epoch, env))
            ddp.barrier(ctx)

    # --- session end: either paused (resume later) or complete with a bundle -------------
    if last_epoch < cfg.epochs:
        log.info(f"Session stopped after epoch {last_epoch} of {cfg.epochs}: resume to continue")
        manifest = JobManifest(
            status="failed",
            error=f"stopped after epoch {last_epoch} of {cfg.epochs}; resume to continue",
            config_digest=digest,
            model_name=cfg.model.name,
            data_path=str(data_path),
            epochs_completed=last_epoch,
            git_sha=git_sha(),
            environment=env,
            started_utc=started,
            finished_utc=utc_iso(),
        )
        if ctx.is_main:
            write_manifest(run_dir, manifest)
        return RunResult(
            run_dir=run_dir,
            status="failed",
            manifest=manifest.model_dump(),
            best_val_loss=best_val,
            epochs=history,
            error=manifest.error,
            config_digest=digest,
        )
    model.load_state_dict(best_state)
    model.eval()
    final = {
        "best_val_loss": best_val,
        "best_epoch": best_epoch,
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "final_val_loss": history[-1]["val_loss"] if history else None,
        "first_train_loss": history[0]["train_loss"] if history else None,
    }
    manifest = JobManifest(
        status="completed",
        config_digest=digest,
        model_name=cfg.model.name,
        data_path=str(data_path),
        metrics=final,
        epochs_completed=cfg.epochs,
        git_sha=git_sha(),
        environment=env,
        started_utc=started,
    )
    if ctx.is_main:
        meta = {
            "model_name": cfg.model.name,
            "model_kwargs": model.model_kwargs,
            "patch_size": n,
            "gridsize": cfg.data.gridsize,
            "library_version": env["ptycho_nl"],
            "config_digest": digest,
            "normalisation": {
                "input_scale": float(model.input_scale),
                "intensity_scale": float(source.intensity_scale),
                "applied_by": "model buffer input_scale: predict() divides amplitudes by it",
            },
            "metrics": final,
        }
        cfg_json = {**cfg.model_dump(mode="json"), "config_digest": digest}
        path, sha, size = save_bundle(run_dir / BUNDLE_NAME, model, config=cfg_json, meta=meta)
        manifest = manifest.model_copy(
            update={
                "bundle_path": BUNDLE_NAME,
                "bundle_sha256": sha,
                "bundle_size_bytes": size,
                "finished_utc": utc_iso(),
            }
        )
        write_manifest(run_dir, manifest)
        log.event("bundle", bundle_path=BUNDLE_NAME, bundle_sha256=sha, bundle_size_bytes=size)
        log.info(
            f"Training complete: best_val_loss={best_val:.6g} at epoch {best_epoch}; "
            f"bundle {BUNDLE_NAME} sha256={sha}"
        )
    ddp.barrier(ctx)
    return RunResult(
        run_dir=run_dir,
        status="completed",
        manifest=manifest.model_dump(),
        bundle_path=run_dir / BUNDLE_NAME,
        best_val_loss=best_val,
        epochs=history,
        config_digest=digest,
        model=model,
    )


def _metrics(history, best_val, best_epoch, env) -> dict[str, Any]:
    best = next((e for e in history if e["num"] == best_epoch), None)
    return {
        "epochs": history,
        "best": best or {"val_loss": best_val, "num": best_epoch},
        "environment": env,
    }


def summary_json(result: RunResult) -> str:
    """The one-line JSON the CLI prints on stdout (one per rank under torchrun)."""
    m = result.manifest
    return json.dumps(
        {
            "rank": int(os.environ.get("RANK", "0")),
            "status": result.status,
            "run_dir": str(result.run_dir),
            "bundle_path": m.get("bundle_path"),
            "bundle_sha256": m.get("bundle_sha256"),
            "bundle_size_bytes": m.get("bundle_size_bytes"),
            "config_digest": result.config_digest,
            "error": result.error,
        },
        sort_keys=True,
    )
