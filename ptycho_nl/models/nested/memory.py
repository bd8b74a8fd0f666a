"""`TitanMemory`: a two-layer MLP memory written at test time by its own surprise.

For each token the memory's inner loss is `l_t = 1/2 |M(k_t) - v_t|^2` (keys and queries are
unit vectors); its gradient at the memory output, `e_t = M(k_t) - v_t`, is the teach signal.
The write is Titans' rule with a per-token rate, momentum and forgetting:

    S_t = eta_t S_{t-1} - theta_t grad l_t        theta_t = sigmoid(.) * max_lr * teach factor
    M_t = (1 - alpha_t) M_{t-1} + S_t             eta_t, alpha_t = sigmoid(.)

Chunked: every token of chunk n takes its gradient at, and reads from, the weights written
after chunk n-1; within a chunk the linear recurrence is summed in closed form (log-space
cumulative gates), so per-token gradients are never materialised, only their weighted sums as
two batched matrix products. A chunk may be split across calls: the state (`MemoryState`)
carries the weights the chunk reads and the partial sums, so any split of a sequence, token by
token included, computes the same thing as one pass. The fast weights are per sequence and live
in the state; the module's parameters are only their starting point (meta-parameters).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptycho_nl.errors import PtychoError
from ptycho_nl.models.nested.state import FastWeights, MemoryState
from ptycho_nl.models.nested.teach import InnerSettings, clip_per_token, soft_clamp


class NonFiniteFastState(PtychoError):
    """A memory write produced NaN or Inf (anomaly mode names the module and step)."""


def mlp_read(w: FastWeights, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sequence MLP `w2 silu(w1 x)` on x (B, n, D): (output, pre-activation, activation)."""
    h = torch.einsum("bnd,bhd->bnh", x, w.w1)
    a = F.silu(h)
    return torch.einsum("bnh,bdh->bnd", a, w.w2), h, a


def silu_grad(h: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(h)
    return s * (1 + h * (1 - s))


def teach_signal(w: FastWeights, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The gradient of `1/2 |M(k) - v|^2` at the memory output, per token: M(k) - v."""
    return mlp_read(w, k)[0] - v


def per_token_gradients(
    w: FastWeights, k: torch.Tensor, e: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token gradients (B, n, H, D) and (B, n, D, H) from the teach signal `e`: reference
    for tests; the write itself never forms them."""
    _, h, a = mlp_read(w, k)
    dh = torch.einsum("bnd,bdh->bnh", e, w.w2) * silu_grad(h)
    return torch.einsum("bnh,bnd->bnhd", dh, k), torch.einsum("bnd,bnh->bndh", e, a)


@dataclass
class WriteStats:
    """What the writes of one call did, summed over its segments (tensors, read when logged)."""

    tokens: int = 0
    clipped: torch.Tensor | float = 0.0
    grad_norm_sum: torch.Tensor | float = 0.0
    grad_norm_max: torch.Tensor | float = 0.0

    def add(self, n: int, clipped, norms: torch.Tensor) -> None:
        self.tokens += n * norms.shape[0]
        self.clipped = self.clipped + clipped
        self.grad_norm_sum = self.grad_norm_sum + norms.detach().sum()
        self.grad_norm_max = torch.maximum(
            torch.as_tensor(self.grad_norm_max), norms.detach().max()
        )


class TitanMemory(nn.Module):
    """Fast-weight MLP memory (dim -> hidden -> dim) written every `chunk` tokens.

    forward(x (B, T, dim), state | None, settings) -> (y (B, T, dim), state, WriteStats)
    """

    def __init__(
        self, dim: int, hidden: int, chunk: int, *, max_lr: float = 0.5, momentum: bool = True
    ):
        super().__init__()
        self.chunk, self.max_lr, self.use_momentum = chunk, max_lr, momentum
        self.where = "memory"  # the module's name in its model, for anomaly reports
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.w1 = nn.Parameter(torch.randn(hidden, dim))  # unit keys: pre-activations ~ N(0, 1)
        self.w2 = nn.Parameter(torch.randn(dim, hidden) / math.sqrt(hidden))
        self.rate = nn.Linear(dim, 1)
        self.forget = nn.Linear(dim, 1)
        nn.init.constant_(self.forget.bias, -6.0)  # remember by default: alpha ~ 0.0025
        self.momentum = nn.Linear(dim, 1) if momentum else None
        if self.momentum is not None:
            nn.init.constant_(self.momentum.bias, 2.0)  # eta ~ 0.88

    def initial_state(self, batch: int) -> MemoryState:
        """Every sequence starts from the meta-parameters (expanded, not copied: gradients of
        every read and write flow back to them)."""
        start = FastWeights(
            self.w1.unsqueeze(0).expand(batch, -1, -1), self.w2.unsqueeze(0).expand(batch, -1, -1)
        )
        zero = FastWeights(torch.zeros_like(start.w1), torch.zeros_like(start.w2))
        return MemoryState(read=start, running=start, momentum=zero if self.use_momentum else None)

    def forward(
        self, x: torch.Tensor, state: MemoryState | None, settings: InnerSettings
    ) -> tuple[torch.Tensor, MemoryState, WriteStats]:
        if state is None:
            state = self.initial_state(x.shape[0])
        q = F.normalize(self.query(x), dim=-1)
        k = F.normalize(self.key(x), dim=-1)
        v = self.value(x)
        rate = torch.sigmoid(self.rate(x)).squeeze(-1) * (self.max_lr * settings.factor)
        log_keep = F.logsigmoid(-self.forget(x)).squeeze(-1)  # log(1 - alpha)
        log_eta = F.logsigmoid(self.momentum(x)).squeeze(-1) if self.momentum is not None else None
        outputs, stats, start, total = [], WriteStats(), 0, x.shape[1]
        while start < total:
            n = min(self.chunk - state.pos, total - start)
            part = slice(start, start + n)
            outputs.append(mlp_read(state.read, q[:, part])[0])
            gates = (
                rate[:, part],
                log_keep[:, part],
                None if log_eta is None else log_eta[:, part],
            )
            with self._guard(settings):
                state = self._write(state, k[:, part], v[:, part], gates, settings, stats)
            start += n
        return self.out(torch.cat(outputs, dim=1)), state, stats

    def _guard(self, settings: InnerSettings):
        if not settings.anomaly:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", UserWarning)  # "anomaly detection enabled", every chunk
        stack.enter_context(torch.autograd.detect_anomaly(check_nan=True))
        return stack

    def _check(self, written: FastWeights, step: int) -> None:
        """Anomaly mode: fail on a non-finite write now, and on a non-finite gradient reaching
        it in the backward pass (hooks), naming this module and the training step."""
        if not written.finite():
            raise NonFiniteFastState(f"non-finite fast weights in {self.where} at step {step}")

        def hook(grad: torch.Tensor) -> None:
            if not bool(torch.isfinite(grad).all()):
                raise NonFiniteFastState(
                    f"non-finite gradient of the fast weights in {self.where} at step {step}"
                )

        for tensor in (written.w1, written.w2):
            if tensor.requires_grad:
                tensor.register_hook(hook)

    def _write(self, state, k, v, gates, settings: InnerSettings, stats: WriteStats):
        """Absorb n tokens of the current chunk; complete the chunk's write if it fills up."""
        rate, log_keep, log_eta = gates
        read = state.read
        out, h, a = mlp_read(read, k)
        e, clipped = out - v, 0  # the teach signal
        if settings.clip:
            e, clipped = clip_per_token(e, settings.teach_clip)
        dh = torch.einsum("bnd,bdh->bnh", e, read.w2) * silu_grad(h)
        # |e a^T|_F^2 + |dh k^T|_F^2 = |e|^2 |a|^2 + |dh|^2 |k|^2: per-token norms, no outer products
        norms = torch.sqrt(
            e.square().sum(-1) * a.square().sum(-1) + dh.square().sum(-1) * k.square().sum(-1)
        )
        weight = -rate * (soft_clamp(norms, settings.grad_clamp) if settings.clip else 1.0)
        stats.add(k.shape[1], clipped, norms)

        def weighted(c: torch.Tensor) -> FastWeights:  # sum_r c_r weight_r grad_r
            cw = (c * weight).unsqueeze(-1)
            return FastWeights((dh * cw).transpose(1, 2) @ k, (e * cw).transpose(1, 2) @ a)

        cum_keep = torch.cumsum(log_keep, dim=-1)
        after_keep = torch.exp(cum_keep[:, -1:] - cum_keep)  # prod_{s>t} (1 - alpha_s)
        keep_all = torch.exp(cum_keep[:, -1])[:, None, None]
        running, momentum = state.running, state.momentum
        if log_eta is None:
            delta = weighted(after_keep)
            new_running = _combine(keep_all, running, delta)
            new_momentum = None
        else:
            cum_eta = torch.cumsum(log_eta, dim=-1)
            n = cum_eta.shape[1]
            causal = torch.ones(n, n, dtype=torch.bool, device=k.device).tril()
            span = (cum_eta[:, :, None] - cum_eta[:, None, :]).masked_fill(~causal, -math.inf)
            to_running = torch.einsum("bt,btr->br", after_keep, torch.exp(span))
            from_momentum = (after_keep * torch.exp(cum_eta)).sum(-1)[:, None, None]
            delta = weighted(to_running)
            new_running = FastWeights(
                keep_all * running.w1 + from_momentum * momentum.w1 + delta.w1,
                keep_all * running.w2 + from_momentum * momentum.w2 + delta.w2,
            )
            eta_all = torch.exp(cum_eta[:, -1])[:, None, None]
            new_momentum = _combine(
                eta_all, momentum, weighted(torch.exp(cum_eta[:, -1:] - cum_eta))
            )
        if settings.anomaly:
            self._check(new_running, settings.step)
        pos = state.pos + k.shape[1]
        if pos == self.chunk:  # the chunk is complete: the next one reads what it wrote
            return MemoryState(new_running, new_running, new_momentum, 0, state.updates + 1)
        return MemoryState(read, new_running, new_momentum, pos, state.updates)


def _combine(decay: torch.Tensor, base: FastWeights, delta: FastWeights) -> FastWeights:
    return FastWeights(decay * base.w1 + delta.w1, decay * base.w2 + delta.w2)
