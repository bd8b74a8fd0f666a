"""Pretrained bundles shipped with the package: their index and loading them, hash checked.

A shipped bundle is a network trained longer than a demo can afford, on exactly one study cell's
simulated data (its `data`: the cell's generate parameters). `index.json` beside this module
records, for each bundle, its file, SHA-256 and size, the one-cell study design that trained it
(`recipe`), the held-out metrics that study measured, and the command that made it
(`ptycho-nl pretrained make NAME`, `pretrained/make.py`). Nothing here unpickles: a bundle is
safetensors in a zip, and `load_pretrained` refuses a file whose hash is not the index's.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveInt

from ptycho_nl.config import StrictModel
from ptycho_nl.errors import BundleError
from ptycho_nl.study.design import ModelName, StudyDesign
from ptycho_nl.study.job_kinds import GenerateParams

PACKAGE_DIR = Path(__file__).resolve().parent
INDEX_FILE = "index.json"
NAME_PATTERN = r"^[a-z][a-z0-9-]*$"


class HeldOutMetrics(StrictModel):
    """What the recipe's study measured of the bundle's network on the cell's held-out region."""

    nrmse: float
    phase_ssim: float
    amplitude_ssim: float


class PretrainedEntry(StrictModel):
    """One shipped bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.zip$", description="Beside index.json.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: PositiveInt
    model: ModelName
    data: GenerateParams = Field(description="The one study cell it was trained on.")
    recipe: StudyDesign = Field(description="The one-cell study that trained it.")
    epochs_trained: PositiveInt
    training_seconds: NonNegativeFloat
    metrics: HeldOutMetrics
    made_with: dict[str, str] = Field(description="torch version, CPU capability, date.")
    command: str

    @property
    def method(self) -> str:
        """How a study compares it: '<model>-pretrained' (its hybrid arms add '+<solver>')."""
        return f"{self.model}-pretrained"


class PretrainedIndex(StrictModel):
    """`index.json`: name -> entry."""

    bundles: dict[str, PretrainedEntry] = Field(default_factory=dict)


def load_index(directory: Path = PACKAGE_DIR) -> PretrainedIndex:
    """The index of `directory` (an empty index when it has none)."""
    path = Path(directory) / INDEX_FILE
    if not path.is_file():
        return PretrainedIndex()
    return PretrainedIndex.model_validate_json(path.read_text(encoding="utf-8"))


def find_entry(name: str, directory: Path = PACKAGE_DIR) -> PretrainedEntry:
    """The entry named `name`; BundleError naming the shipped ones when there is none."""
    index = load_index(directory)
    if name not in index.bundles:
        known = ", ".join(sorted(index.bundles)) or "none"
        raise BundleError(
            f"no pretrained bundle {name!r} in {Path(directory) / INDEX_FILE} (shipped: {known})"
        )
    return index.bundles[name]


def bundle_file(entry: PretrainedEntry, directory: Path = PACKAGE_DIR) -> Path:
    return Path(directory) / entry.file


def load_pretrained(name: str, directory: Path = PACKAGE_DIR):
    """The shipped bundle `name` (train.bundle.Bundle), its SHA-256 checked against the index."""
    from ptycho_nl.train.bundle import load_bundle

    entry = find_entry(name, directory)
    return load_bundle(bundle_file(entry, directory), expected_sha256=entry.sha256)
