"""`ptycho-nl simulate` and `ptycho-nl validate`: thin layers over `simulate` and `data`.

Exit codes (tools.common.output): 0 ok, 1 invalid input (bad config, a file that fails the
contract), 2 usage. With --json one object `{"ok", "data", "error"}` goes to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.output import EXIT_FAILED, CommandError, JsonFlag, emit, reporting


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
    as_json: JsonFlag = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Simulate a dataset (object, probe, scan, Poisson noise) and write contract NPZ files."""
    from ptycho_nl.config import config_digest
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.io_utils import sha256_file
    from ptycho_nl.progress import progress_bar
    from ptycho_nl.simulate import simulate_dataset, simulate_train_test

    with reporting(as_json, failures=(PtychoError,)):
        cfg = _resolve_config(config, preset, seed)
        with progress_bar(enabled=progress) as bar:
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


def validate_command(
    path: Annotated[Path, typer.Argument(help="Data file to check: .npz, .h5, .hdf5 or .cxi.")],
    as_json: JsonFlag = False,
) -> None:
    """Check a data file against specs/data_contracts.md; list every problem, one per line."""
    import warnings

    from ptycho_nl.data.bridge import load_any
    from ptycho_nl.data.npz import ContractWarning
    from ptycho_nl.errors import ContractError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ContractWarning)
        try:
            data = load_any(path)
            problems: list[str] = []
        except ContractError as exc:
            data, problems = None, exc.problems or [str(exc)]
    notes = [str(w.message) for w in caught if issubclass(w.category, ContractWarning)]
    summary: dict[str, Any] = {"path": str(path), "problems": problems, "warnings": notes}
    if data is not None:
        summary.update(
            n_patterns=data.n_patterns,
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
    text = f"ok: {path}: {data.n_patterns} patterns of {data.patch_size}x{data.patch_size}"
    emit(ok=True, data=summary, as_json=as_json, text=text)


def register(app: typer.Typer) -> None:
    """Add `simulate` and `validate` to the `ptycho-nl` app."""
    app.command("simulate")(simulate_command)
    app.command("validate")(validate_command)
