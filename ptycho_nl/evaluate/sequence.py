"""`ptycho-nl evaluate` for a nested-learning training run: recall accuracy or bits per
character on the held-out split of its sequence file, from the run's bundle alone.

`metrics.json` (`SequenceMetricsRecord`): recall runs report `recall_accuracy` (share of
queries whose value is the arg-max prediction) and `cross_entropy`; text runs report
`bits_per_char` over the held-out tail, read as `streams` contiguous streams whose fast state is
carried from segment to segment, and `cross_entropy` (nats).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel

from ptycho_nl.data.sequences import load_or_create
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import atomic_write_json, sha256_file
from ptycho_nl.models.nested.task import data_spec, segments, streams
from ptycho_nl.nested_config import NestedConfig

STREAMS = 8


class SequenceMetricsRecord(BaseModel):
    """metrics.json of a sequence-model evaluation."""

    model_id: str
    run_dir: str
    data: str
    data_sha256: str
    bundle_sha256: str
    metrics: dict[str, Any]


@torch.no_grad()
def recall_metrics(model, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> dict[str, float]:
    hits, total, loss = 0, 0, 0.0
    for i in range(0, x.shape[0], batch):
        logits, _, _ = model(x[i : i + batch])
        target = y[i : i + batch]
        scored = target >= 0
        hits += int((logits.argmax(-1) == target)[scored].sum())
        total += int(scored.sum())
        loss += float(F.cross_entropy(logits[scored], target[scored], reduction="sum"))
    return {"recall_accuracy": hits / total, "cross_entropy": loss / total, "queries": total}


@torch.no_grad()
def text_metrics(model, tokens: torch.Tensor, length: int) -> dict[str, float]:
    x, y = streams(tokens, STREAMS, length)
    state, loss, count = None, 0.0, 0
    for seg in segments(x, y, length, "cpu"):
        logits, state, _ = model(seg["x"], state)
        loss += float(F.cross_entropy(logits.flatten(0, 1), seg["y"].flatten(), reduction="sum"))
        count += seg["y"].numel()
    ce = loss / count
    return {"bits_per_char": ce / math.log(2), "cross_entropy": ce, "characters": count}


def evaluate_sequence_run(run_dir: Path, data_path: Path, out_dir: Path) -> SequenceMetricsRecord:
    """Score the bundle of a completed nested run on the held-out split; write metrics.json."""
    from ptycho_nl.train.bundle import load_bundle

    run_dir, data_path, out_dir = Path(run_dir), Path(data_path), Path(out_dir)
    if not (run_dir / "bundle.zip").is_file():
        raise ContractError(str(run_dir), [f"{run_dir}: no bundle.zip (not a completed run)"])
    bundle = load_bundle(run_dir / "bundle.zip")
    if bundle.model_name != "nested":
        raise ContractError(
            str(run_dir), [f"{run_dir}: model {bundle.model_name!r}: expected a nested run"]
        )
    nc = NestedConfig.model_validate(bundle.config["model"]["nested"])
    arrays = load_or_create(data_path, data_spec(nc, bundle.config["seed"]), create=False)
    model = bundle.model.cpu()
    if nc.task == "recall":
        x, y = torch.from_numpy(arrays["val_x"]), torch.from_numpy(arrays["val_y"])
        metrics = recall_metrics(model, x, y)
    else:
        metrics = text_metrics(model, torch.from_numpy(arrays["val"]), nc.seq_len)
    record = SequenceMetricsRecord(
        model_id=f"nested-{bundle.meta['model_type']}",
        run_dir=str(run_dir),
        data=str(data_path),
        data_sha256=sha256_file(data_path),
        bundle_sha256=bundle.sha256,
        metrics={**metrics, "parameters": bundle.meta.get("parameters")},
    )
    atomic_write_json(out_dir / "metrics.json", record.model_dump(mode="json"))
    return record
