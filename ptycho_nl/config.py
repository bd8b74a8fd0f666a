"""Configuration records: canonical JSON, the SHA-256 digest of a config tree, loading and
`key.path=value` overrides (the `--set` option of the command line).

The digest identifies a run: it is written into every log line, checkpoint and bundle, so two
artefacts can be matched to the exact configuration that produced them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python

from ptycho_nl.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config record: unknown fields are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def canonical_json(obj: Any) -> str:
    """Serialise to canonical JSON: sorted keys, no whitespace, UTF-8 kept as is.

    Pydantic models are dumped in JSON mode first so enums, paths and tuples are normalised.
    """
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def config_digest(obj: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a config tree."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def load_config(model: type[M], path: str | Path) -> M:
    """Read a JSON config file into `model`, raising ConfigError naming the file and field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return validate_config(model, raw, source=str(path))


def validate_config(model: type[M], raw: Any, *, source: str = "config") -> M:
    """Validate a plain dict into `model`; errors name each field and the reason."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            parts.append(f"{loc}: {err['msg']}")
        raise ConfigError(f"{source}: invalid {model.__name__}: " + "; ".join(parts)) from None


def apply_overrides(
    model: type[M], base: dict[str, Any], overrides: Iterable[str], *, source: str = "overrides"
) -> M:
    """`base` with every `key.path=value` of `overrides` set, in order, validated into `model`.

    A value is parsed as JSON when it parses (`8`, `0.5`, `true`, `null`, `[4, 8, 8]`), else
    kept as the string (`pinn`). A key that names no field of `model` (or of a nested model on
    the way) is a ConfigError naming the key and the valid ones, before any validation;
    `source` names the origin in a validation error.
    """
    raw = copy.deepcopy(base)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{source}: expected KEY=VALUE, found {item!r}")
        parts = key.strip().split(".")
        _check_key(model, parts, source)
        _set_path(raw, parts, _parse_value(text))
    return validate_config(model, raw, source=source)


class OverrideField(NamedTuple):
    """One leaf field `apply_overrides` accepts: dotted key, JSON-able default, description."""

    key: str
    default: Any
    description: str | None


def override_fields(model: type[BaseModel], prefix: str = "") -> list[OverrideField]:
    """Every leaf field of `model`, nested models expanded, in declaration order."""
    fields: list[OverrideField] = []
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        if nested is not None:
            fields += override_fields(nested, f"{prefix}{name}.")
            continue
        default = (
            "required"
            if info.is_required()
            else to_jsonable_python(info.get_default(call_default_factory=True))
        )
        fields.append(OverrideField(prefix + name, default, info.description))
    return fields


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (also through `Model | None`), else None."""
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _check_key(model: type[BaseModel], parts: list[str], source: str) -> None:
    current: type[BaseModel] | None = model
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if current is None:
            raise ConfigError(
                f"{source}: unknown key {'.'.join(parts)!r}: {where!r} has no sub-keys"
            )
        fields = current.model_fields
        if part not in fields:
            scope = f" under {where!r}" if where else ""
            raise ConfigError(
                f"{source}: unknown key {'.'.join(parts)!r}; valid keys{scope}: {', '.join(fields)}"
            )
        current = _nested_model(fields[part].annotation)


def _set_path(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    node = raw
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):  # absent or None: the model's defaults apply
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
