"""How the nested family trains: `prepare_nested` for the registry (`model.name = "nested"`).

Data come from `ptycho_nl.data.sequences` (the file at the job's data path, written from the
config's spec when absent). Recall: independent sequences, shuffled per epoch (the same order
on every rank, each rank its own share), no state between batches. Text: `batch_size` streams
per rank over the training text, segment after segment, with the fast state carried from one
segment to the next (detached: truncated back-propagation). The step counts training steps in
the model's `teach_step` buffer, which drives the teach schedule.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ptycho_nl.data.sequences import load_or_create, recall_vocab
from ptycho_nl.errors import ConfigError
from ptycho_nl.models.nested.lm import MODEL_TYPES, NestedLM
from ptycho_nl.models.nested.memory import WriteStats
from ptycho_nl.models.registry import StepOutput, TaskInputs, TrainingTask
from ptycho_nl.nested_config import NestedConfig

VAL_BATCH_MIN = 64


def data_spec(nc: NestedConfig, seed: int) -> dict[str, Any]:
    """The spec of the run's sequence file (what `ptycho_nl.data.sequences` generates)."""
    if nc.task == "recall":
        return {
            "kind": "recall",
            "seq_len": nc.seq_len,
            "train_sequences": nc.train_sequences,
            "val_sequences": nc.val_sequences,
            "pairs": nc.recall_pairs,
            "keys": nc.recall_keys,
            "values": nc.recall_values,
            "window": nc.window,
            "seed": seed,
        }
    return {"kind": "char", "max_chars": nc.char_max_chars, "val_fraction": nc.char_val_fraction}


def model_type(cfg) -> str:
    kind = cfg.model.type or "titan"
    if kind not in MODEL_TYPES:
        raise ConfigError(
            f"config model.type: expected one of {', '.join(MODEL_TYPES)}, found {kind!r}"
        )
    return kind


def level_logs(model: NestedLM, stats: dict[str, list[WriteStats]]) -> dict[str, Any]:
    """Step-event fields: the memory's teach factor, and per written level the mean and largest
    per-token inner gradient norm and the number of teach signals clipped."""
    from ptycho_nl.models.nested.teach import teach_factor

    logs: dict[str, Any] = {}
    if stats:
        logs["teach_factor"] = teach_factor(int(model.teach_step), model.cfg, 0)
    for name, per_block in stats.items():
        tokens = sum(s.tokens for s in per_block)
        logs[f"{name}_grad_norm"] = sum(s.grad_norm_sum for s in per_block) / max(tokens, 1)
        logs[f"{name}_grad_max"] = max(torch.as_tensor(s.grad_norm_max) for s in per_block)
        logs[f"{name}_clipped"] = sum(s.clipped for s in per_block)
    return logs


def sequence_step(carry: bool, task: str):
    """The step: next-token cross entropy (targets -1 are not scored)."""

    def step(model: NestedLM, batch: dict[str, torch.Tensor], state) -> StepOutput:
        logits, new_state, stats = model(batch["x"], state)
        loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), ignore_index=-1)
        logs = level_logs(model, stats)
        if task == "recall":
            scored = batch["y"] >= 0
            logs["accuracy"] = (logits.detach().argmax(-1) == batch["y"])[scored].float().mean()
        else:
            logs["bpc"] = loss.detach() / math.log(2)
        if model.training:
            with torch.no_grad():
                model.teach_step += 1
        return StepOutput(loss, new_state.detach() if carry else None, logs, batch["x"].shape[0])

    return step


def streams(tokens: torch.Tensor, count: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets as `count` contiguous streams, whole segments only."""
    per = (tokens.numel() - 1) // count // length * length
    if per == 0:
        raise ConfigError(
            f"data: {tokens.numel()} tokens cannot fill {count} streams of one {length}-token segment"
        )
    x = tokens[: count * per].view(count, per)
    y = tokens[1 : count * per + 1].view(count, per)
    return x, y


def segments(
    x: torch.Tensor, y: torch.Tensor, length: int, device
) -> list[dict[str, torch.Tensor]]:
    return [
        {"x": x[:, t : t + length].to(device), "y": y[:, t : t + length].to(device)}
        for t in range(0, x.shape[1], length)
    ]


def _check_lengths(kind: str, nc: NestedConfig) -> None:
    """Every written level must complete a write within a segment, or its gate parameters get
    no gradient (and DDP, which expects one for every parameter, stops)."""
    longest = {"titan": nc.chunk, "hope": max(nc.chunk, *nc.cms_periods)}.get(kind, 0)
    if nc.seq_len <= longest:
        raise ConfigError(
            f"config model.nested.seq_len: expected more than {longest} (the longest chunk or "
            f"CMS period of a {kind} model), found {nc.seq_len}"
        )


def prepare_nested(inputs: TaskInputs) -> TrainingTask:
    """Data, model and step of a nested-learning language model."""
    cfg, device = inputs.config, inputs.device
    nc: NestedConfig = cfg.model.nested
    kind = model_type(cfg)
    _check_lengths(kind, nc)
    try:
        arrays = load_or_create(inputs.data_path, data_spec(nc, cfg.seed))
    except ValueError as exc:
        raise ConfigError(f"config model.nested: {exc}") from None
    if nc.task == "recall":
        vocab = recall_vocab(nc.recall_keys, nc.recall_values)
    else:
        vocab = len(arrays["vocab"])
    model = NestedLM(vocab=vocab, type=kind, settings=nc.model_dump(mode="json")).to(device)
    meta: dict[str, Any] = {
        "task": nc.task,
        "model_type": kind,
        "vocab_size": vocab,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if nc.task == "char":
        meta["vocab"] = "".join(str(c) for c in arrays["vocab"])
        return _char_task(inputs, model, arrays, meta)
    return _recall_task(inputs, model, arrays, meta)


def _recall_task(inputs: TaskInputs, model, arrays, meta) -> TrainingTask:
    cfg, device, rank, world = inputs.config, inputs.device, inputs.rank, inputs.world_size
    x, y = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"])
    per_rank = x.shape[0] // world
    steps = per_rank // cfg.batch_size
    if steps == 0:
        raise ConfigError(
            f"config batch_size: {cfg.batch_size} exceeds the {per_rank} training sequences "
            f"of each of {world} rank(s)"
        )

    def train_batches(epoch: int):
        order = torch.randperm(
            x.shape[0], generator=torch.Generator().manual_seed(cfg.seed + epoch)
        )
        mine = order[rank::world][: steps * cfg.batch_size].view(steps, cfg.batch_size)
        for index in mine:
            yield {"x": x[index].to(device), "y": y[index].to(device)}

    vx, vy = torch.from_numpy(arrays["val_x"]), torch.from_numpy(arrays["val_y"])
    size = max(cfg.batch_size, VAL_BATCH_MIN)
    val = [
        {"x": vx[i : i + size].to(device), "y": vy[i : i + size].to(device)}
        for i in range(0, vx.shape[0], size)
    ]
    return TrainingTask(
        model=model,
        step=sequence_step(carry=False, task="recall"),
        train_batches=train_batches,
        val_batches=lambda: iter(val),
        steps_per_epoch=steps,
        bundle_meta=meta,
    )


def _char_task(inputs: TaskInputs, model, arrays, meta) -> TrainingTask:
    cfg, device, rank, world = inputs.config, inputs.device, inputs.rank, inputs.world_size
    length = cfg.model.nested.seq_len
    x, y = streams(torch.from_numpy(arrays["train"]), cfg.batch_size * world, length)
    mine = slice(rank * cfg.batch_size, (rank + 1) * cfg.batch_size)
    train = segments(x[mine], y[mine], length, device)
    vx, vy = streams(torch.from_numpy(arrays["val"]), cfg.batch_size, length)
    val = segments(vx, vy, length, device)
    return TrainingTask(
        model=model,
        step=sequence_step(carry=True, task="char"),
        train_batches=lambda epoch: iter(train),
        val_batches=lambda: iter(val),
        steps_per_epoch=len(train),
        bundle_meta=meta,
    )
