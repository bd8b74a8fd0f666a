"""`ptycho-nl report stability RUN_DIR...`: the stability journal of nested-learning runs, a
thin layer over `ptycho_nl.models.nested.stability_report` (added to `report` in report_cmds)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import EXIT_FAILED, CommandError, JsonFlag, emit, reporting


def stability(
    runs: Annotated[list[Path], typer.Argument(help="Training run directories to compare.")],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for stability.md, .json and .png.")
    ] = Path("stability"),
    as_json: JsonFlag = False,
) -> None:
    """Compare runs side by side from their records: loss, gradient norms per level, teach
    scale, clip counts, sentinel failures and the step where a run diverged (a dated journal
    with plots; nothing typed by hand). Exit 1 if a run directory cannot be read."""
    from ptycho_nl.models.nested.stability_report import ReportError, stability_report

    with reporting(as_json):
        missing = [str(r) for r in runs if not r.is_dir()]
        if missing:
            raise CommandError(f"{missing[0]}: not a directory")
        try:
            paths = stability_report(runs, out)
        except ReportError as exc:
            raise CommandError(str(exc), exit_code=EXIT_FAILED) from None
    data = {name: str(path) for name, path in paths.items()}
    emit(ok=True, data=data, as_json=as_json, text=f"wrote {paths['markdown']}")
