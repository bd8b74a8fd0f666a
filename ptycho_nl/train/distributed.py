"""torch.distributed set-up for `torchrun --nproc_per_node=N`: NCCL on GPU, gloo on CPU.

Outside torchrun (no WORLD_SIZE > 1 in the environment) everything degrades to one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this module created the process group, so it tears it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    owns_group = not dist.is_initialized()
    if owns_group:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        owns_group=owns_group,
    )


def mean_across_ranks(value: float, ctx: DistContext, device: torch.device) -> float:
    """Average a scalar over ranks (identity with one process)."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item()) / ctx.world_size


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (the flag itself with one process)."""
    return mean_across_ranks(float(flag), ctx, device) > 0


def broadcast_text(text: str, ctx: DistContext) -> str:
    """Rank 0's string on every rank (used to check that all ranks share one digest)."""
    if not ctx.enabled:
        return text
    holder = [text]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
