"""`python -m ptycho_nl.train --config FILE --data NPZ --out RUN_DIR` (also under torchrun)."""

import typer

from ptycho_nl.cli.train_cmds import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
