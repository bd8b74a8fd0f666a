"""The `ptycho-nl` command: a thin Typer layer over the library.

Each command module exposes `register(app)` and imports torch and friends inside its commands,
so `ptycho-nl --help` answers quickly.
"""

from __future__ import annotations

import importlib
import os

import typer

app = typer.Typer(
    name="ptycho-nl",
    help="Simulate, train, reconstruct and evaluate far-field ptychography.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = (
    "ptycho_nl.cli.data_cmds",
    "ptycho_nl.cli.train_cmds",
    "ptycho_nl.cli.recon_cmds",
    "ptycho_nl.cli.study_cmds",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    # Before torch is imported (commands import it lazily): idle OpenMP threads sleep instead of
    # spinning, which on a busy 2-core machine made one solver iteration 200x slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app()
