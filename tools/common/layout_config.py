"""The `[tool.ptycho-nl.tools]` table of `pyproject.toml`, validated (pydantic, imported only when
a repository has the table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.common.output import CommandError


class ToolsConfig(BaseModel):
    """Where a repository keeps the files `tools` reads; every key is optional."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ledger: str | None = None
    plans_dir: str | None = None
    specs_dirs: list[str] | None = None
    findings: str | None = None


_EXPECTED = {
    "ledger": "a path string",
    "plans_dir": "a path string",
    "specs_dirs": "a list of path strings",
    "findings": "a path string",
}


def validate_config(table: object, pyproject: Path) -> dict:
    """The table's keys that are set; a bad key or value is one line naming file, key, expected
    and found."""
    where = f"{pyproject}: [tool.ptycho-nl.tools]"
    if not isinstance(table, dict):
        raise CommandError(f"{where}: expected a table, found {type(table).__name__}")
    try:
        config = ToolsConfig.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        if key not in _EXPECTED:
            raise CommandError(
                f"{where}: unknown key {key!r}: expected one of {', '.join(_EXPECTED)}"
            ) from None
        raise CommandError(
            f"{where} {key}: expected {_EXPECTED[key]}, found {table.get(key)!r}"
        ) from None
    values = config.model_dump(exclude_none=True)
    for key, value in values.items():
        if value == "" or value == []:
            raise CommandError(f"{where} {key}: expected {_EXPECTED[key]}, found {value!r}")
    return values
