"""Gate definitions: `specs/gates/<name>.toml`, read strictly against a check registry.

    [gate]
    name = "post_training"
    description = "..."

    [items.loss_convergence]          # one table per item, in the order of the report
    mandatory = true                  # default true
    description = "..."               # optional
    min_relative_decrease = 0.5       # any other key is a threshold the check declares

An unknown section, item or threshold key, a wrong value type, or an item table that is not a
table is one `GateError` line naming the file. Contract: specs/gates.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from ptycho_nl.gates.checks import CheckRegistry
from ptycho_nl.gates.model import GateDefinition, GateError, GateItem

# specs/ sits beside the package in the checkout (the library is installed editable).
SPECS_GATES = Path(__file__).resolve().parents[2] / "specs" / "gates"
_ITEM_KEYS = ("mandatory", "description")


def definition_path(name: str) -> Path:
    """specs/gates/<name>.toml of this checkout."""
    return SPECS_GATES / f"{name}.toml"


def load_definition(path: str | Path, registry: CheckRegistry) -> GateDefinition:
    """Parse and validate one gate file; every problem is a one-line GateError."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"{path}: gate definition not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - {"gate", "items"})
    if unknown:
        raise GateError(f"{path}: unknown section(s) {', '.join(unknown)} (expected gate, items)")
    head = raw.get("gate", {})
    if not isinstance(head, dict) or set(head) - {"name", "description"}:
        raise GateError(f"{path}: [gate] takes only name and description")
    items_raw = raw.get("items")
    if not isinstance(items_raw, dict) or not items_raw:
        raise GateError(f"{path}: expected at least one [items.<name>] table")
    items = [_item(path, name, body, registry) for name, body in items_raw.items()]
    return GateDefinition(
        name=str(head.get("name", path.stem)),
        description=str(head.get("description", "")),
        source=str(path),
        items=items,
    )


def _item(path: Path, name: str, body: Any, registry: CheckRegistry) -> GateItem:
    where = f"{path}: [items.{name}]"
    if name not in registry.checks:
        known = ", ".join(registry.names())
        raise GateError(f"{where}: unknown item (gate {registry.name} knows: {known})")
    if not isinstance(body, dict):
        raise GateError(f"{where}: expected a table, found {type(body).__name__}")
    defaults = registry.checks[name].defaults
    thresholds = {k: v for k, v in body.items() if k not in _ITEM_KEYS}
    for key, value in thresholds.items():
        if key not in defaults:
            known = ", ".join(defaults) or "none"
            raise GateError(f"{where}: unknown threshold {key!r} (expected one of: {known})")
        if not _same_kind(defaults[key], value):
            raise GateError(
                f"{where}: threshold {key} expected {type(defaults[key]).__name__}, "
                f"found {type(value).__name__} {value!r}"
            )
    mandatory = body.get("mandatory", True)
    if not isinstance(mandatory, bool):
        raise GateError(f"{where}: mandatory expected true/false, found {mandatory!r}")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise GateError(f"{where}: description expected a string, found {description!r}")
    return GateItem(name=name, mandatory=mandatory, description=description, thresholds=thresholds)


def _same_kind(default: Any, value: Any) -> bool:
    """An int threshold may be written 2 or 2.0; a float one 1 or 1.0; bools are not numbers."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))
