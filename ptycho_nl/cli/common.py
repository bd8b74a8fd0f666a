"""Helpers shared by the `ptycho-nl` commands: one-line errors, JSON output, exit codes.

Exit codes: 0 ok, 1 the input or job failed a check (invalid file, failed job), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def die(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print `error: message` on stderr and exit without a traceback."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, sort_keys=True, default=str) + "\n")
