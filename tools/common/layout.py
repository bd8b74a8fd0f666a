"""Where `tools` keeps its files in a repository: one `Layout`, resolved per call, no global state.

Defaults (this repository):
    fix_plan.md                          the ledger (specs/fix_plan_format.md)
    plans/active/<ID>/plan.md            an initiative and its phase table
    plans/active/<ID>/reports/...        attempt hubs (specs/attempt_reports.md)
    plans/gates.json                     named gates
    specs/, docs/                        the folders `tools specs check` scans
    docs/findings.md                     the findings table

A repository laid out differently says so in its `pyproject.toml`:

    [tool.ptycho-nl.tools]
    ledger = "docs/fix_plan.md"
    plans_dir = "plans"
    specs_dirs = ["specs", "docs"]
    findings = "docs/findings.md"

The ledger path is taken from, first match wins: the explicit `ledger` argument, `$TOOLS_LEDGER`
(the root option `tools --ledger PATH` sets it for the command), the pyproject table, the
default. Relative paths are relative to the repository root; every path must stay inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tools.common.fsutil import inside, validate_item_id
from tools.common.output import CommandError

LEDGER_NAME = "fix_plan.md"
GATES_PATH = Path("plans") / "gates.json"
FINDINGS_PATH = Path("docs") / "findings.md"
SPECS_DIRS = ("specs", "docs")
LEDGER_ENV = "TOOLS_LEDGER"
CONFIG_TABLE = ("tool", "ptycho-nl", "tools")


@dataclass(frozen=True)
class Layout:
    """Absolute paths of everything `tools` reads and writes in one repository."""

    root: Path
    ledger: Path
    plans: Path
    specs_dirs: tuple[Path, ...]
    findings: Path
    ledger_source: str = "default"  # where the ledger path came from, for messages

    @property
    def active(self) -> Path:
        return self.plans / "active"

    @property
    def gates(self) -> Path:
        return self.plans / "gates.json"

    def rel(self, path: Path) -> str:
        """`path` relative to the root, POSIX style (for messages and citations)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


def _read_config(root: Path) -> dict:
    """The `[tool.ptycho-nl.tools]` table of `<root>/pyproject.toml`, validated ({} if none)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CommandError(f"{pyproject}: cannot read it as TOML ({exc})") from None
    table: object = data
    for key in CONFIG_TABLE:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    if not table:
        return {}
    from tools.common.layout_config import validate_config  # pydantic, only when configured

    return validate_config(table, pyproject)


def _inside_root(root: Path, value: str, where: str) -> Path:
    path = Path(value)
    path = path if path.is_absolute() else root / path
    if not inside(path, root):
        raise CommandError(
            f"{where}: expected a path inside the repository {root}, found {value!r}"
        )
    return path


def resolve_layout(root: Path, ledger: Path | str | None = None) -> Layout:
    """The layout of the repository at `root`: explicit ledger > $TOOLS_LEDGER > pyproject >
    defaults (see the module docstring)."""
    root = Path(root)
    config = _read_config(root)
    where = f"{root / 'pyproject.toml'}: [tool.ptycho-nl.tools]"
    source, value = "default", LEDGER_NAME
    if ledger is not None:
        source, value = "argument", str(ledger)
    elif os.environ.get(LEDGER_ENV):
        source, value = f"${LEDGER_ENV}", os.environ[LEDGER_ENV]
    elif "ledger" in config:
        source, value = "pyproject.toml", config["ledger"]
    ledger_where = {
        "default": "ledger",
        "argument": "ledger",
        f"${LEDGER_ENV}": f"--ledger or ${LEDGER_ENV}",
        "pyproject.toml": where + " ledger",
    }[source]
    return Layout(
        root=root,
        ledger=_inside_root(root, value, ledger_where),
        plans=_inside_root(root, config.get("plans_dir", "plans"), where + " plans_dir"),
        specs_dirs=tuple(
            _inside_root(root, folder, where + " specs_dirs")
            for folder in config.get("specs_dirs", SPECS_DIRS)
        ),
        findings=_inside_root(
            root, config.get("findings", FINDINGS_PATH.as_posix()), where + " findings"
        ),
        ledger_source=source,
    )


# -- the functions every verb already calls (kept; they follow the resolved layout) -------------
def ledger_path(root: Path) -> Path:
    return resolve_layout(root).ledger


def plans_dir(root: Path) -> Path:
    return resolve_layout(root).plans


def active_dir(root: Path) -> Path:
    return plans_dir(root) / "active"


def gates_path(root: Path) -> Path:
    return plans_dir(root) / "gates.json"


def findings_path(root: Path) -> Path:
    return resolve_layout(root).findings


def initiative_dir(root: Path, item_id: str) -> Path:
    """`plans/active/<ID>`; the ID is validated first so it cannot name a path outside plans/."""
    return active_dir(root) / validate_item_id(item_id)


def reports_dir(root: Path, item_id: str) -> Path:
    return initiative_dir(root, item_id) / "reports"
