"""The trainer takes a model family it has never seen, through the registry alone.

The family is defined here, not in the library: a tiny recurrent language model trained on
token chunks, whose hidden state is carried from one chunk to the next (the shape of a
nested-learning model with fast-weight memory). It goes through the unchanged `train()`:
the loss falls, checkpoints and a bundle are written, and a resumed run matches an
uninterrupted one.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ptycho_nl.models.registry import (
    ModelFamily,
    StepOutput,
    TaskInputs,
    TrainingTask,
    register_family,
    unregister,
)
from ptycho_nl.train import TrainConfig, load_bundle, train

NAME = "test_recurrent"
VOCAB, CHUNK = 5, 8
# After a 0 comes 1 or 3 depending on the token two steps back: a model without memory of the
# past cannot predict it, one that carries its state can.
PATTERN = [0, 1, 2, 0, 3, 4]


class TinyRecurrent(nn.Module):
    """Embedding -> GRU -> logits; `state` is the GRU's hidden state (1, B, H) or None."""

    def __init__(self, *, vocab: int, hidden: int):
        super().__init__()
        self.model_kwargs = {"vocab": vocab, "hidden": hidden}
        self.embed = nn.Embedding(vocab, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self.fresh_state_calls: list[bool] = []  # test instrumentation: one flag per step call

    def forward(self, tokens, state=None):
        features, state = self.gru(self.embed(tokens), state)
        return self.head(features), state


def _chunks(tokens: np.ndarray, streams: int) -> list[dict[str, torch.Tensor]]:
    """Batch k holds chunk k of each of `streams` parallel streams, so row r of batch k+1
    continues row r of batch k and the carried state stays meaningful (truncated BPTT)."""
    x, y = torch.from_numpy(tokens[:-1]), torch.from_numpy(tokens[1:])
    length = (len(x) // (streams * CHUNK)) * CHUNK
    x, y = x[: streams * length].view(streams, length), y[: streams * length].view(streams, length)
    return [{"x": x[:, t : t + CHUNK], "y": y[:, t : t + CHUNK]} for t in range(0, length, CHUNK)]


def prepare(inputs: TaskInputs) -> TrainingTask:
    cfg = inputs.config
    with np.load(inputs.data_path) as arrays:
        train_tokens, val_tokens = arrays["train"], arrays["val"]
    model = TinyRecurrent(vocab=VOCAB, hidden=16).to(inputs.device)
    train_set = _chunks(train_tokens, cfg.batch_size)
    val_set = _chunks(val_tokens, cfg.batch_size)

    def step(model, batch, state):
        model.fresh_state_calls.append(state is None)
        logits, state = model(batch["x"], state)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch["y"].reshape(-1))
        # The state flows to the next chunk, its gradient history does not.
        logs = {"perplexity": loss.detach().exp()}
        return StepOutput(loss, state.detach(), logs, batch["x"].numel())

    return TrainingTask(
        model=model,
        step=step,
        train_batches=lambda epoch: iter(train_set),
        val_batches=lambda: iter(val_set),
        steps_per_epoch=len(train_set),
        bundle_meta={"vocab": VOCAB, "chunk": CHUNK},
    )


@pytest.fixture(scope="module", autouse=True)
def recurrent_family():
    register_family(ModelFamily(name=NAME, build=TinyRecurrent, prepare=prepare))
    yield
    unregister(NAME)


@pytest.fixture(scope="module")
def tokens_npz(tmp_path_factory):
    sequence = np.tile(PATTERN, 200)
    path = tmp_path_factory.mktemp("tokens") / "tokens.npz"
    # The validation stream starts at another phase of the pattern.
    np.savez(path, train=sequence[: 6 * 130].astype(np.int64), val=sequence[3:].astype(np.int64))
    return path


def config(**updates) -> TrainConfig:
    base = {
        "model": {"name": NAME},
        "epochs": 4,
        "batch_size": 4,
        "optimizer": {"lr": 2e-2},
        "device": "cpu",
        "telemetry": {"log_every_steps": 5},
    }
    return TrainConfig.model_validate({**base, **updates})


@pytest.fixture(scope="module")
def recurrent_run(tokens_npz, tmp_path_factory):
    return train(config(), tokens_npz, tmp_path_factory.mktemp("runs") / "rnn", progress=False)


def test_an_unknown_family_trains_and_its_loss_falls(recurrent_run):
    assert recurrent_run.status == "completed", recurrent_run.error
    losses = [e["train_loss"] for e in recurrent_run.epochs]
    assert len(losses) == 4 and losses[-1] < 0.5 * losses[0], losses
    assert recurrent_run.epochs[-1]["val_loss"] < 0.5 * losses[0]
    events = (recurrent_run.run_dir / "logs/events.jsonl").read_text().splitlines()
    steps = [json.loads(x) for x in events if '"kind": "step"' in x]
    assert steps and all(e["perplexity"] >= 1.0 for e in steps)  # the family's own logs


def test_the_trainer_carries_the_family_state_between_batches(recurrent_run, tokens_npz):
    flags = recurrent_run.model.fresh_state_calls
    with np.load(tokens_npz) as arrays:
        train_steps = len(_chunks(arrays["train"], 4))
        val_steps = len(_chunks(arrays["val"], 4))
    assert train_steps > 1 and val_steps > 1 and recurrent_run.epochs[0]["steps"] == train_steps
    epoch_calls = train_steps + val_steps
    assert len(flags) == 4 * epoch_calls
    for epoch in range(4):
        calls = flags[epoch * epoch_calls : (epoch + 1) * epoch_calls]
        # fresh state at the start of the epoch and of validation, carried everywhere else
        assert calls[0] and not any(calls[1:train_steps])
        assert calls[train_steps] and not any(calls[train_steps + 1 :])


def test_checkpoints_and_bundle_rebuild_the_model(recurrent_run):
    run = recurrent_run.run_dir
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {
        "best_model.pt",
        "last_model.pt",
        "checkpoint_epoch_4.pt",
    }
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["model_name"] == NAME
    bundle = load_bundle(recurrent_run.bundle_path, expected_sha256=manifest["bundle_sha256"])
    assert isinstance(bundle.model, TinyRecurrent)
    assert bundle.meta["vocab"] == VOCAB
    assert bundle.meta["model_kwargs"] == {"vocab": VOCAB, "hidden": 16}
    tokens = torch.tensor([PATTERN * 2])
    with torch.no_grad():
        assert torch.equal(bundle.model(tokens)[0], recurrent_run.model(tokens)[0])


def test_a_budget_stopped_run_resumes_to_the_same_model(recurrent_run, tokens_npz, tmp_path):
    first = train(config(), tokens_npz, tmp_path / "split", stop_after_epoch=2, progress=False)
    assert first.status == "stopped_budget" and len(first.epochs) == 2
    assert not (tmp_path / "split/bundle.zip").exists()
    resumed = train(config(), tokens_npz, tmp_path / "split", resume=True, progress=False)
    assert resumed.status == "completed", resumed.error
    assert [e["train_loss"] for e in resumed.epochs] == [
        e["train_loss"] for e in recurrent_run.epochs
    ]
    assert resumed.manifest["bundle_sha256"] == recurrent_run.manifest["bundle_sha256"]
