"""The frozen, validated design of a dose/overlap study and its presets.

A design names what varies (doses, scan views, models, iterative solvers, seeds) and fixes
everything else (object, probe, training budget, solver iterations). Its SHA-256 digest is the
study's identity: every phase manifest records it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ptycho_nl.config import StrictModel, config_digest
from ptycho_nl.train.config import ScheduleConfig

ModelName = Literal["pinn", "supervised"]
SolverName = Literal["epie", "rpie", "lsqml"]
ObjectKind = Literal["procedural", "camera_moon"]


class ViewSpec(StrictModel):
    """A scan view: a name and the linear overlap asked of the simulator (measured later)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="View name, e.g. dense or sparse.")
    overlap: float = Field(gt=0.0, lt=1.0, description="Requested linear probe overlap in (0, 1).")


class StudyDesign(StrictModel):
    """Everything a study needs; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    doses: list[PositiveFloat] = Field(min_length=1, description="Mean photons per pattern.")
    views: list[ViewSpec] = Field(min_length=1)
    models: list[ModelName] = Field(default_factory=list, description="Networks to train.")
    iterative: list[SolverName] = Field(default_factory=list, description="Iterative baselines.")
    seeds: list[int] = Field(default=[0], min_length=1, description="Training seeds.")
    object_kind: ObjectKind = Field(
        "procedural",
        description="procedural: texture everywhere, so the held-out region is as rich as the "
        "training one; camera_moon: scikit-image photographs (flat sky on the test side).",
    )
    object_size: PositiveInt = Field(128, description="Object side in pixels (square).")
    patch_size: PositiveInt = Field(32, description="Diffraction pattern / probe side N.")
    simulation_seed: int = 0
    epochs: PositiveInt = Field(4, description="Training epochs of the supervised network.")
    batch_size: PositiveInt = 16
    learning_rate: PositiveFloat = 2e-3
    pinn_gridsize: Literal[1, 2, 3] = Field(
        2,
        description="Neighbour groups of the PINN: 2 merges each 2x2 group on one canvas before "
        "the Poisson loss; 1 leaves each pattern alone, which does not determine its patch "
        "(finding NET-001); 3 merges 3x3 groups, a little better per epoch at ~1.8x its time "
        "(finding NET-007). The supervised network always trains on single patterns.",
    )
    pinn_epochs: PositiveInt = Field(60, description="Training epochs of the PINN.")
    # Both left out of the digest at their defaults (older designs keep theirs).
    pinn_learning_rate: PositiveFloat | None = Field(
        None,
        description="Peak learning rate of the PINN (None: `learning_rate`).",
        exclude_if=lambda v: v is None,
    )
    pinn_schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig,
        description="Learning-rate schedule of the PINN (`schedule` of its training config).",
        exclude_if=lambda v: v == ScheduleConfig(),
    )
    # The networks' shape; both left out of the digest at their defaults (older designs keep
    # theirs). The presets use the compact network of finding NET-003.
    channels: tuple[int, int, int] = Field(
        (32, 64, 128),
        description="Encoder widths of both networks (`model.channels`).",
        exclude_if=lambda v: tuple(v) == (32, 64, 128),
    )
    global_features: int = Field(
        0,
        ge=0,
        description="Width of the networks' dense bottleneck (`model.global_features`), which "
        "lets every diffraction pixel reach every object pixel (finding NET-003); 0: none.",
        exclude_if=lambda v: v == 0,
    )
    early_stop_patience: int = Field(
        0,
        ge=0,
        description="Both networks stop training after this many epochs without a lower "
        "validation loss (`early_stop_patience` of the training config; 0: never). The bundle "
        "keeps the best epoch either way; a run that stops early loses only a lower validation "
        "loss it would have reached later. Left out of the digest at 0.",
        exclude_if=lambda v: v == 0,
    )
    iterations: PositiveInt = Field(50, description="Iterations of each iterative solver.")
    network_data: Literal["region", "objects"] = Field(
        "region",
        description="What the networks train on: the training region of the study object, or "
        "a many-object set (`simulate/training_set.py`, the test object's images excluded) at "
        "the cell's dose and overlap; both are scored on the held-out region of the study object.",
    )
    training_objects: PositiveInt = Field(
        16, description="Objects in the many-object set (network_data = objects)."
    )
    hybrid: list[SolverName] = Field(
        default_factory=list,
        description="Solvers that refine each trained network's object (hybrid arms, compared "
        "as '<network>+<solver>'); empty: no hybrid arm.",
    )
    pretrained: list[str] = Field(
        default_factory=list,
        description="Shipped pretrained bundles (`ptycho-nl pretrained list`) scored beside the "
        "networks trained here, compared as '<model>-pretrained' (and refined by each `hybrid` "
        "solver): each goes to the one cell whose data it was trained on, and a name that fits "
        "no cell of the design is an error. Left out of the digest when empty.",
        exclude_if=lambda v: not v,
    )
    hybrid_iterations: PositiveInt = Field(
        10, description="Refinement passes of each hybrid arm (from the network's object)."
    )
    network_moment_rounds: NonNegativeInt = Field(
        0,
        description="Moment rounds applied to each network arm's stitched object (its coarse "
        "amplitude and phase from each pattern's total counts and centre of mass, "
        "`recon/moments.py`; skipped where the scan or dose cannot support them, as the arm's "
        "recon.json notes); 0: the network's object as is. Left out of the digest when 0.",
        exclude_if=lambda v: not v,
    )
    tiles_per_side: PositiveInt = Field(
        4, description="Test region split into k x k tiles for paired statistics."
    )

    @field_validator("doses")
    @classmethod
    def _distinct_doses(cls, doses: list[float]) -> list[float]:
        if len(set(doses)) != len(doses):
            raise ValueError(f"doses must be distinct, got {doses}")
        return doses

    @model_validator(mode="after")
    def _check(self) -> StudyDesign:
        names = [v.name for v in self.views]
        if len(set(names)) != len(names):
            raise ValueError(f"view names must be distinct, got {names}")
        if not self.models and not self.iterative and not self.pretrained:
            raise ValueError("a study needs at least one model, pretrained bundle or solver")
        if self.hybrid and not self.models and not self.pretrained:
            raise ValueError(
                "hybrid arms refine a network's object: list at least one model or pretrained bundle"
            )
        if len(set(self.pretrained)) != len(self.pretrained):
            raise ValueError(f"pretrained bundles must be distinct, got {self.pretrained}")
        if self.patch_size % 2:
            raise ValueError(f"patch_size must be even, got {self.patch_size}")
        if self.object_size < 3 * self.patch_size:
            raise ValueError(
                f"object_size {self.object_size} is too small for separate train and test regions of "
                f"{self.patch_size}-pixel patches (need >= {3 * self.patch_size})"
            )
        return self

    @property
    def digest(self) -> str:
        return config_digest(self)


DENSE = ViewSpec(name="dense", overlap=0.7)
SPARSE = ViewSpec(name="sparse", overlap=0.35)

# The compact network of finding NET-003: a quarter of the convolution work of (32, 64, 128),
# and a dense bottleneck that lets every diffraction pixel reach every object pixel; it trains
# as fast and scores as well or better on the held-out region at 1e3-1e5 photons.
COMPACT_CHANNELS = (16, 32, 64)
COMPACT_DENSE = 256
# The PINN's schedule of finding NET-004: a cosine decay from 3e-3 after 3 warm-up epochs ends
# its 60 epochs converged (held-out NRMSE 0.206 at 1e5 on the dense view) where a constant 2e-3
# ends wherever rounding left the trajectory (0.200 before the channels-last layout, 0.252 after).
PINN_LEARNING_RATE = 3e-3
PINN_SCHEDULE = ScheduleConfig(name="cosine", warmup_epochs=3, min_lr_factor=0.05)

PRESETS: dict[str, StudyDesign] = {
    # Minutes on 2 CPU cores: two doses, two views, both networks, ePIE, each network + ePIE.
    "demo": StudyDesign(
        name="demo",
        doses=[1e3, 1e5],
        views=[DENSE, SPARSE],
        models=["pinn", "supervised"],
        iterative=["epie"],
        hybrid=["epie"],
        object_size=256,
        patch_size=32,
        epochs=20,
        pinn_epochs=60,
        pinn_learning_rate=PINN_LEARNING_RATE,
        pinn_schedule=PINN_SCHEDULE,
        batch_size=16,
        channels=COMPACT_CHANNELS,
        global_features=COMPACT_DENSE,
        # The dense 1e3 PINN's validation loss bottoms out by epoch ~35 of 60 and rises after
        # (it fits the noise, at the constant object's floor either way): stopped, it saves
        # ~28 of its epochs (docs/performance.md, finding NET-006).
        early_stop_patience=10,
        # The same PINN on the dense 1e5 cell trained for 120 epochs (docs/study.md).
        pretrained=["demo-pinn-d1e5-dense"],
        # One moment round on each network's object: on the dense view at 1e5 the PINN's
        # held-out phase SSIM goes from 0.19 to 0.35 (docs/performance.md, "Coarse phase from
        # the data's moments"); the other cells skip it (photon noise or scan spacing).
        network_moment_rounds=1,
        iterations=40,
        tiles_per_side=4,
    ),
    # Tens of minutes on CPU: four doses, three solvers.
    "small": StudyDesign(
        name="small",
        doses=[1e3, 1e4, 1e5, 1e6],
        views=[DENSE, SPARSE],
        models=["pinn", "supervised"],
        iterative=["epie", "lsqml"],
        hybrid=["epie"],
        object_size=256,
        patch_size=32,
        epochs=20,
        pinn_epochs=60,
        pinn_learning_rate=PINN_LEARNING_RATE,
        pinn_schedule=PINN_SCHEDULE,
        channels=COMPACT_CHANNELS,
        global_features=COMPACT_DENSE,
        iterations=100,
    ),
    # GPU-sized: the full grid at N = 64 with three seeds.
    "paper": StudyDesign(
        name="paper",
        doses=[1e3, 1e4, 1e5, 1e6],
        views=[DENSE, SPARSE],
        models=["pinn", "supervised"],
        iterative=["epie", "rpie", "lsqml"],
        hybrid=["epie", "lsqml"],
        seeds=[0, 1, 2],
        object_size=512,
        patch_size=64,
        epochs=50,
        pinn_epochs=150,
        batch_size=32,
        channels=COMPACT_CHANNELS,
        global_features=COMPACT_DENSE,
        iterations=200,
        tiles_per_side=6,
    ),
}
