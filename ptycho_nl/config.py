"""Configuration records: canonical JSON and the SHA-256 digest of a full config tree.

The digest identifies a run: it is written into every log line, checkpoint and bundle, so two
artefacts can be matched to the exact configuration that produced them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

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
