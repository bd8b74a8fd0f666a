"""The training loop: `train(config, data_path, out_dir) -> RunResult`.

Read top to bottom: `train` resolves the job and turns any bad job into a failed record; `_run`
is set-up (`setup.py`), one flat epoch loop, and the finish (`records.py`). The loop knows no
model: the registered family's task (`ptycho_nl.models.registry`) supplies the batches and the
loss of one step, and may carry state from one batch to the next. Run-directory layout:
specs/training_outputs.md. Under `torchrun` the same code runs DDP (rank 0 writes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from ptycho_nl.compute import ComputeMeter, measure
from ptycho_nl.errors import PtychoError
from ptycho_nl.progress import progress_bar
from ptycho_nl.train import distributed as ddp
from ptycho_nl.train.config import TrainConfig
from ptycho_nl.train.manifest import add_compute, finished_run, read_manifest, stamp_data_qc
from ptycho_nl.train.records import (
    EpochStats,
    RunResult,
    close_epoch,
    finish_completed,
    finish_failed,
    finish_skipped,
    finish_stopped,
    summary_json,
)
from ptycho_nl.train.runlog import utc_iso
from ptycho_nl.train.setup import (
    QcPolicy,
    RunRequest,
    RunState,
    check_data_qc,
    open_session,
    pick_device,
    refuse_data,
    resolve_config,
    start_or_resume,
)

__all__ = ["RunResult", "resolve_config", "summary_json", "train"]


def train(
    config: TrainConfig | dict | str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    progress: bool = True,
    qc: QcPolicy = "off",
) -> RunResult:
    """Train one model and write its run directory; never raises for a bad job.

    config : TrainConfig, dict or JSON path   data_path : the data file the model family reads
    out_dir : the run directory   resume : continue from checkpoints/last_model.pt
    stop_after_epoch : the session's epoch budget: end after that epoch with status
        "stopped_budget" (`resume=True` continues it exactly)
    A bad config, a data file that fails the contract or a sentinel stop ends as status
    "failed" with the error text in manifest.json; a completed run with the same config digest
    already in `out_dir` is "skipped". The manifest's `compute` block is what the job cost.
    qc : "require" refuses data without a passing, matching QC record (a failed job naming
        why), "skip" trains anyway and records the override, "off" (library callers) neither;
        the manifest's `data_qc` says which (`setup.check_data_qc`, specs/gates.md).
    """
    earlier = read_manifest(Path(out_dir)) if resume else None
    if qc != "off" and not _data_gated(config):
        qc = "off"  # the family's data are not scans (ModelFamily.data_gate)
    with measure() as meter:
        try:
            data_qc = check_data_qc(data_path, qc)
        except PtychoError as exc:  # refused before any work: a failed job naming why
            data_qc, result = None, refuse_data(config, str(exc), out_dir, data_path)
        else:
            result = _train(meter, config, data_path, out_dir, resume, stop_after_epoch, progress)
    written = read_manifest(result.run_dir)
    if os.environ.get("RANK", "0") == "0" and written is not None:  # rank 0 writes (DDP)
        stamped = add_compute(result.run_dir, written, meter.record, earlier=earlier)
        result.manifest = stamped.model_dump(mode="json")
    if data_qc is not None and os.environ.get("RANK", "0") == "0":
        result.manifest = stamp_data_qc(result.run_dir, data_qc) or result.manifest
    return result


def _data_gated(config) -> bool:
    """Whether the data QC gate applies to the configured family's data (True when the config
    does not resolve: `_train` then fails the job naming why)."""
    from ptycho_nl.models.registry import model_family

    try:
        return model_family(resolve_config(config).model.name).data_gate
    except (PtychoError, KeyError, ValueError):
        return True


def _train(
    meter: ComputeMeter,
    config: TrainConfig | dict | str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    resume: bool,
    stop_after_epoch: int | None,
    progress: bool,
) -> RunResult:
    run_dir, started = Path(out_dir), utc_iso()
    cfg = None
    try:
        cfg = resolve_config(config)
        device = meter.device = pick_device(cfg.device)
    except PtychoError as exc:
        return finish_failed(run_dir, cfg, str(exc), started_utc=started, data_path=data_path)
    ctx = ddp.init_distributed(device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    try:
        previous = None if resume else finished_run(run_dir, cfg.digest)
        if previous is not None:
            return finish_skipped(run_dir, previous, write=ctx.is_main)
        request = RunRequest(
            cfg=cfg,
            data_path=Path(data_path),
            run_dir=run_dir,
            started_utc=started,
            resume=resume,
            stop_after_epoch=stop_after_epoch,
            progress=progress,
        )
        return _run(request, ctx, device)
    except PtychoError as exc:
        return finish_failed(
            run_dir, cfg, str(exc), started_utc=started, data_path=data_path, write=ctx.is_main
        )
    finally:
        ddp.shutdown(ctx)


def _patience_ran_out(cfg: TrainConfig, state: RunState, epoch: int) -> bool:
    """Early stopping: `epoch` (not the last) is `early_stop_patience` epochs past the best."""
    patience = cfg.early_stop_patience
    return bool(patience) and 0 < epoch < cfg.epochs and epoch - state.best_epoch >= patience


def _run(req: RunRequest, ctx: ddp.DistContext, device: torch.device) -> RunResult:
    # --- set-up: seeds, run directory, the family's data and model, optimiser, resume ------
    s = open_session(req, ctx, device)
    state = start_or_resume(s)
    cfg, model, steps = req.cfg, s.model, s.task.steps_per_epoch

    # A resumed run that had already stopped early trains no further epoch.
    if ddp.any_rank(_patience_ran_out(cfg, state, state.start_epoch - 1), ctx, s.device):
        state.stopped_early_at = state.start_epoch - 1

    # --- epochs ----------------------------------------------------------------------------
    with progress_bar(enabled=req.progress and ctx.is_main) as bar:
        for epoch in range(state.start_epoch, req.last_epoch + 1):
            if state.stopped_early_at is not None:
                break
            bar_task = bar.add_task(f"epoch {epoch}", total=steps)
            t_epoch = time.perf_counter()
            wait_s, loss_sum, samples, clipped = 0.0, 0.0, 0, 0
            carried = None  # the family's state between batches starts afresh each epoch
            t_fetch = time.perf_counter()
            for i, batch in enumerate(s.task.train_batches(epoch)):
                wait_s += time.perf_counter() - t_fetch
                step = (epoch - 1) * steps + i + 1
                # forward + backward under the sentinel (NaN/Inf stop, gradient clip, OOM skip)
                with s.sentinel.monitor(step, model) as watch:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=s.use_amp):
                        out = s.step_module(batch, carried)
                    watch.loss = out.loss
                    s.optimizer.zero_grad(set_to_none=True)
                    out.loss.backward()
                if watch.skipped:
                    t_fetch = time.perf_counter()
                    continue
                s.optimizer.step()
                carried = out.state
                loss = float(out.loss.detach())
                loss_sum, samples = loss_sum + loss * out.size, samples + out.size
                clipped += int(watch.clipped)
                bar.update(bar_task, advance=1, description=f"epoch {epoch} loss {loss:.4g}")
                if step % cfg.telemetry.log_every_steps == 0:
                    s.log.event(
                        "step",
                        step=step,
                        epoch=epoch,
                        loss=loss,
                        grad_norm=watch.grad_norm,
                        lr=s.optimizer.param_groups[0]["lr"],
                        **{k: float(v) for k, v in out.logs.items()},
                        **s.telemetry.sample(),
                    )
                t_fetch = time.perf_counter()
            train_s = time.perf_counter() - t_epoch  # the training phase only, not validation
            bar.remove_task(bar_task)
            if cfg.sentinel.check_parameters:
                s.sentinel.check_model(epoch * steps, model)
            s.scheduler.step()
            # validate, keep the best weights, checkpoint, log the epoch
            close_epoch(
                s,
                state,
                epoch,
                EpochStats(t_epoch, train_s, wait_s, loss_sum, samples, clipped),
            )
            # Decided together: ranks that stopped apart would leave the others waiting.
            if ddp.any_rank(_patience_ran_out(cfg, state, epoch), ctx, s.device):
                state.stopped_early_at = epoch
                s.log.info(
                    f"Stopping early after epoch {epoch}: no lower val_loss for "
                    f"{cfg.early_stop_patience} epochs (best at epoch {state.best_epoch})"
                )
                break

    # --- finish: paused at the session's budget (resume later) or complete with a bundle ---
    if state.stopped_early_at is None and req.last_epoch < cfg.epochs:
        return finish_stopped(s, state)
    return finish_completed(s, state)
