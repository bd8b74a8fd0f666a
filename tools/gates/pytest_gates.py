"""Adding a named pytest gate to plans/gates.json (`tools gate add`); running one is
`tools.plan.gates.run_gate`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import repo_lock
from tools.common.layout import gates_path
from tools.common.output import CommandError
from tools.plan.gates import Gate, GateFile, load_gates

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def add_gate(root: Path, name: str, gate: Gate, *, replace: bool = False) -> Path:
    """Write `gate` under `name` into plans/gates.json (created if absent), under the repo lock.

    An existing name is refused unless `replace`; the file is rewritten atomically, other gates
    kept in their order.
    """
    if not _NAME.match(name):
        raise CommandError(
            f"gate name {name!r}: expected a letter then letters, digits, '_', '-', '.'"
        )
    path = gates_path(root)
    with repo_lock(root):
        gates = load_gates(root) if path.exists() else {}
        if name in gates and not replace:
            raise CommandError(f"{path}: gate {name!r} exists (use --replace to overwrite it)")
        gates[name] = gate
        record = GateFile(gates=gates).model_dump(mode="json")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def make_gate(pytest_args: list[str], **fields) -> Gate:
    """A validated gate record; a bad field is one CommandError line naming it."""
    try:
        return Gate(pytest_args=pytest_args, **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CommandError(f"gate {where}: {first['msg']}") from None
