"""`tools gate data PATH`: the data QC gate on an NPZ, a shard set or a directory of data.

Writes the QC record next to the data (`<stem>.qc.json` beside a file, `qc.json` inside a
directory); exit 0 when every mandatory item passed, 1 when one did not (or the data is not
there), 2 usage. `ptycho_nl.gates` (numpy, torch for the overlap) is imported inside the
command, so `tools` starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting


def gate_data(
    path: Annotated[
        Path,
        typer.Argument(help="An NPZ file, a shard set directory, or a directory of data files."),
    ],
    gate_file: Annotated[
        Path | None,
        typer.Option("--gate", help="Gate definition TOML (default specs/gates/data.toml)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check data before training on it or scaling it up: contract, realised dose, empty and
    saturated patterns, overlap, train/test disjointness, provenance; write its qc.json.

    Example: tools gate data data/pilot   (then `ptycho-nl simulate --shards 4 --pilot
    data/pilot/qc.json ...`, or `ptycho-nl train --data data/pilot/train.npz ...`)
    """
    with reporting(as_json):
        from ptycho_nl.errors import PtychoError

        try:
            from ptycho_nl.gates.data_qc import CHECKS, run_data_qc
            from ptycho_nl.gates.definitions import load_definition
            from ptycho_nl.gates.render import table_text

            definition = load_definition(gate_file, CHECKS) if gate_file else None
            report, record = run_data_qc(path, definition)
        except PtychoError as exc:
            raise CommandError(str(exc), exit_code=1) from None
        failing = report.failing(mandatory_only=True)
        emit(
            ok=report.passed,
            data={**report.model_dump(mode="json"), "record": str(record)},
            error=None if report.passed else f"gate data failed: {', '.join(failing)}",
            as_json=as_json,
            text=table_text(report) + f"\nwritten: {record}",
        )
