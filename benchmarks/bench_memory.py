"""Forward+backward tokens/s of `TitanMemory` against a per-token reference, same run.

The issue asks for a comparison with `titans_pytorch.NeuralMemory` when it is installed (the
optional `bench` extra). It is tried first; titans-pytorch 0.5.5 does not import beside this
project's dependencies (it needs tensordict, einops, einx, ... which are not among them), so
the baseline is then a direct per-token implementation of the same rule written here: a
Python loop over tokens that updates every sequence's fast weights token by token (gradients
taken at the weights of the last completed chunk, as in the chunked module). Both compute the
same function: the script checks the outputs agree, then times forward + backward and reports
retrieval quality on the same associative-recall batch (cosine similarity between each
stored value and what the memory returns for its key after the whole sequence was written).

    python benchmarks/bench_memory.py [--dim 64] [--chunk 16] [--batch 4] [--seq 256]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # finding PERF-001

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ptycho_nl.models.nested.memory import TitanMemory, mlp_read, silu_grad  # noqa: E402
from ptycho_nl.models.nested.state import FastWeights  # noqa: E402
from ptycho_nl.models.nested.teach import InnerSettings  # noqa: E402


def per_token_reference(mem: TitanMemory, x: torch.Tensor, s: InnerSettings):
    """The same rule token by token (batched over sequences), with the same per-token clip of
    the teach signal and soft clamp of the gradient: (outputs, final weights)."""
    q = F.normalize(mem.query(x), dim=-1)
    k, v = F.normalize(mem.key(x), dim=-1), mem.value(x)
    theta = torch.sigmoid(mem.rate(x)).squeeze(-1) * mem.max_lr * s.factor
    keep = 1 - torch.sigmoid(mem.forget(x)).squeeze(-1)
    eta = torch.sigmoid(mem.momentum(x)).squeeze(-1)
    state = mem.initial_state(x.shape[0])
    read, (w1, w2) = state.read, (state.running.w1, state.running.w2)
    m1, m2 = torch.zeros_like(w1), torch.zeros_like(w2)
    outs = []
    for t in range(x.shape[1]):
        outs.append(mlp_read(read, q[:, t : t + 1])[0])
        out, h, a = mlp_read(read, k[:, t : t + 1])
        e = out - v[:, t : t + 1]
        e = e * torch.clamp(s.teach_clip / e.norm(dim=-1, keepdim=True), max=1.0)
        dh = torch.einsum("bnd,bdh->bnh", e, read.w2) * silu_grad(h)
        norm = torch.sqrt(
            (e.norm(dim=-1) * a.norm(dim=-1)) ** 2
            + (dh.norm(dim=-1) * k[:, t : t + 1].norm(dim=-1)) ** 2
        )[:, 0]
        clamp = s.grad_clamp * torch.tanh(norm / s.grad_clamp) / norm  # soft clamp, per token
        lr = (theta[:, t] * clamp)[:, None, None]
        m1 = eta[:, t, None, None] * m1 - lr * torch.einsum("bnh,bnd->bhd", dh, k[:, t : t + 1])
        m2 = eta[:, t, None, None] * m2 - lr * torch.einsum("bnd,bnh->bdh", e, a)
        w1, w2 = keep[:, t, None, None] * w1 + m1, keep[:, t, None, None] * w2 + m2
        if (t + 1) % mem.chunk == 0:
            read = FastWeights(w1, w2)
    return mem.out(torch.cat(outs, dim=1)), FastWeights(w1, w2)


def recall_batch(batch: int, seq: int, dim: int, seed: int = 0):
    """Distinct random key/value embeddings, written once each (associative recall)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, seq, dim, generator=g)


def retrieval(mem: TitanMemory, x: torch.Tensor, final: FastWeights) -> float:
    """Mean cosine similarity between each value and the memory's answer to its key."""
    with torch.no_grad():
        k, v = F.normalize(mem.key(x), dim=-1), mem.value(x)
        return float(F.cosine_similarity(mlp_read(final, k)[0], v, dim=-1).mean())


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        out.square().mean().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    try:
        import titans_pytorch  # noqa: F401

        print("titans_pytorch imports: add its NeuralMemory row here")  # not reached on 0.5.5
    except ImportError as exc:
        print(f"titans_pytorch not importable ({exc}); baseline: per-token reference")
    mem = TitanMemory(args.dim, args.hidden, args.chunk, max_lr=0.5)
    s = InnerSettings(0.1, clip=True, teach_clip=1.0, grad_clamp=1.0)  # the defaults
    x = recall_batch(args.batch, args.seq, args.dim)
    with torch.no_grad():
        ours, state, _ = mem(x, None, s)
        ref, ref_final = per_token_reference(mem, x, s)
    gap = float((ours - ref).abs().max())
    print(f"max |chunked - per-token| output difference: {gap:.2e}")
    tokens = args.batch * args.seq
    t_ours = timed(lambda: mem(x, None, s)[0], args.repeats)
    t_ref = timed(lambda: per_token_reference(mem, x, s)[0], args.repeats)
    print(
        f"dim {args.dim}, hidden {args.hidden}, chunk {args.chunk}, batch {args.batch}, "
        f"seq {args.seq}: forward+backward"
    )
    print(f"  TitanMemory (chunked):  {tokens / t_ours:10.0f} tokens/s")
    print(f"  per-token reference:    {tokens / t_ref:10.0f} tokens/s")
    print(f"  ratio: {t_ref / t_ours:.1f}x (goal >= 5x)")
    print(
        f"  retrieval cosine: chunked {retrieval(mem, x, state.running):.4f}, "
        f"per-token {retrieval(mem, x, ref_final):.4f}"
    )


if __name__ == "__main__":
    main()
