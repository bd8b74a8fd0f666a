"""One output contract for every `tools` verb.

With `--json` a verb prints exactly one object `{"ok": bool, "data": ..., "error": ...}` on stdout;
otherwise it prints human text (Rich markup only on a terminal). Exit codes are documented once:
    0  ok            1  the checked thing failed (a RED that is not red, a lint error, a bad hash)
    2  usage or input error (bad ID, missing file, malformed arguments), one line, no traceback
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ToolError(Exception):
    """A usage or input error: printed as one line, exit code 2 (or `exit_code`)."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE, data: Any = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.data = data


def emit(
    *,
    ok: bool,
    data: Any = None,
    error: str | None = None,
    as_json: bool,
    text: str | None = None,
    exit_code: int | None = None,
) -> NoReturn:
    """Print the result (JSON object or text) and exit with the matching code."""
    code = exit_code if exit_code is not None else (EXIT_OK if ok else EXIT_FAILED)
    if as_json:
        sys.stdout.write(json.dumps({"ok": ok, "data": data, "error": error}, default=str) + "\n")
    else:
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")
        if error:
            sys.stderr.write(f"error: {error}\n")
    raise typer.Exit(code)


def fail(exc: ToolError, *, as_json: bool) -> NoReturn:
    """Report a ToolError in the verb's output mode."""
    emit(ok=False, data=exc.data, error=str(exc), as_json=as_json, exit_code=exc.exit_code)


# Use as `as_json: JsonFlag = False` on every verb.
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON object {ok, data, error} on stdout.")
]
