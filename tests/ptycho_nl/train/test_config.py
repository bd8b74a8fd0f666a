"""TrainConfig: validation messages, canonical digest of the full tree, presets."""

import json

import pytest

from ptycho_nl.config import canonical_json, config_digest
from ptycho_nl.errors import ConfigError
from ptycho_nl.train import PRESET_CONFIGS, TrainConfig, default_config
from ptycho_nl.train.loop import resolve_config


def test_digest_covers_every_nested_field():
    base = TrainConfig()
    assert base.digest == config_digest(json.loads(canonical_json(base)))
    changed = [
        base.model_copy(update={"epochs": 6}),
        TrainConfig.model_validate({"sentinel": {"grad_clip_norm": 5.0}}),
        TrainConfig.model_validate({"data": {"gridsize": 2}}),
        TrainConfig.model_validate({"telemetry": {"log_every_steps": 3}}),
    ]
    assert len({base.digest, *(c.digest for c in changed)}) == 5


def test_unknown_and_invalid_fields_are_named(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"epochs": 0, "optimiser": {}}))
    with pytest.raises(ConfigError) as info:
        resolve_config(path)
    assert str(path) in str(info.value)
    assert "epochs" in str(info.value) and "optimiser" in str(info.value)


def test_default_config_and_presets():
    cfg = default_config("supervised", epochs=2, batch_size=8)
    assert (cfg.model.name, cfg.epochs, cfg.batch_size) == ("supervised", 2, 8)
    assert PRESET_CONFIGS["tiny"].epochs == 3
    assert resolve_config(cfg.model_dump()).digest == cfg.digest


def test_network_shape_options_change_the_digest_only_when_set():
    plain = default_config("pinn")
    assert "global_features" not in plain.model_dump()["model"]  # earlier digests still hold
    assert "input_transform" not in plain.model_dump()["model"]
    shaped = TrainConfig.model_validate(
        {**plain.model_dump(), "model": {"name": "pinn", "global_features": 64}}
    )
    assert shaped.model.global_features == 64
    assert config_digest(shaped) != config_digest(plain)


def test_batch_order_changes_the_digest_only_when_local():
    plain = default_config("pinn")
    assert "batch_order" not in plain.model_dump()["data"]  # earlier digests still hold
    local = default_config("pinn", data={"gridsize": 2, "batch_order": "local"})
    assert local.model_dump()["data"]["batch_order"] == "local"
    assert config_digest(local) != config_digest(default_config("pinn", data={"gridsize": 2}))
    with pytest.raises(ValueError, match="batch_order"):
        default_config("pinn", data={"batch_order": "spiral"})
