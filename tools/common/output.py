"""One output contract for every command line in this distribution (`tools` and `ptycho-nl`).

With `--json` a command prints exactly one object `{"ok": bool, "data": ..., "error": ...}` on
stdout; otherwise it prints human text. Errors are one `error: ...` line on stderr, never a
traceback. Exit codes are documented once:
    0  ok            1  the checked thing failed (a RED that is not red, a lint error, a bad hash,
                        an invalid data file, a failed job)
    2  usage or input error (bad ID, missing file, malformed arguments)
This module imports nothing heavy (no torch): `tools` starts in milliseconds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.26 vendors click; older releases use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import NoArgsIsHelpError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A usage or input error: printed as one line, exit code 2 (or `exit_code`)."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE, data: Any = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.data = data


def print_json(obj: Any) -> None:
    """One JSON object on one stdout line."""
    sys.stdout.write(json.dumps(obj, sort_keys=True, default=str) + "\n")


def emit(
    *,
    ok: bool,
    data: Any = None,
    error: str | None = None,
    as_json: bool,
    text: str | None = None,
    exit_code: int | None = None,
) -> NoReturn:
    """Print the result (the JSON envelope or text) and exit with the matching code."""
    code = exit_code if exit_code is not None else (EXIT_OK if ok else EXIT_FAILED)
    if as_json:
        print_json({"ok": ok, "data": data, "error": error})
    else:
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")
        if error:
            sys.stderr.write(f"error: {error}\n")
    raise typer.Exit(code)


def emit_problems(
    problems: list[Any],
    *,
    as_json: bool,
    line: Callable[[Any], str],
    failing: Callable[[Any], bool] | None = None,
    noun: str = "problem(s)",
    clean: str = "ok",
) -> NoReturn:
    """Report a check's findings: one `line(p)` each as text (or `clean` when there are none),
    their `as_dict()` as data; exit 1 when any finding is failing (by default every one is)."""
    failed = [p for p in problems if failing is None or failing(p)]
    emit(
        ok=not failed,
        data=[p.as_dict() for p in problems],
        error=f"{len(failed)} {noun}" if failed else None,
        as_json=as_json,
        text="\n".join(line(p) for p in problems) or clean,
    )


def fail(exc: CommandError, *, as_json: bool) -> NoReturn:
    """Report a CommandError in the command's output mode."""
    emit(ok=False, data=exc.data, error=str(exc), as_json=as_json, exit_code=exc.exit_code)


@contextmanager
def reporting(as_json: bool, *, failures: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Run a command body: a CommandError becomes its one-line error (or JSON envelope) and exit
    code; an exception of a type in `failures` (a domain error such as an invalid file) is
    reported the same way with exit code 1. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except CommandError as exc:
        fail(exc, as_json=as_json)
    except failures as exc:  # type: ignore[misc]  # () catches nothing
        fail(CommandError(str(exc), exit_code=EXIT_FAILED), as_json=as_json)


# Use as `as_json: JsonFlag = False` on every command.
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON object {ok, data, error} on stdout.")
]


class EnvelopeGroup(TyperGroup):
    """A root command group whose usage errors (missing option, bad choice, unknown verb) follow
    the contract too: one `error:` line (or the JSON envelope under `--json`), exit 2.

    Use as `typer.Typer(cls=EnvelopeGroup)` on the root app: parse errors of every nested verb
    surface in the root's `invoke`. A bare group (`tools plan`) still prints its help.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from tools.common.help_text import reflow_tree

        reflow_tree(self)  # prose help reflows to the terminal (tools/common/help_text.py)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        words = [*ctx._protected_args, *ctx.args]
        options = words[: words.index("--")] if "--" in words else words
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            where = exc.ctx or ctx
            names = []
            while where is not None and where.parent is not None:
                names.insert(0, where.info_name)
                where = where.parent
            verb = " ".join(name for name in names if name) or ctx.info_name
            message = f"{verb}: {exc.format_message()} (see `{ctx.info_name} {verb} --help`)"
            emit(
                ok=False,
                error=" ".join(message.split()),
                as_json="--json" in options,
                exit_code=EXIT_USAGE,
            )
