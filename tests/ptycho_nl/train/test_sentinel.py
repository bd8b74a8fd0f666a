"""The failure sentinel with real injected failures: NaN loss/parameters/gradients, OOM loops."""

import json

import pytest
import torch

from ptycho_nl.train.sentinel import Sentinel, TrainingFailure


def make(tmp_path, **kwargs):
    events = []
    sentinel = Sentinel(
        tmp_path / "failures",
        config_digest="d" * 64,
        on_event=lambda kind, **f: events.append((kind, f)),
        **kwargs,
    )
    torch.manual_seed(0)
    return sentinel, torch.nn.Linear(4, 2), events


def records(tmp_path):
    files = list((tmp_path / "failures").glob("*.jsonl"))
    assert len(files) == 1
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def test_nan_loss_stops_with_a_failure_record(tmp_path):
    sentinel, model, _ = make(tmp_path)
    with (
        pytest.raises(TrainingFailure, match="nan_loss at step 7"),
        sentinel.monitor(7, model) as watch,
    ):
        loss = model(torch.full((3, 4), float("nan"))).sum()
        watch.loss = loss
        loss.backward()
    (rec,) = records(tmp_path)
    assert rec["kind"] == "nan_loss" and rec["step"] == 7 and rec["config_digest"] == "d" * 64


def test_nan_parameter_is_caught_on_entry(tmp_path):
    sentinel, model, _ = make(tmp_path)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    with pytest.raises(TrainingFailure, match="nan_parameter"), sentinel.monitor(3, model):
        pytest.fail("the body must not run with a non-finite parameter")
    assert "weight" in records(tmp_path)[0]["detail"]


def test_nan_gradient_with_a_finite_loss_is_caught(tmp_path):
    sentinel, model, _ = make(tmp_path)
    with (
        pytest.raises(TrainingFailure, match="nan_gradient"),
        sentinel.monitor(1, model) as watch,
    ):
        # sqrt at 0 has an infinite derivative: the loss is finite, its gradient is not.
        loss = torch.sqrt((model.weight * 0).sum())
        watch.loss = loss
        loss.backward()
    assert records(tmp_path)[0]["kind"] == "nan_gradient"


def test_large_gradients_are_clipped_and_logged(tmp_path):
    sentinel, model, events = make(tmp_path, grad_clip_norm=1.0)
    with sentinel.monitor(5, model) as watch:
        loss = 1e4 * model(torch.ones(8, 4)).sum()
        watch.loss = loss
        loss.backward()
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert watch.clipped and watch.grad_norm > 1.0
    assert float(total) == pytest.approx(1.0, rel=1e-4)
    assert events[0][0] == "grad_clipped" and events[0][1]["step"] == 5
    assert not (tmp_path / "failures").exists()  # clipping is not a failure


def raise_oom(sentinel, model, step):
    with sentinel.monitor(step, model) as watch:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return watch


def test_ooms_under_the_rate_limit_skip_the_step(tmp_path):
    now = [0.0]
    sentinel, model, _ = make(tmp_path, max_oom_per_minute=5, clock=lambda: now[0])
    for step in range(5):
        now[0] += 1.0
        assert raise_oom(sentinel, model, step).skipped
    # Old OOMs leave the 60 s window, so a slow trickle never aborts.
    now[0] += 120.0
    assert raise_oom(sentinel, model, 6).skipped
    assert [r["kind"] for r in records(tmp_path)] == ["oom"] * 6


def test_repeated_ooms_abort_instead_of_looping(tmp_path):
    now = [0.0]
    sentinel, model, _ = make(tmp_path, max_oom_per_minute=5, clock=lambda: now[0])
    for step in range(5):
        now[0] += 2.0
        raise_oom(sentinel, model, step)
    with pytest.raises(TrainingFailure, match="oom_abort"):
        raise_oom(sentinel, model, 5)
    assert records(tmp_path)[-1]["kind"] == "oom_abort"


def test_other_exceptions_pass_through(tmp_path):
    sentinel, model, _ = make(tmp_path)
    with pytest.raises(KeyError), sentinel.monitor(1, model):
        raise KeyError("diffraction")
