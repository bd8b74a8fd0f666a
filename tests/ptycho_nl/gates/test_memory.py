"""`trace_memory` against a direct computation on a model whose saved activations are known:
Linear(d, h) -> ReLU -> Linear(h, 1) -> pow(2) saves its input (B, d), the ReLU output (B, h)
(the second Linear saves that same tensor) and the network output (B, 1) that pow needs, all
float32; Adam keeps two moments and a step count per parameter tensor."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.gates.memory import largest_batch, trace_memory
from ptycho_nl.models import ModelFamily, StepOutput, TrainingTask, register_family, unregister

D, H, NAME = 24, 40, "mlp_known_memory"


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 1))
        self.model_kwargs = {}

    def forward(self, x):
        return self.net(x)


def _prepare(inputs):
    model = MLP()
    x = torch.randn(1, D, generator=torch.Generator().manual_seed(0))

    def step(m, batch, state):
        loss = m(batch["x"]).pow(2).mean()
        return StepOutput(loss, None, {}, batch["x"].shape[0])

    return TrainingTask(model, step, lambda epoch: [{"x": x}], lambda: [{"x": x}], 1)


@pytest.fixture
def mlp_family(tmp_path):
    register_family(ModelFamily(NAME, build=MLP, prepare=_prepare))
    data = tmp_path / "unused.npz"  # the family reads no file
    data.write_bytes(b"")
    yield data
    unregister(NAME)


def _direct(batch: int) -> dict[str, int]:
    params = 4 * (D * H + H + H + 1)
    n_tensors = 4  # two weights, two biases: one float32 step count each
    activations = 4 * batch * (D + H + 1)
    return {
        "parameters": params,
        "gradients": params,
        "optimizer_state": 2 * params + 4 * n_tensors,
        "activations": activations,
        "peak": 4 * params + 4 * n_tensors + activations,
    }


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_the_cpu_trace_is_the_direct_computation(mlp_family, batch):
    trace = trace_memory(NAME, batch, data_path=mlp_family)
    step = trace.step.model_dump()
    assert {k: step[k] for k in _direct(batch)} == _direct(batch)
    assert trace.method == "saved_tensors" and trace.fits


def test_the_largest_batch_is_the_analytic_bound(mlp_family):
    budget_gb = 0.001
    trace = trace_memory(NAME, 8, data_path=mlp_family, budget_gb=budget_gb)
    fixed = _direct(0)["peak"]
    per_sample = 4 * (D + H + 1)
    expected = (int(budget_gb * 2**30) - fixed) // per_sample
    assert trace.max_batch == expected
    assert _direct(expected)["peak"] <= trace.budget_bytes < _direct(expected + 1)["peak"]


def test_bisection_finds_the_last_fitting_batch_and_treats_oom_as_over():
    assert largest_batch(lambda b: 10 * b, 1000)[0] == 100
    assert largest_batch(lambda b: 10 * b, 5)[0] == 0
    assert largest_batch(lambda b: None if b > 37 else 1, 10**9)[0] == 37


def test_the_command_prints_the_trace_and_fails_over_budget(mlp_family):
    runner = CliRunner()
    ok = runner.invoke(
        app,
        ["trace-memory", "--model", NAME, "--batch-size", "4", "--data", str(mlp_family), "--json"],
    )
    assert ok.exit_code == 0, ok.output
    traces = json.loads(ok.stdout)["data"]["traces"]
    assert traces[0]["step"]["peak"] == _direct(4)["peak"]
    # 5000 samples hold 5000 * 260 bytes of activations: more than 1 MiB
    over = runner.invoke(
        app,
        [
            "trace-memory",
            "--model",
            NAME,
            "--batch-size",
            "5000",
            "--data",
            str(mlp_family),
            "--budget-gb",
            "0.001",
        ],
    )
    assert over.exit_code == 1 and "over the 0.001 GiB budget" in over.stderr
    cuda = runner.invoke(app, ["trace-memory", "--model", NAME, "--device", "gpu"])
    assert cuda.exit_code == 2 and "expected cpu or cuda" in cuda.stderr


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="the no-GPU refusal needs a machine without one"
)
def test_asking_for_cuda_without_a_gpu_is_one_line_exit_1(mlp_family):
    result = CliRunner().invoke(
        app, ["trace-memory", "--model", NAME, "--device", "cuda", "--data", str(mlp_family)]
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: --device cuda: no CUDA device is visible (expected one; use --device cpu)\n"
    )
