"""What the `ptycho-nl` commands share beyond `tools.common.output`: the `--set` option, turning
typed flags into overrides, and help that lists a pydantic model's fields with their defaults.

The output contract itself (`--json` envelope, one-line errors, exit codes) is
`tools.common.output`, shared with the `tools` command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Set any field (dotted path, listed below); VALUE is JSON when it parses "
        "(8, 0.5, true, null, [4,8,8]), else a string. Repeatable; applied after the flags.",
    ),
]


def flag_overrides(flags: dict[str, Any]) -> list[str]:
    """`key=value` overrides for the flags that were given (None = not given: the model's
    default applies, so no default is written twice)."""
    return [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]


def field_listing(model: type, extra: Iterable[str] = ()) -> str:
    """Help epilog: every field `--set` accepts, with the model's default and description."""
    from rich.markup import escape

    from ptycho_nl.config import override_fields

    lines = [f"Fields of {model.__name__} (--set KEY=VALUE; the default in parentheses):"]
    for field in override_fields(model):
        note = f": {field.description}" if field.description else ""
        lines.append(f"{field.key} ({json.dumps(field.default)}){note}")
    lines += list(extra)
    return "\n\n".join(escape(line) for line in lines)  # Typer's rich help: one paragraph a line


def listing_command(load: Callable[[], tuple[type, list[str]]]) -> type[TyperCommand]:
    """A command class whose `--help` ends with `field_listing` of the model `load()` returns.

    Built when help is shown, not when the app is assembled: the models import torch, and
    `ptycho-nl --help` must not."""

    class _ListingCommand(TyperCommand):
        def format_help(self, ctx, formatter) -> None:
            model, extra = load()
            self.epilog = field_listing(model, extra)
            super().format_help(ctx, formatter)

    return _ListingCommand
