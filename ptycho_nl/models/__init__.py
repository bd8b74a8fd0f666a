"""Reconstruction networks behind a registry (`ptycho_nl.models.registry`).

Importing the package registers the built-in models: `pinn` and `supervised`.
"""

from ptycho_nl.models import pinn, supervised  # noqa: F401  (registration side effect)
from ptycho_nl.models.backbone import LossContext, PatchNet
from ptycho_nl.models.registry import available_models, build_model, model_class, register

__all__ = ["LossContext", "PatchNet", "available_models", "build_model", "model_class", "register"]
