"""The `tools` command: a Typer app whose verbs live in one module each.

Start-up cost matters (agents call it hundreds of times), so this module imports only Typer and
the verb modules, which in turn import their heavy dependencies inside the commands.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tools",
    help="Evidence tooling for agent-driven development: attempts, ledger, plans, specs, gates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each verb module exposes `register(app)`; import order fixes the order in --help.
    import importlib

    for name in ("tools.attempt_cli", "tools.plan_cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
