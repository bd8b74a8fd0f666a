"""The model registry: names, construction, and the message for an unknown name."""

import pytest
import torch

from ptycho_nl.errors import ConfigError
from ptycho_nl.models import (
    ModelFamily,
    TaskInputs,
    available_models,
    build_model,
    model_family,
    prepare_task,
    register,
    register_family,
    unregister,
)
from ptycho_nl.models.pinn import PINN
from ptycho_nl.models.supervised import Supervised


def test_builtin_models_are_registered():
    assert {"pinn", "supervised"} <= set(available_models())
    assert isinstance(build_model("pinn", n=32), PINN)
    assert isinstance(build_model("supervised", n=32), Supervised)


def test_unknown_model_names_the_valid_choices():
    with pytest.raises(ConfigError, match=r"unknown model 'unet'.*pinn.*supervised"):
        build_model("unet")


def test_a_name_cannot_be_registered_twice_to_another_class():
    with pytest.raises(ValueError, match="already registered"):
        register("pinn")(type("Other", (torch.nn.Module,), {}))


def test_model_kwargs_rebuild_an_identical_network():
    torch.manual_seed(0)
    model = build_model("pinn", n=32, channels=(8, 16, 32), amp_max=1.5)
    clone = build_model("pinn", **model.model_kwargs)
    clone.load_state_dict(model.state_dict())
    x = torch.rand(2, 32, 32)
    assert torch.equal(model(x), clone(x))


def test_builtin_families_train_through_the_patch_task():
    from ptycho_nl.models.patch_task import prepare_patch_task

    for name in ("pinn", "supervised"):
        family = model_family(name)
        assert family.name == name and family.prepare is prepare_patch_task


def test_a_family_without_a_training_task_cannot_be_trained(tmp_path):
    register_family(ModelFamily(name="build_only", build=torch.nn.Identity))
    try:
        assert isinstance(build_model("build_only"), torch.nn.Identity)
        inputs = TaskInputs(config=None, data_path=tmp_path, device=torch.device("cpu"))
        with pytest.raises(ConfigError, match="'build_only' has no training task"):
            prepare_task("build_only", inputs)
    finally:
        unregister("build_only")
    assert "build_only" not in available_models()
