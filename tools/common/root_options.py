"""Options of the root `tools` app that every verb honours (`tools --ledger PATH <verb>`).

A root option cannot reach the library functions the verbs call without a global, so it is
turned into the environment variable the layout already reads (`tools.common.layout`), for the
duration of the command only: `tools --ledger docs/fix_plan.md status` is exactly
`TOOLS_LEDGER=$PWD/docs/fix_plan.md tools status`, and subprocesses see the same ledger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tools.common.layout import LEDGER_ENV

LedgerOption = Annotated[
    Path | None,
    typer.Option(
        "--ledger",
        metavar="PATH",
        help=(
            "The ledger to read and edit (relative to the current directory), for repositories "
            f"that keep it elsewhere. Same as ${LEDGER_ENV} (relative to the repository root); "
            "default: `ledger` of the pyproject.toml table tool.ptycho-nl.tools, else fix_plan.md."
        ),
    ),
]


def root_callback(ctx: typer.Context, ledger: LedgerOption = None) -> None:
    if ledger is None:
        return
    previous = os.environ.get(LEDGER_ENV)
    os.environ[LEDGER_ENV] = str(ledger.expanduser().absolute())

    def restore() -> None:
        if previous is None:
            os.environ.pop(LEDGER_ENV, None)
        else:
            os.environ[LEDGER_ENV] = previous

    ctx.call_on_close(restore)
