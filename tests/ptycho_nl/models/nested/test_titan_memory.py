"""TitanMemory: the teach signal is the autograd gradient, the chunked closed-form write equals
a token-by-token loop written here, and any split of a sequence computes the same thing."""

import pytest
import torch
import torch.nn.functional as F

from ptycho_nl.models.nested.memory import (
    TitanMemory,
    mlp_read,
    per_token_gradients,
    teach_signal,
)
from ptycho_nl.models.nested.state import FastWeights
from ptycho_nl.models.nested.teach import InnerSettings

DIM, HIDDEN, CHUNK = 6, 5, 4


def memory(momentum=True, seed=0) -> TitanMemory:
    torch.manual_seed(seed)
    mem = TitanMemory(DIM, HIDDEN, CHUNK, max_lr=0.7, momentum=momentum).double()
    with torch.no_grad():  # gates away from their defaults so every term matters
        mem.forget.bias.fill_(-1.0)
    return mem


def inputs(batch=2, length=11, seed=1) -> torch.Tensor:
    return torch.randn(batch, length, DIM, generator=torch.Generator().manual_seed(seed)).double()


SETTINGS = InnerSettings(0.8, clip=True, teach_clip=0.5, grad_clamp=0.3)
NO_CLIP = InnerSettings(0.8, clip=False)


def test_teach_signal_and_token_gradients_equal_autograd():
    g = torch.Generator().manual_seed(3)
    w1 = torch.randn(2, HIDDEN, DIM, generator=g, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(2, DIM, HIDDEN, generator=g, dtype=torch.float64, requires_grad=True)
    k = F.normalize(torch.randn(2, 3, DIM, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(2, 3, DIM, generator=g, dtype=torch.float64)
    w = FastWeights(w1, w2)
    out = mlp_read(w, k)[0]
    loss = 0.5 * (out - v).square().sum()
    (d_out,) = torch.autograd.grad(loss, out, retain_graph=True)
    e = teach_signal(w, k, v)
    torch.testing.assert_close(e, d_out, rtol=0, atol=1e-12)
    g1, g2 = per_token_gradients(w, k, e.detach())
    for b in range(2):
        for t in range(3):
            token = 0.5 * (out[b, t] - v[b, t]).square().sum()
            a1, a2 = torch.autograd.grad(token, (w1, w2), retain_graph=True)
            torch.testing.assert_close(g1[b, t], a1[b], rtol=0, atol=1e-12)
            torch.testing.assert_close(g2[b, t], a2[b], rtol=0, atol=1e-12)


def reference(mem: TitanMemory, x: torch.Tensor, s: InnerSettings):
    """Titans' rule token by token, written directly: gradients by autograd at the weights
    of the last completed chunk, S_t = eta S - theta g, M_t = (1 - alpha) M + S."""
    q = F.normalize(mem.query(x), dim=-1)
    k, v = F.normalize(mem.key(x), dim=-1), mem.value(x)
    theta = torch.sigmoid(mem.rate(x)).squeeze(-1) * mem.max_lr * s.factor
    alpha = torch.sigmoid(mem.forget(x)).squeeze(-1)
    eta = torch.sigmoid(mem.momentum(x)).squeeze(-1) if mem.momentum is not None else None
    outputs = []
    for b in range(x.shape[0]):
        read = [mem.w1.detach().clone(), mem.w2.detach().clone()]
        running = [p.clone() for p in read]
        mom = [torch.zeros_like(p) for p in read]
        rows = []
        for t in range(x.shape[1]):
            h = read[0] @ q[b, t]
            rows.append(read[1] @ F.silu(h))
            with torch.enable_grad():
                w1 = read[0].clone().requires_grad_(True)
                w2 = read[1].clone().requires_grad_(True)
                out = w2 @ F.silu(w1 @ k[b, t])
                err = (out - v[b, t]).detach()
                if s.clip:  # the teach signal clipped in norm, the gradient soft-clamped
                    err = err * torch.clamp(s.teach_clip / err.norm(), max=1.0)
                g1, g2 = torch.autograd.grad(out, (w1, w2), err)
            if s.clip:
                n = torch.sqrt(g1.square().sum() + g2.square().sum())
                g1, g2 = [g * s.grad_clamp * torch.tanh(n / s.grad_clamp) / n for g in (g1, g2)]
            for i, g in enumerate((g1, g2)):
                mom[i] = (eta[b, t] if eta is not None else 0.0) * mom[i] - theta[b, t] * g
                running[i] = (1 - alpha[b, t]) * running[i] + mom[i]
            if (t + 1) % CHUNK == 0:
                read = [p.clone() for p in running]
        outputs.append(torch.stack(rows))
    return mem.out(torch.stack(outputs)), running


@pytest.mark.parametrize("momentum", [True, False])
@pytest.mark.parametrize("settings", [SETTINGS, NO_CLIP], ids=["clip", "no_clip"])
def test_chunked_write_equals_the_token_by_token_rule(momentum, settings):
    mem, x = memory(momentum), inputs(batch=2, length=10)
    with torch.no_grad():
        y, state, _ = mem(x, None, settings)
        y_ref, running_ref = reference(mem, x, settings)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(state.running.w1[-1], running_ref[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(state.running.w2[-1], running_ref[1], rtol=1e-9, atol=1e-9)


def run_in_pieces(mem, x, cuts, settings=SETTINGS):
    state, outs = None, []
    for a, b in zip([0, *cuts], [*cuts, x.shape[1]], strict=True):
        y, state, _ = mem(x[:, a:b], state, settings)
        outs.append(y)
    return torch.cat(outs, dim=1), state


@pytest.mark.parametrize("cuts", [[5], [3, 4, 9], list(range(1, 11))], ids=["two", "odd", "tokens"])
def test_any_split_with_carried_state_equals_one_pass(cuts):
    mem, x = memory(), inputs(length=11)
    with torch.no_grad():
        whole, whole_state = mem(x, None, SETTINGS)[:2]
        pieces, piece_state = run_in_pieces(mem, x, cuts)
    torch.testing.assert_close(pieces, whole, rtol=1e-6, atol=1e-6)
    for name in ("read", "running", "momentum"):
        a, b = getattr(piece_state, name), getattr(whole_state, name)
        torch.testing.assert_close(a.w1, b.w1, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(a.w2, b.w2, rtol=1e-6, atol=1e-6)
    assert (
        (piece_state.pos, piece_state.updates) == (whole_state.pos, whole_state.updates) == (3, 2)
    )


def test_one_sequences_writes_never_change_another_sequences_output():
    mem, x = memory(), inputs(batch=3, length=11)
    other = x.clone()
    other[1] += 5 * torch.randn_like(other[1])  # sequence 1 writes very different things
    with torch.no_grad():
        y, _, _ = mem(x, None, SETTINGS)
        y_other, _, _ = mem(other, None, SETTINGS)
    assert torch.equal(y[0], y_other[0]) and torch.equal(y[2], y_other[2])
    assert not torch.allclose(y[1], y_other[1])


def test_gradients_reach_the_meta_parameters_and_the_state_never_mutates_them():
    mem, x = memory(), inputs(length=11)
    before = {n: p.detach().clone() for n, p in mem.named_parameters()}
    y, state, _ = mem(x, None, SETTINGS)
    y2, state, _ = mem(x, state, SETTINGS)  # a second segment reads what the first wrote
    for n, p in mem.named_parameters():
        assert torch.equal(p, before[n]), n
    assert state.read.w1.data_ptr() != mem.w1.data_ptr()
    (y.square().sum() + y2.square().sum()).backward()
    for n, p in mem.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n


def test_a_sequence_shorter_than_a_chunk_reads_the_initial_weights():
    mem, x = memory(), inputs(length=CHUNK - 1)
    with torch.no_grad():
        y, state, _ = mem(x, None, SETTINGS)
        start = mem.initial_state(x.shape[0]).read
        q = F.normalize(mem.query(x), dim=-1)
        expected = mem.out(mlp_read(start, q)[0])
        longer, longer_state = mem(torch.cat([x, x], dim=1), None, SETTINGS)[:2]
        rest, rest_state = mem(x, state, SETTINGS)[:2]
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    assert (state.pos, state.updates) == (CHUNK - 1, 0)
    torch.testing.assert_close(torch.cat([y, rest], dim=1), longer, rtol=1e-6, atol=1e-6)
    assert (rest_state.pos, rest_state.updates) == (longer_state.pos, longer_state.updates)


def test_clipping_bounds_every_teach_signal():
    mem, x = memory(), 50 * inputs(length=8)
    with torch.no_grad():
        mem.value.weight.mul_(100)  # huge targets: every token surprises
        _, _, stats = mem(x, None, SETTINGS)
        _, _, free = mem(x, None, NO_CLIP)
    assert int(stats.clipped) == x.shape[0] * x.shape[1]
    assert int(free.clipped) == 0
