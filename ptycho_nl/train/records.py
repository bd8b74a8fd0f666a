"""What a training session records: the end of each epoch (validation, checkpoints, metrics)
and the end of the session (bundle, manifest, `RunResult`). Layout: specs/training_outputs.md.

Every `RunResult` is made by `run_result` and every manifest by `manifest.job_manifest`, so the
record of a job is dumped one way whatever its status.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptycho_nl.train import distributed as ddp
from ptycho_nl.train.bundle import save_bundle
from ptycho_nl.train.checkpoint import save_checkpoint
from ptycho_nl.train.config import TrainConfig
from ptycho_nl.train.manifest import JobManifest, JobStatus, job_manifest, write_manifest
from ptycho_nl.train.runlog import RunLog, utc_iso
from ptycho_nl.train.seeding import capture_rng_state
from ptycho_nl.train.setup import RunState, Session, StepModule, config_record, snapshot

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


def run_result(
    run_dir: Path,
    manifest: JobManifest,
    *,
    bundle_path: Path | None = None,
    best_val_loss: float | None = None,
    epochs: list[dict[str, Any]] | None = None,
    model: nn.Module | None = None,
) -> RunResult:
    """The job's result; `manifest` is dumped as JSON-ready values."""
    return RunResult(
        run_dir=run_dir,
        status=manifest.status,
        manifest=manifest.model_dump(mode="json"),
        bundle_path=bundle_path,
        best_val_loss=best_val_loss,
        epochs=list(epochs or []),
        error=manifest.error,
        config_digest=manifest.config_digest,
        model=model,
    )


@dataclass
class EpochStats:
    """The training phase of one epoch, as the loop measured it."""

    started: float  # time.perf_counter() at the start of the epoch
    train_s: float
    wait_s: float
    loss_sum: float  # sum of loss * samples over the epoch's steps
    samples: int
    clipped: int


@torch.no_grad()
def evaluate_loss(step: StepModule, batches) -> float:
    """Mean loss over the validation batches (weighted by samples), model in eval mode; carried
    state starts afresh and runs through the pass."""
    step.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        out = step(batch, state)
        state = out.state
        total += float(out.loss) * out.size
        count += out.size
    step.train()
    return total / max(count, 1)


def _checkpoint(s: Session, epoch: int, val_loss: float, best_val: float) -> dict[str, Any]:
    return {
        "model_state_dict": s.model.state_dict(),
        "optimizer_state_dict": s.optimizer.state_dict(),
        "scheduler_state_dict": s.scheduler.state_dict(),
        "epoch": epoch,
        "val_loss": val_loss,
        "best_val_loss": best_val,
        "config_digest": s.request.digest,
        "rng_state": capture_rng_state(),
    }


def close_epoch(s: Session, state: RunState, epoch: int, stats: EpochStats) -> None:
    """Validate, keep the best weights, write checkpoints (rank 0), log the epoch record."""
    cfg, ctx = s.request.cfg, s.ctx
    train_loss = ddp.mean_across_ranks(stats.loss_sum / max(stats.samples, 1), ctx, s.device)
    val_loss = evaluate_loss(s.plain_step, s.task.val_batches())
    duration = time.perf_counter() - stats.started
    record = {
        "num": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "duration_s": round(duration, 4),
        "steps": s.task.steps_per_epoch,
        "train_s": round(stats.train_s, 4),
        "samples_per_s": round(stats.samples * ctx.world_size / stats.train_s, 2),
        "data_wait_fraction": round(stats.wait_s / stats.train_s, 4),
        "grad_clipped_steps": stats.clipped,
        "lr": s.optimizer.param_groups[0]["lr"],
    }
    state.history.append(record)
    improved = val_loss < state.best_val
    if improved:
        state.best_val, state.best_epoch = val_loss, epoch
        state.best_state = snapshot(s.model)
    if ctx.is_main:
        ckpt = _checkpoint(s, epoch, val_loss, state.best_val)
        if improved:
            save_checkpoint(s.request.checkpoints / "best_model.pt", **ckpt)
        if epoch % cfg.checkpoint_every == 0:
            save_checkpoint(s.request.checkpoints / f"checkpoint_epoch_{epoch}.pt", **ckpt)
        save_checkpoint(s.request.checkpoints / "last_model.pt", **ckpt)
    s.log.event("epoch", **record)
    s.log.info(
        f"epoch {epoch}/{cfg.epochs} train_loss={train_loss:.6g} "
        f"val_loss={val_loss:.6g} duration_s={duration:.2f}" + (" (best)" if improved else "")
    )
    s.log.write_metrics(_metrics(state, s.env))
    ddp.barrier(ctx)


def _metrics(state: RunState, env: dict[str, Any]) -> dict[str, Any]:
    best = next((e for e in state.history if e["num"] == state.best_epoch), None)
    return {
        "epochs": state.history,
        "best": best or {"val_loss": state.best_val, "num": state.best_epoch},
        "environment": env,
    }


def _manifest(s: Session, status: JobStatus, **fields: Any) -> JobManifest:
    req = s.request
    return job_manifest(
        status,
        started_utc=req.started_utc,
        data_path=req.data_path,
        env=s.env,
        config_digest=req.digest,
        model_name=req.cfg.model.name,
        **fields,
    )


def finish_stopped(s: Session, state: RunState) -> RunResult:
    """The session reached its epoch budget before the last epoch: resumable, no bundle."""
    req = s.request
    where = f"stopped after epoch {req.last_epoch} of {req.cfg.epochs}"
    s.log.info(f"Session {where}: resume to continue")
    manifest = _manifest(
        s, "stopped_budget", error=f"{where}; resume to continue", epochs_completed=req.last_epoch
    )
    if s.ctx.is_main:
        write_manifest(req.run_dir, manifest)
    return run_result(req.run_dir, manifest, best_val_loss=state.best_val, epochs=state.history)


def finish_completed(s: Session, state: RunState) -> RunResult:
    """Every epoch done: the best weights become the bundle (rank 0 writes it)."""
    req, model, history = s.request, s.model, state.history
    model.load_state_dict(state.best_state)
    model.eval()
    final = {
        "best_val_loss": state.best_val,
        "best_epoch": state.best_epoch,
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "final_val_loss": history[-1]["val_loss"] if history else None,
        "first_train_loss": history[0]["train_loss"] if history else None,
        "stopped_early_at": state.stopped_early_at,
    }
    bundle: dict[str, Any] = {}
    if s.ctx.is_main:
        meta = {
            "model_name": req.cfg.model.name,
            "model_kwargs": model.model_kwargs,
            "library_version": s.env["ptycho_nl"],
            "config_digest": req.digest,
            "metrics": final,
            **s.task.bundle_meta,
        }
        path = req.run_dir / BUNDLE_NAME
        _, sha, size = save_bundle(path, model, config=config_record(req.cfg), meta=meta)
        bundle = {"bundle_path": BUNDLE_NAME, "bundle_sha256": sha, "bundle_size_bytes": size}
    done = state.stopped_early_at or req.cfg.epochs
    manifest = _manifest(s, "completed", metrics=final, epochs_completed=done, **bundle)
    if s.ctx.is_main:
        write_manifest(req.run_dir, manifest)
        s.log.event("bundle", **bundle)
        s.log.info(
            f"Training complete: best_val_loss={state.best_val:.6g} at epoch {state.best_epoch}; "
            f"bundle {BUNDLE_NAME} sha256={bundle['bundle_sha256']}"
        )
    ddp.barrier(s.ctx)
    return run_result(
        req.run_dir,
        manifest,
        bundle_path=req.run_dir / BUNDLE_NAME,
        best_val_loss=state.best_val,
        epochs=history,
        model=model,
    )


def finish_failed(
    run_dir: Path,
    cfg: TrainConfig | None,
    error: str,
    *,
    started_utc: str,
    data_path: str | Path,
    write: bool = True,
) -> RunResult:
    """A job that could not run or was stopped by the sentinel: manifest and one log line."""
    digest = cfg.digest if cfg is not None else None
    manifest = job_manifest(
        "failed",
        started_utc=started_utc,
        data_path=data_path,
        error=error,
        config_digest=digest,
        model_name=cfg.model.name if cfg is not None else None,
    )
    if write:
        write_manifest(run_dir, manifest)
        if digest is not None:
            RunLog(run_dir, digest).info(f"Training failed: {error}")
    return run_result(run_dir, manifest)


def finish_skipped(run_dir: Path, previous: JobManifest, *, write: bool = True) -> RunResult:
    """A completed run of the same config is already there: keep its record, mark it skipped."""
    manifest = previous.model_copy(update={"status": "skipped", "finished_utc": utc_iso()})
    if write:
        write_manifest(run_dir, manifest)
    return run_result(
        run_dir,
        manifest,
        bundle_path=run_dir / previous.bundle_path,
        best_val_loss=previous.metrics.get("best_val_loss"),
    )


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
