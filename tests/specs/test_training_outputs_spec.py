"""specs/training_outputs.md against what real tiny runs write, in both directions."""

import json
import re
import zipfile
from pathlib import Path

import pytest
import torch

from ptycho_nl.train import PRESET_CONFIGS, TrainConfig, train

SPEC = Path(__file__).resolve().parents[2] / "specs" / "training_outputs.md"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|(.*)\|\s*$")
PLACEHOLDERS = {"<k>": r"[0-9]+", "<UTC>": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}[0-9]*Z"}


def spec_rows() -> list[dict]:
    rows = []
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            path, fmt, when, fields = m.groups()
            rows.append(
                {
                    "path": path,
                    "format": fmt,
                    "when": when,
                    "fields": re.findall(r"`([^`]+)`", fields),
                }
            )
    return rows


def pattern(path: str) -> re.Pattern:
    regex = re.escape(path)
    for name, sub in PLACEHOLDERS.items():
        regex = regex.replace(re.escape(name), sub)
    return re.compile(f"^{regex}$")


def written(run: Path) -> set[str]:
    files = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    if (run / "bundle.zip").exists():
        with zipfile.ZipFile(run / "bundle.zip") as zf:
            files |= {f"bundle.zip:{name}" for name in zf.namelist()}
    return files


def read_member(run: Path, rel: str) -> bytes:
    if ":" in rel:
        archive, member = rel.split(":", 1)
        with zipfile.ZipFile(run / archive) as zf:
            return zf.read(member)
    return (run / rel).read_bytes()


def check_fields(run: Path, rel: str, row: dict) -> None:
    fmt, fields = row["format"], row["fields"]
    if fmt == "json":
        assert sorted(json.loads(read_member(run, rel))) == sorted(fields), rel
    elif fmt == "torch":
        assert sorted(torch.load(run / rel, weights_only=True)) == sorted(fields), rel
    elif fmt == "jsonl":
        lines = [json.loads(x) for x in read_member(run, rel).decode().splitlines()]
        assert lines and all(set(fields) <= set(x) for x in lines), rel
    elif fmt == "text":
        lines = read_member(run, rel).decode().splitlines()
        assert lines and all(all(f in line for f in fields) for line in lines), rel
    elif fmt == "zip":
        with zipfile.ZipFile(run / rel) as zf:
            assert sorted(zf.namelist()) == sorted(fields), rel
    elif fmt != "safetensors":
        pytest.fail(f"unknown format {fmt!r} in the spec")


def compare(run: Path, expected_when: set[str]) -> None:
    rows = spec_rows()
    files = written(run)
    # every file written is described by a row ...
    for rel in files:
        if rel.startswith("bundle.zip:") and rel.endswith(".safetensors"):
            continue  # the weights member is named in the bundle.zip row's fields
        matches = [r for r in rows if pattern(r["path"]).match(rel)]
        assert matches, f"{rel} is written but not in {SPEC.name}"
        check_fields(run, rel, matches[0])
    # ... and every row that applies is written
    for row in rows:
        if row["when"] in expected_when:
            assert any(pattern(row["path"]).match(f) for f in files), f"{row['path']} missing"


def config(**updates) -> TrainConfig:
    return TrainConfig.model_validate({**PRESET_CONFIGS["tiny"].model_dump(), **updates})


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny runs are fastest on one thread on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    return simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("data") / "tiny.npz")


def test_spec_table_parses():
    rows = spec_rows()
    assert len(rows) >= 10 and {r["when"] for r in rows} <= {
        "always",
        "epoch",
        "completed",
        "failure",
        "checkpoint_every",
    }


def test_completed_run_matches_the_spec(tiny_npz, tmp_path):
    result = train(config(epochs=2), tiny_npz, tmp_path / "run", progress=False)
    assert result.status == "completed", result.error
    compare(tmp_path / "run", {"always", "epoch", "completed", "checkpoint_every"})


def test_failed_run_matches_the_spec(tiny_npz, tmp_path):
    raw = PRESET_CONFIGS["tiny"].model_dump()
    raw["optimizer"]["lr"] = 1e30  # diverges for real: the sentinel writes a failure record
    result = train(TrainConfig.model_validate(raw), tiny_npz, tmp_path / "run", progress=False)
    assert result.status == "failed" and result.epochs == []  # stopped inside epoch 1
    compare(tmp_path / "run", {"always", "failure"})


def test_budget_stopped_run_matches_the_spec(tiny_npz, tmp_path):
    result = train(config(epochs=2), tiny_npz, tmp_path / "run", stop_after_epoch=1, progress=False)
    assert result.status == "stopped_budget" and len(result.epochs) == 1
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["status"] == "stopped_budget" and manifest["epochs_completed"] == 1
    assert "resume to continue" in manifest["error"]
    compare(tmp_path / "run", {"always", "epoch", "checkpoint_every"})
    assert not (tmp_path / "run/bundle.zip").exists()
