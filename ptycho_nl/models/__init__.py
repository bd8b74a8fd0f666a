"""Networks behind a registry of model families (`ptycho_nl.models.registry`).

Importing the package registers the built-in families `pinn` and `supervised` (patch networks
trained through `ptycho_nl.models.patch_task`) and `nested` (`ptycho_nl.models.nested`).
"""

from ptycho_nl.models import nested, pinn, supervised  # noqa: F401  (registration side effect)
from ptycho_nl.models.backbone import LossContext, PatchNet
from ptycho_nl.models.registry import (
    ModelFamily,
    StepOutput,
    TaskInputs,
    TrainingTask,
    available_models,
    build_model,
    model_family,
    prepare_task,
    register,
    register_family,
    unregister,
)

__all__ = [
    "LossContext",
    "ModelFamily",
    "PatchNet",
    "StepOutput",
    "TaskInputs",
    "TrainingTask",
    "available_models",
    "build_model",
    "model_family",
    "prepare_task",
    "register",
    "register_family",
    "unregister",
]
