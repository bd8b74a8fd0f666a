"""`ptycho-nl simulate` and `ptycho-nl validate`: thin layers over `simulate` and `data`.

Exit codes (tools.common.output): 0 ok, 1 invalid input (bad config, a file that fails the
contract), 2 usage. With --json one object `{"ok", "data", "error"}` goes to stdout.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ptycho_nl.cli.study_cmds import DaskLocalOpt, SchedulerOpt
from tools.common.output import EXIT_FAILED, CommandError, JsonFlag, emit, reporting

SHARDS = "Shard sets (pilot -> scale, docs/data.md)"


def _in_panel(option: Any) -> Any:
    """The study's executor option (same flag and help) listed in the shard-set panel."""
    info = copy.copy(option.__metadata__[0])
    info.rich_help_panel = SHARDS
    return Annotated[option.__origin__, info]


def _resolve_config(config: Path | None, preset: str | None, seed: int | None):
    from ptycho_nl.config import load_config
    from ptycho_nl.simulate import PRESETS, SimulationConfig

    if (config is None) == (preset is None):
        raise CommandError("give exactly one of --config FILE or --preset NAME")
    if preset is not None and preset not in PRESETS:
        raise CommandError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = PRESETS[preset] if preset is not None else load_config(SimulationConfig, config)
    return cfg if seed is None else cfg.model_copy(update={"seed": seed})


def simulate_command(
    out: Annotated[
        Path,
        typer.Option("--out", help="NPZ file to write, or with --split the directory for both."),
    ],
    config: Annotated[
        Path | None, typer.Option("--config", help="SimulationConfig JSON file.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="Named configuration: tiny or small.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Override the config's seed.", min=0)
    ] = None,
    split: Annotated[
        bool,
        typer.Option("--split", help="Write train.npz and test.npz from regions one patch apart."),
    ] = False,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            min=1,
            help="Write a shard set of K shards into the --out directory (needs --pilot); "
            "a re-run writes only missing or corrupted shards.",
            rich_help_panel=SHARDS,
        ),
    ] = None,
    pilot: Annotated[
        Path | None,
        typer.Option(
            "--pilot",
            help="QC record (qc.json) of the pilot: it must have passed, and this config may "
            "differ from the pilot's only in size (scan.n_positions, scan.columns, "
            "object.size) and seed.",
            rich_help_panel=SHARDS,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Scale despite the pilot check; recorded in shards.json.",
            rich_help_panel=SHARDS,
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes generating shards at once.",
            rich_help_panel=SHARDS,
        ),
    ] = 1,
    scheduler: _in_panel(SchedulerOpt) = None,
    dask_local: _in_panel(DaskLocalOpt) = None,
    as_json: JsonFlag = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Simulate a dataset (object, probe, scan, Poisson noise) and write contract NPZ files.

    Pilot -> scale: `ptycho-nl simulate --preset tiny --split --out pilot`, `tools gate data
    pilot`, then `ptycho-nl simulate --config BIG.json --shards 4 --pilot pilot/qc.json --out
    big` (docs/data.md)."""
    from ptycho_nl.errors import PtychoError

    executor_options = {"workers": workers, "scheduler": scheduler, "dask_local": dask_local}
    if shards is None and (pilot is not None or force or workers > 1 or scheduler or dask_local):
        with reporting(as_json):
            raise CommandError(
                "--pilot, --force, --workers, --scheduler and --dask-local go with --shards K"
            )
    if shards is not None and workers > 1 and not (scheduler or dask_local):
        from ptycho_nl.execution import start_pool_server

        start_pool_server(workers)  # imports torch beside this process's own (~2 s saved)
    with reporting(as_json, failures=(PtychoError,)):
        cfg = _resolve_config(config, preset, seed)
        if shards is not None and split:
            raise CommandError("--shards writes one scan; --split is for a single pair")
    if shards is not None:
        _simulate_shards(cfg, out, shards, pilot, force, executor_options, as_json, progress)
    else:
        _simulate_files(cfg, out, split, as_json, progress)


def _simulate_files(cfg, out: Path, split: bool, as_json: bool, progress: bool) -> None:
    """One NPZ file, or with --split the train.npz / test.npz pair."""
    from ptycho_nl.config import config_digest
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.io_utils import sha256_file
    from ptycho_nl.progress import progress_bar
    from ptycho_nl.simulate import simulate_dataset, simulate_train_test

    with reporting(as_json, failures=(PtychoError,)), progress_bar(enabled=progress) as bar:
        task = bar.add_task("simulating", total=cfg.scan.n_positions)
        update = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if split:
            paths = simulate_train_test(cfg, out, progress=update)
        else:
            paths = {"data": simulate_dataset(cfg, out, progress=update)}
    files = {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in paths.items()}
    text = "\n".join(
        f"wrote {name}: {info['path']} (sha256 {info['sha256'][:16]})"
        for name, info in files.items()
    )
    emit(
        ok=True,
        data={"config_digest": config_digest(cfg), "files": files},
        as_json=as_json,
        text=text,
    )


def _simulate_shards(
    cfg, out: Path, shards: int, pilot, force, executor_options, as_json, progress
):
    """The --shards branch of `simulate`: pilot check, then the shard set through the executor
    of `executor_options` (local pool, or Dask with --scheduler / --dask-local)."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.execution import make_executor
    from ptycho_nl.progress import progress_bar
    from ptycho_nl.simulate.pilot import FORCE, pilot_record
    from ptycho_nl.simulate.shards import write_shard_set

    with reporting(as_json, failures=(PtychoError,)):
        if pilot is None and not force:
            raise CommandError(
                f"--shards needs --pilot QC_RECORD (the qc.json of a pilot that passed `tools "
                f"gate data`); {FORCE}",
                exit_code=EXIT_FAILED,
            )
        record, overrides = (None, ["--force: no pilot QC record"])
        if pilot is not None:
            record, overrides = pilot_record(pilot, cfg, force=force)
        with progress_bar(enabled=progress) as bar, make_executor(**executor_options) as executor:
            task = bar.add_task("shards", total=shards)
            update = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
            index, generated = write_shard_set(
                cfg,
                out,
                shards,
                pilot=record,
                overrides=overrides,
                executor=executor,
                progress=update,
            )
    data = {
        "config_digest": index.config_digest,
        "index": str(out / "shards.json"),
        "n_shards": index.n_shards,
        "n_patterns": index.n_patterns,
        "generated": generated,
        "reused": [e.index for e in index.shards if e.index not in generated],
        "overrides": index.overrides,
    }
    text = (
        f"wrote shard set {out}: {len(generated)} of {index.n_shards} shards generated, "
        f"{index.n_patterns} patterns (index {out / 'shards.json'})"
        + "".join(f"\noverride: {line}" for line in index.overrides)
    )
    emit(ok=True, data=data, as_json=as_json, text=text)


def validate_command(
    path: Annotated[
        Path,
        typer.Argument(help="Data to check: .npz, .h5, .hdf5, .cxi, or a shard set directory."),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check a data file (or every shard of a shard set, with its hash) against
    specs/data_contracts.md; list every problem, one per line."""
    import warnings

    from ptycho_nl.data.npz import ContractWarning
    from ptycho_nl.errors import ContractError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ContractWarning)
        try:
            data, n_patterns = _load_checked(path)
            problems: list[str] = []
        except ContractError as exc:
            data, problems = None, exc.problems or [str(exc)]
    notes = [str(w.message) for w in caught if issubclass(w.category, ContractWarning)]
    summary: dict[str, Any] = {"path": str(path), "problems": problems, "warnings": notes}
    if data is not None:
        summary.update(
            n_patterns=n_patterns,
            patch_size=data.patch_size,
            supervised=data.patches is not None,
        )
    # Warnings and every problem go to stderr, one line each, in both output modes: a
    # validator lists them all (emit's single `error:` line would hold only a count).
    for note in notes:
        sys.stderr.write(f"warning: {note}\n")
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    if problems:
        error = f"{len(problems)} contract problem(s) in {path}"
        if as_json:
            emit(ok=False, data=summary, error=error, as_json=True, exit_code=EXIT_FAILED)
        raise typer.Exit(EXIT_FAILED)
    text = f"ok: {path}: {n_patterns} patterns of {data.patch_size}x{data.patch_size}"
    emit(ok=True, data=summary, as_json=as_json, text=text)


def _load_checked(path: Path):
    """(the data, or a shard set's first shard; the number of patterns), validated; a shard
    set's every shard and hash (specs/data_contracts.md §8). ContractError lists problems."""
    from ptycho_nl.data.bridge import load_any
    from ptycho_nl.data.shardset import checked_index, index_path
    from ptycho_nl.errors import ContractError

    if index_path(path) is None:
        data = load_any(path)
        return data, data.n_patterns
    directory, index = checked_index(path)
    loaded, problems = [], []
    for entry in index.shards:
        try:
            loaded.append(load_any(directory / entry.file))
        except ContractError as exc:
            problems += exc.problems or [str(exc)]
    if problems:
        raise ContractError(str(path), problems)
    return loaded[0], index.n_patterns


def register(app: typer.Typer) -> None:
    """Add `simulate` and `validate` to the `ptycho-nl` app."""
    app.command("simulate")(simulate_command)
    app.command("validate")(validate_command)
