"""The rate table and budgets: `[tool.ptycho-nl.budget]` in pyproject.toml, or a budget file.

```toml
[tool.ptycho-nl.budget]
currency = "USD"
rates = { cpu = 0.05, cuda = 2.50 }        # per device-hour (cpu: per CPU-core-hour)
total = 100.0                              # optional: the whole repository's budget
items = { "STRUCT-001" = 10.0 }            # budget per item (an initiative is an item)
planned = { "STRUCT-001" = { cuda = 2.0 } }  # device-hours still planned per item
job_dirs = ["."]                           # where job manifests are searched (repository-relative)
```

A budget file holds the same keys at the top level (or the same table). A negative rate, budget
or planned figure is refused in one line naming the file, the key and the value.
"""

from __future__ import annotations

from pathlib import Path

import tomllib
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError

from tools.common.output import CommandError

TABLE = ("tool", "ptycho-nl", "budget")


class BudgetConfig(BaseModel):
    """The validated rate table and budgets (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    currency: str = "units"
    rates: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    total: NonNegativeFloat | None = None
    items: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    planned: dict[str, dict[str, NonNegativeFloat]] = Field(default_factory=dict)
    job_dirs: list[str] = Field(default_factory=lambda: ["."])
    source: str = Field("", exclude=True, description="Where the table was read from.")

    def cost(self, device: str, hours: float) -> float:
        """Cost of `hours` device-hours of `device` (a kind without a rate costs nothing)."""
        return hours * self.rates.get(device, 0.0)


def billed_hours(compute: dict) -> float:
    """Device-hours of one compute block: GPU-hours on a GPU, else CPU-core-hours (the rule of
    `ptycho_nl.compute.billed_hours`, applied to the JSON)."""
    seconds = compute.get("gpu_s")
    if seconds is None:
        seconds = compute.get("cpu_s") or 0.0
    return float(seconds) / 3600.0


def _table(data: dict) -> dict:
    table: object = data
    for key in TABLE:
        table = table.get(key) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else {}


def _validate(raw: dict, where: Path) -> BudgetConfig:
    try:
        return BudgetConfig.model_validate({**raw, "source": str(where)})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise CommandError(
            f"{where}: budget key {key}: expected {first['msg'].lower()}, "
            f"found {first.get('input')!r}",
            exit_code=2,
        ) from None


def load_budget(root: Path, budget_file: Path | None = None) -> BudgetConfig:
    """The budget of the repository at `root`: `budget_file` if given, else its pyproject
    table, else no rates and no budgets (usage is still counted in device-hours)."""
    path = budget_file if budget_file is not None else root / "pyproject.toml"
    if not path.is_file():
        if budget_file is not None:
            raise CommandError(f"{path}: budget file not found")
        return BudgetConfig(source="")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CommandError(f"{path}: cannot read it as TOML ({exc})") from None
    raw = _table(data) or (data if budget_file is not None else {})
    return _validate(raw, path)
