"""`ptycho-nl simulate` and `ptycho-nl validate`: thin layers over `simulate` and `data`.

Exit codes: 0 ok, 1 invalid input (bad config, a file that fails the contract), 2 usage.
With --json one object `{"ok", "data", "error"}` goes to stdout; messages go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ptycho_nl.cli.common import EXIT_INVALID, EXIT_USAGE, die, print_json


def _fail(message: str, code: int, as_json: bool, data: Any = None) -> None:
    if as_json:
        print_json({"ok": False, "data": data, "error": message})
    die(message, code)


def _resolve_config(config: Path | None, preset: str | None, seed: int | None, as_json: bool):
    from ptycho_nl.config import load_config
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.simulate import PRESETS, SimulationConfig

    if (config is None) == (preset is None):
        _fail("give exactly one of --config FILE or --preset NAME", EXIT_USAGE, as_json)
    if preset is not None and preset not in PRESETS:
        _fail(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}", EXIT_USAGE, as_json)
    try:
        cfg = PRESETS[preset] if preset is not None else load_config(SimulationConfig, config)
        return cfg if seed is None else cfg.model_copy(update={"seed": seed})
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID, as_json)


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the written files.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Simulate a dataset (object, probe, scan, Poisson noise) and write contract NPZ files."""
    from rich.console import Console
    from rich.progress import Progress

    from ptycho_nl.config import config_digest
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.io_utils import sha256_file
    from ptycho_nl.simulate import simulate_dataset, simulate_train_test

    cfg = _resolve_config(config, preset, seed, as_json)
    bar = Progress(console=Console(stderr=True), transient=True, disable=not progress)
    try:
        with bar:
            task = bar.add_task("simulating", total=cfg.scan.n_positions)
            update = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
            if split:
                paths = simulate_train_test(cfg, out, progress=update)
            else:
                paths = {"data": simulate_dataset(cfg, out, progress=update)}
    except PtychoError as exc:
        _fail(str(exc), EXIT_INVALID, as_json)
    files = {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in paths.items()}
    if as_json:
        print_json(
            {
                "ok": True,
                "data": {"config_digest": config_digest(cfg), "files": files},
                "error": None,
            }
        )
    else:
        for name, info in files.items():
            typer.echo(f"wrote {name}: {info['path']} (sha256 {info['sha256'][:16]})")


def validate_command(
    path: Annotated[Path, typer.Argument(help="Data file to check: .npz, .h5, .hdf5 or .cxi.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with problems and warnings.")
    ] = False,
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
    if as_json:
        error = None if not problems else f"{len(problems)} contract problem(s) in {path}"
        print_json({"ok": not problems, "data": summary, "error": error})
    for note in notes:
        sys.stderr.write(f"warning: {note}\n")
    if problems:
        for problem in problems:
            sys.stderr.write(f"error: {problem}\n")
        raise typer.Exit(EXIT_INVALID)
    if not as_json:
        typer.echo(f"ok: {path}: {data.n_patterns} patterns of {data.patch_size}x{data.patch_size}")


def register(app: typer.Typer) -> None:
    """Add `simulate` and `validate` to the `ptycho-nl` app."""
    app.command("simulate")(simulate_command)
    app.command("validate")(validate_command)
