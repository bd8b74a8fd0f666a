"""`ptycho-nl train`: a thin layer over `ptycho_nl.train.train`.

Exit codes: 0 completed or skipped, 1 failed job (bad config, data that fails the contract,
sentinel stop), 2 usage error. The job summary is one JSON line on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptycho_nl.cli.common import EXIT_INVALID, die


def train_command(
    data: Annotated[Path, typer.Option("--data", help="NPZ file obeying the data contract.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created).")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training config JSON (TrainConfig); defaults if omitted."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from RUN_DIR/checkpoints/last_model.pt.")
    ] = False,
    log_gpu_stats: Annotated[
        bool,
        typer.Option("--log-gpu-stats", help="Add gpu_mem_mb and gpu_util_pct to step events."),
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Train a model on an NPZ file and write the run directory and bundle.zip."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.train.config import TrainConfig
    from ptycho_nl.train.loop import resolve_config, summary_json, train

    job_config: TrainConfig | Path = TrainConfig()
    if config is not None:
        try:
            job_config = resolve_config(config)
        except PtychoError:
            job_config = config  # train() turns the message into a failed job with a manifest
    if log_gpu_stats and isinstance(job_config, TrainConfig):
        raw = job_config.model_dump()
        raw["telemetry"]["log_gpu_stats"] = True
        job_config = TrainConfig.model_validate(raw)
    result = train(job_config, data, out, resume=resume, progress=progress)
    typer.echo(summary_json(result))
    if result.status == "failed":
        die(f"training failed: {result.error}", EXIT_INVALID)


def register(app: typer.Typer) -> None:
    """Add the `train` command to the `ptycho-nl` app."""
    app.command("train")(train_command)
