"""The import map of docs/architecture.md is the code's: dependencies point one way.

Every `import` in `ptycho_nl/` and `tools/` is read with `ast` (imports inside functions too), so
a lazy import cannot hide a dependency that goes the wrong way.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
LAYER_LINE = re.compile(r"^\s*(\d+)\s+[a-z -]+?\s{2,}((?:ptycho_nl[.\w]*\s*)+)$")


def _layers() -> dict[str, int]:
    """unit -> layer, from the fenced import map in docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```text\nptycho_nl layers", 1)[1].split("```", 1)[0]
    layers = {}
    for line in block.splitlines():
        match = LAYER_LINE.match(line)
        if match:
            for unit in match.group(2).split():
                layers[unit] = int(match.group(1))
    assert layers, "docs/architecture.md has no import map"
    return layers


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(name: str) -> str:
    """ptycho_nl.recon.pie -> ptycho_nl.recon; tools.plan.cli -> tools.plan; torch.fft -> torch."""
    parts = name.split(".")
    return (
        ".".join(parts[:2]) if parts[0] in ("ptycho_nl", "tools") and len(parts) > 1 else parts[0]
    )


def _imports(path: Path, units: set[str]) -> set[str]:
    """The units a module imports (absolute imports; `from pkg import sub` counts as pkg.sub)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_unit(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(_unit(node.module))
            if node.module in ("ptycho_nl", "tools"):
                found |= {f"{node.module}.{a.name}" for a in node.names} & units
    return found


def _graph(package: str, units: set[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        graph.setdefault(_unit(_module_name(path)), set()).update(_imports(path, units))
    return graph


def _ptycho_units() -> set[str]:
    pkg = ROOT / "ptycho_nl"
    return {
        f"ptycho_nl.{p.stem if p.is_file() else p.name}"
        for p in pkg.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }


def test_the_map_names_every_unit_of_the_library_and_nothing_else():
    assert set(_layers()) == _ptycho_units()


def test_library_imports_point_down_the_layers():
    layers = _layers()
    wrong = []
    for unit, targets in _graph("ptycho_nl", set(layers)).items():
        if unit == "ptycho_nl":
            continue  # the package's own __init__ (its version string)
        for target in targets:
            if target in layers and layers[target] > layers[unit]:
                wrong.append(f"{unit} (layer {layers[unit]}) imports {target} ({layers[target]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_physics_and_data_import_nothing_above_them():
    layers = _layers()
    graph = _graph("ptycho_nl", set(layers))
    below_data = {u for u, layer in layers.items() if layer <= layers["ptycho_nl.data"]}
    for unit in ("ptycho_nl.physics", "ptycho_nl.operators", "ptycho_nl.data"):
        library = {t for t in graph[unit] if t.startswith("ptycho_nl.")}
        assert library <= below_data - ({"ptycho_nl.data"} if unit != "ptycho_nl.data" else set())
    assert {t for t in graph["ptycho_nl.operators"] if t.startswith("ptycho_nl")} <= {
        "ptycho_nl.operators"
    }


def test_only_the_command_line_uses_tools_and_only_its_output_contract():
    graph = _graph("ptycho_nl", _ptycho_units())
    users = {unit: {t for t in targets if t.startswith("tools")} for unit, targets in graph.items()}
    assert {unit for unit, used in users.items() if used} <= {"ptycho_nl.cli"}
    assert users["ptycho_nl.cli"] <= {"tools.common"}
    for path in (ROOT / "ptycho_nl" / "cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tools"):
                assert node.module == "tools.common.output", f"{path.name}: {node.module}"


def test_tools_never_imports_torch_and_only_io_utils_of_the_library():
    graph = _graph("tools", _ptycho_units())
    for unit, targets in graph.items():
        assert "torch" not in targets, unit
        # tools.gates alone may use the library's gates (and their torch-free exception types),
        # and only lazily (checked below)
        gates = {"ptycho_nl.gates", "ptycho_nl.errors"} if unit == "tools.gates" else set()
        allowed = {"ptycho_nl.io_utils"} | gates
        assert {t for t in targets if t.startswith("ptycho_nl")} <= allowed, unit
    assert {t for t in graph["tools.common"] if t.startswith("tools.")} <= {"tools.common"}


def test_tools_imports_the_gates_only_inside_functions():
    """`ptycho_nl.gates` loads torch: tools imports it inside the gate/readiness commands only."""
    eager = []
    for path in sorted((ROOT / "tools").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = {
            id(node)
            for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(fn)
        }
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n.startswith("ptycho_nl.gates") for n in names) and id(node) not in inside:
                eager.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not eager, "module-level import of ptycho_nl.gates: " + ", ".join(eager)
