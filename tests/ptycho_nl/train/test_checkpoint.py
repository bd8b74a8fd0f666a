"""Checkpoints load with weights_only=True and restore every RNG exactly."""

import random

import numpy as np
import pytest
import torch

from ptycho_nl.errors import PtychoError
from ptycho_nl.train.checkpoint import CHECKPOINT_KEYS, load_checkpoint, save_checkpoint
from ptycho_nl.train.seeding import capture_rng_state, restore_rng_state, seed_everything


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


def test_checkpoint_round_trip_restores_model_optimizer_and_rngs(tmp_path):
    seed_everything(3)
    model = torch.nn.Linear(3, 3)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(
        tmp_path / "last_model.pt",
        model_state_dict=model.state_dict(),
        optimizer_state_dict=opt.state_dict(),
        scheduler_state_dict={},
        epoch=4,
        val_loss=0.5,
        best_val_loss=0.4,
        config_digest="a" * 64,
        rng_state=capture_rng_state(),
    )
    expected = draws()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    # torch.load(weights_only=True) inside load_checkpoint: no pickled objects needed
    state = load_checkpoint(path)
    assert set(CHECKPOINT_KEYS) <= set(state)
    assert torch.load(path, weights_only=True)["epoch"] == 4
    restore_rng_state(state["rng_state"])
    assert draws() == expected
    clone = torch.nn.Linear(3, 3)
    clone.load_state_dict(state["model_state_dict"])
    assert torch.equal(clone.weight, model.weight)
    opt2 = torch.optim.Adam(clone.parameters())
    opt2.load_state_dict(state["optimizer_state_dict"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )


def test_incomplete_checkpoints_are_refused(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        save_checkpoint(tmp_path / "x.pt", epoch=1)
    torch.save({"epoch": 1}, tmp_path / "partial.pt")
    with pytest.raises(PtychoError, match="lacks model_state_dict"):
        load_checkpoint(tmp_path / "partial.pt")


def test_unsafe_pickles_are_refused(tmp_path):
    torch.save({"payload": object()}, tmp_path / "evil.pt")
    with pytest.raises(PtychoError, match="cannot load checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
