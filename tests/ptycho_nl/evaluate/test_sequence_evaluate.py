"""`ptycho-nl evaluate` of nested runs: recall accuracy against a direct arg-max count written
here, bits per character of a text run, one-line errors."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.errors import ContractError
from ptycho_nl.evaluate.sequence import evaluate_sequence_run
from ptycho_nl.train import TrainConfig, load_bundle, train

runner = CliRunner()
TINY = {
    "dim": 16,
    "layers": 1,
    "window": 4,
    "memory_hidden": 16,
    "mlp_hidden": 16,
    "chunk": 8,
    "seq_len": 32,
    "train_sequences": 16,
    "val_sequences": 8,
    "recall_pairs": 2,
    "recall_keys": 4,
    "recall_values": 4,
}


def config(**nested) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "model": {"name": "nested", "type": "titan", "nested": {**TINY, **nested}},
            "epochs": 1,
            "batch_size": 4,
            "device": "cpu",
        }
    )


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("eval")
    result = train(config(), root / "recall.npz", root / "run", progress=False)
    assert result.status == "completed", result.error
    return result, root


def test_recall_accuracy_is_the_share_of_queries_answered(recall_run, tmp_path):
    result, root = recall_run
    out = runner.invoke(
        app,
        [
            "evaluate",
            "--recon",
            str(result.run_dir),
            "--truth",
            str(root / "recall.npz"),
            "--out",
            str(tmp_path / "eval"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)["data"]["metrics"]
    with np.load(root / "recall.npz", allow_pickle=False) as f:
        x, y = torch.from_numpy(f["val_x"]), torch.from_numpy(f["val_y"])
    with torch.no_grad():
        predicted = load_bundle(result.bundle_path).model(x)[0].argmax(-1)
    hits = sum(
        int(predicted[i, t] == y[i, t]) for i, t in zip(*np.nonzero(y.numpy() >= 0), strict=True)
    )
    assert metrics["queries"] == 8 * 2 and metrics["recall_accuracy"] == pytest.approx(hits / 16)
    written = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert written["model_id"] == "nested-titan" and written["metrics"] == metrics


def test_a_text_run_reports_bits_per_character(tmp_path, one_torch_thread):
    cfg = config(task="char", char_max_chars=4000)
    cfg = cfg.model_copy(update={"batch_size": 2})
    result = train(cfg, tmp_path / "char.npz", tmp_path / "run", progress=False)
    assert result.status == "completed", result.error
    record = evaluate_sequence_run(result.run_dir, tmp_path / "char.npz", tmp_path / "eval")
    vocab = len(load_bundle(result.bundle_path).meta["vocab"])
    assert record.metrics["characters"] == 8 * (400 // 8 // 32) * 32  # whole segments only
    assert 0 < record.metrics["bits_per_char"] < math.log2(vocab) + 1
    assert record.metrics["cross_entropy"] == pytest.approx(
        record.metrics["bits_per_char"] * math.log(2)
    )


def test_evaluation_refuses_missing_or_other_data(recall_run, tmp_path):
    result, root = recall_run
    with pytest.raises(ContractError, match="sequence file not found"):
        evaluate_sequence_run(result.run_dir, tmp_path / "absent.npz", tmp_path / "e")
    out = runner.invoke(
        app,
        [
            "evaluate",
            "--recon",
            str(result.run_dir),
            "--truth",
            str(tmp_path / "absent.npz"),
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert out.exit_code == 1 and out.output.count("\n") == 1 and "not found" in out.output
