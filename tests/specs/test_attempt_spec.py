"""specs/attempt_reports.md and the pydantic models of attempt.json describe the same fields."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from tools.attempt import records

SPEC = Path(__file__).resolve().parents[2] / "specs" / "attempt_reports.md"
MODELS = [
    records.AttemptRecord,
    records.RunRecord,
    records.CollectionRecord,
    records.PytestOutcome,
    records.PytestFailure,
    records.GitFacts,
    records.InterpreterFacts,
    records.EnvFacts,
    records.ArtifactRecord,
    records.Blocker,
]


def type_text(annotation: object) -> str:
    """The spec's spelling of a type: `str or null`, `list of RunRecord`, `one of a, b`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(arg) for arg in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(arg) for arg in typing.get_args(annotation))
    if origin is list:
        return "list of " + type_text(typing.get_args(annotation)[0])
    if annotation is type(None):
        return "null"
    return annotation.__name__  # type: ignore[attr-defined]


def spec_tables() -> dict[str, list[tuple[str, str, str]]]:
    """`### Model` sections -> rows (field, type, required) of the table that follows."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    current = None
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### (\w+)\s*$", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
            continue
        row = re.match(r"^\| `(\w+)` \| ([^|]+) \| (yes|no) \|", line)
        if row and current is not None:
            current.append((row.group(1), row.group(2).strip(), row.group(3)))
    return tables


def test_every_model_has_a_section_and_nothing_else():
    assert set(spec_tables()) == {model.__name__ for model in MODELS}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_spec_table_matches_model(model: type[BaseModel]):
    documented = spec_tables()[model.__name__]
    actual = [
        (name, type_text(info.annotation), "yes" if info.is_required() else "no")
        for name, info in model.model_fields.items()
    ]
    assert documented == actual


def test_record_rejects_fields_the_spec_does_not_list():
    with pytest.raises(ValueError, match="extra"):
        records.Blocker(signature="s", root_cause="r", fixes=["f"], recorded_at="t", color="red")
