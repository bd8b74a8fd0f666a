"""The `ptycho-nl` command: a thin Typer layer over the library.

Each command module exposes `register(app)` and imports torch and friends inside its commands,
so `ptycho-nl --help` answers quickly. Every command follows `tools.common.output`: `--json`
prints one `{ok, data, error}` object, errors are one `error:` line, exit 0 ok / 1 failed / 2 usage.
"""

from __future__ import annotations

import typer

from ptycho_nl.cli import (
    data_cmds,
    gate_cmds,
    measured_cmds,
    pretrained_cmds,
    recon_cmds,
    report_cmds,
    study_cmds,
    train_cmds,
)
from ptycho_nl.runtime import configure_threads
from tools.common.output import EnvelopeGroup

app = typer.Typer(
    name="ptycho-nl",
    cls=EnvelopeGroup,  # usage errors too: one `error:` line or the JSON envelope, exit 2
    help="Simulate, train, reconstruct and evaluate far-field ptychography.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Plain imports above: a renamed or broken module fails here, loudly, instead of its commands
# silently disappearing from the app.
for _module in (
    data_cmds,
    train_cmds,
    recon_cmds,
    study_cmds,
    report_cmds,
    gate_cmds,
    measured_cmds,
    pretrained_cmds,
):
    _module.register(app)


def main() -> None:
    configure_threads()  # before any command imports torch
    app()
