"""`ptycho-nl train`: a thin layer over `ptycho_nl.train.train`.

The run's TrainConfig is built in one place, in this order: the `--config` file (or the
defaults), the flags that were given (`--model`, `--epochs`, ...), then every `--set key=value`,
validated together by TrainConfig. Exit codes (tools.common.output): 0 completed or skipped,
1 failed job (a config file that fails validation, data that fails the contract, sentinel stop),
2 usage error (a missing option, an invalid flag or `--set`). Without --json the job summary is
one JSON line on stdout (one per rank under torchrun).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ptycho_nl.cli.common import SetOption, flag_overrides, listing_command
from tools.common.output import CommandError, JsonFlag, emit, reporting

COMMON = "Common fields (default: the --config file's, else TrainConfig's)"


def _common(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=COMMON)


def _train_model() -> tuple[type, list[str]]:
    from ptycho_nl.train.config import TrainConfig

    return TrainConfig, []


def resolve_job_config(
    config: Path | None, flags: dict[str, Any], sets: list[str], preset: str | None = None
):
    """The TrainConfig of one `ptycho-nl train` call: the file's (`train.setup.job_config`:
    defaults without one; an invalid file stays its path, which `train` records as a failed job
    with a manifest) or the `--preset`'s, then the given flags, then `--set`. A bad flag or
    `--set` is a usage error."""
    from ptycho_nl.config import apply_overrides
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.train.config import PRESET_CONFIGS, TrainConfig
    from ptycho_nl.train.setup import job_config

    if preset is not None and (config is not None or preset not in PRESET_CONFIGS):
        raise CommandError(
            "give --config FILE or --preset NAME, not both"
            if config is not None
            else f"unknown preset {preset!r}; choose from {', '.join(PRESET_CONFIGS)}"
        )
    base = PRESET_CONFIGS[preset] if preset is not None else job_config(config)
    if isinstance(base, Path):
        return base
    overrides = [*flag_overrides(flags), *sets]
    try:
        return apply_overrides(
            TrainConfig, base.model_dump(mode="json"), overrides, source="train options"
        )
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def train_command(
    data: Annotated[Path, typer.Option("--data", help="NPZ file obeying the data contract.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created).")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training config JSON (TrainConfig); defaults if omitted."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="A named config: tiny, small, nl-recall, nl-char."),
    ] = None,
    model: Annotated[str | None, _common("Registered model name (model.name).")] = None,
    model_type: Annotated[
        str | None, _common("Variant of the family (model.type; nested: titan, hope, attention).")
    ] = None,
    epochs: Annotated[int | None, _common("Training epochs (epochs).")] = None,
    batch_size: Annotated[int | None, _common("Groups per step (batch_size).")] = None,
    lr: Annotated[float | None, _common("Learning rate (optimizer.lr).")] = None,
    seed: Annotated[int | None, _common("Seed of the run (seed).")] = None,
    sets: SetOption = None,
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
    skip_qc: Annotated[
        bool,
        typer.Option(
            "--skip-qc",
            help="Train on data without a passing QC record (`tools gate data`); the "
            "override is recorded in manifest.json (data_qc).",
        ),
    ] = False,
    detect_anomaly: Annotated[
        bool,
        typer.Option(
            "--detect-anomaly",
            help="Nested models: anomaly mode around the memory writes; the job fails naming "
            "the module and step of the first non-finite fast weight.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train a model on an NPZ file and write the run directory and bundle.zip.

    The data must have a passing QC record that matches it (`tools gate data DATA`, or the
    directory's qc.json); otherwise the job fails naming why, unless --skip-qc.

    Example: ptycho-nl train --model pinn --epochs 8 --data D.npz --out R --set model.channels=[8,16,32]
    """
    from ptycho_nl.train import train
    from ptycho_nl.train.records import summary_json

    flags = {
        "model.name": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer.lr": lr,
        "seed": seed,
        "telemetry.log_gpu_stats": True if log_gpu_stats else None,
        "model.type": model_type,
        "model.nested.detect_anomaly": True if detect_anomaly else None,
    }
    with reporting(as_json):
        job_config = resolve_job_config(config, flags, sets or [], preset)
    qc = "skip" if skip_qc else "require"
    result = train(job_config, data, out, resume=resume, progress=progress, qc=qc)
    line = summary_json(result)
    failed = result.status == "failed"
    error = f"training failed: {result.error}" if failed else None
    emit(ok=not failed, data=json.loads(line), error=error, as_json=as_json, text=line)


def register(app: typer.Typer) -> None:
    """Add the `train` command to the `ptycho-nl` app."""
    app.command("train", cls=listing_command(_train_model))(train_command)
