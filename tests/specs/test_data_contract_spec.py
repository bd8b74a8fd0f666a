"""specs/data_contracts.md against the code: the key table, sections and HDF5 layout, both ways.

The spec's tables are parsed from the Markdown; the code's contract is `CONTRACT`, the messages
of `validate_arrays` and the dataset paths of `ptycho_nl.data.hdf5`.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from ptycho_nl.data import contract, hdf5
from ptycho_nl.data.contract import CONTRACT, validate_arrays

SPEC = Path(__file__).resolve().parents[2] / "specs" / "data_contracts.md"
TEXT = SPEC.read_text(encoding="utf-8")
CODE_DIR = Path(contract.__file__).parent


def table_after(heading: str) -> list[list[str]]:
    """Rows (cells stripped of backticks) of the first Markdown table under `heading`."""
    section = TEXT.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("## ") and rows:
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # drop the header


def spec_keys() -> dict[str, tuple[str, str, str, str]]:
    header = table_after("## §2 Keys")
    return {
        key: (required, shape, dtype, meaning) for key, required, shape, dtype, meaning in header
    }


def test_spec_table_equals_code_contract_both_directions():
    spec = spec_keys()
    code = {s.key: (s.required, s.shape, s.dtype, s.meaning) for s in CONTRACT}
    assert set(spec) - set(code) == set(), "keys in the spec missing from CONTRACT"
    assert set(code) - set(spec) == set(), "keys in CONTRACT missing from the spec"
    for key in spec:
        assert spec[key] == code[key], key
    assert list(spec) == [s.key for s in CONTRACT]  # the written file order is the table order


def test_every_section_the_code_cites_exists_and_every_section_is_cited():
    headings = set(re.findall(r"^## (§\d+) ", TEXT, flags=re.M))
    sources = "".join(p.read_text() for p in CODE_DIR.glob("*.py"))
    cited = set(re.findall(r"§\d+", sources))
    assert cited <= headings, f"code cites sections the spec lacks: {cited - headings}"
    assert headings <= cited, f"spec sections no code enforces: {headings - cited}"


@pytest.fixture(scope="module")
def valid_arrays(tmp_path_factory):
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    path = simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("spec") / "tiny.npz")
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _shape_matches(pattern: str, shape: tuple[int, ...], dims: dict[str, int]) -> bool:
    names = [s.strip() for s in pattern.strip("()").split(",") if s.strip()]
    return len(names) == len(shape) and all(
        dims.setdefault(name, size) == size for name, size in zip(names, shape, strict=True)
    )


MEASURED_ONLY = ("mask", "background")  # detector keys (§6): simulated files have none


def test_written_files_follow_the_spec_table(valid_arrays):
    spec = {k: v for k, v in spec_keys().items() if k not in MEASURED_ONLY}
    assert list(valid_arrays) == list(spec)  # simulated files carry every other key, in order
    dims: dict[str, int] = {}
    for key, (_, shape, dtype, _) in spec.items():
        arr = valid_arrays[key]
        found = "str" if arr.dtype.kind == "U" else str(arr.dtype)
        assert found == dtype, key
        assert _shape_matches(shape, arr.shape, dims), (key, shape, arr.shape)


def test_required_column_is_what_the_validator_enforces(valid_arrays):
    for key, (required, *_rest) in spec_keys().items():
        without = {k: v for k, v in valid_arrays.items() if k != key}
        problems = validate_arrays(without, "f.npz")
        if required == "yes":
            assert any(f"key '{key}'" in p and "found missing" in p for p in problems), key
        elif key == "objectGuess":  # supervised: required together with Y
            assert any("expected with 'Y'" in p for p in problems)
        else:
            assert problems == [], (key, problems)


def test_spec_dtype_column_is_enforced(valid_arrays):
    for key, (_, _, dtype, _) in spec_keys().items():
        if dtype == "str":
            continue
        side = valid_arrays["diffraction"].shape[-1]
        # Keys simulated files lack take the first shape their row allows.
        shape = np.shape(valid_arrays[key]) if key in valid_arrays else (side, side)
        wrong = np.zeros(shape, dtype=np.int8 if dtype != "int64" else np.float32)
        problems = validate_arrays({**valid_arrays, key: wrong}, "f.npz")
        assert any(f"key '{key}': expected shape" in p and dtype in p for p in problems), key


def test_hdf5_layout_table_matches_reader():
    spec_paths = {row[0] for row in table_after("## §5 HDF5")}
    code_paths = {
        hdf5.DATA,
        hdf5.PROBES[0],
        hdf5.ENERGY,
        hdf5.DISTANCE,
        hdf5.PIXEL,
        hdf5.TRANSLATION,
    }
    assert spec_paths == code_paths
