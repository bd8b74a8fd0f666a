"""CMS update counts, sliding-window attention against a direct softmax, and the whole model:
segments with carried state equal one pass for every model type (float64)."""

import math

import pytest
import torch

from ptycho_nl.models.nested import CMS, NestedConfig, NestedLM
from ptycho_nl.models.nested.attention import SlidingWindowAttention, rotary
from ptycho_nl.models.nested.teach import InnerSettings, level_settings, schedule

SMALL = NestedConfig(
    dim=8, heads=2, window=4, memory_hidden=6, mlp_hidden=12, chunk=3, cms_periods=(2, 5), layers=2
)


@pytest.mark.parametrize("length", [1, 4, 10, 23])
def test_cms_level_updates_equal_tokens_over_period(length):
    torch.manual_seed(0)
    cms = CMS(8, 6, (1, 2, 5)).double()
    x = torch.randn(2, length, 8, dtype=torch.float64)
    settings = (InnerSettings(0.5),) * 3
    _, states, _ = cms(x, None, settings)
    assert [s.updates for s in states] == [length // p for p in (1, 2, 5)]
    state = None  # also when fed token by token
    for t in range(length):
        _, state, _ = cms(x[:, t : t + 1], state, settings)
    assert [s.updates for s in state] == [length // p for p in (1, 2, 5)]


def test_sliding_window_attention_equals_a_direct_softmax():
    torch.manual_seed(1)
    att = SlidingWindowAttention(8, 2, window=3).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    with torch.no_grad():
        y, _ = att(x, None)
        q, k, v = att.qkv(x).view(2, 7, 3, 2, 4).permute(2, 0, 3, 1, 4)
        pos = torch.arange(7)
        q, k = rotary(q, pos), rotary(k, pos)
        expected = torch.zeros(2, 2, 7, 4, dtype=torch.float64)
        for t in range(7):
            lo = max(0, t - 2)  # the window: t-2, t-1, t
            scores = (q[:, :, t : t + 1] @ k[:, :, lo : t + 1].transpose(-1, -2)) / math.sqrt(4)
            expected[:, :, t] = (scores.softmax(-1) @ v[:, :, lo : t + 1])[:, :, 0]
        expected = att.out(expected.transpose(1, 2).reshape(2, 7, 8))
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["attention", "titan", "hope"])
def test_segments_with_carried_state_equal_one_pass(kind):
    torch.manual_seed(2)
    model = NestedLM(vocab=11, type=kind, settings=SMALL.model_dump()).double()
    tokens = torch.randint(0, 11, (3, 17))
    with torch.no_grad():
        whole, _, _ = model(tokens)
        state, parts = None, []
        for a, b in [(0, 2), (2, 9), (9, 10), (10, 17)]:
            logits, state, _ = model(tokens[:, a:b], state)
            parts.append(logits)
        singles, state1 = [], None
        for t in range(17):
            logits, state1, _ = model(tokens[:, t : t + 1], state1)
            singles.append(logits)
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(torch.cat(singles, 1), whole, rtol=1e-6, atol=1e-6)


def test_attention_type_matches_the_titan_parameter_count():
    counts = {
        kind: sum(p.numel() for p in NestedLM(vocab=40, type=kind, settings={}).parameters())
        for kind in ("attention", "titan")
    }
    assert abs(counts["attention"] - counts["titan"]) <= 0.01 * counts["titan"], counts


def test_teach_schedule_warms_up_then_decays_to_its_floor():
    cfg = NestedConfig(teach_warmup_steps=4, teach_decay_steps=10, teach_min_factor=0.5)
    values = [schedule(s, cfg) for s in range(20)]
    assert values[:4] == [0.2, 0.4, 0.6, 0.8] and values[4] == 1.0
    assert values[9] == pytest.approx(0.75) and values[14:] == [0.5] * 6
    scales = NestedConfig(teach_scales=(0.2, 0.1, 0.05), teach_warmup_steps=0)
    assert [s.factor for s in level_settings(0, scales)] == [0.2, 0.1, 0.05]


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(3)
    plain = NestedLM(vocab=11, type="hope", settings=SMALL.model_dump()).double()
    recomputed = NestedLM(
        vocab=11, type="hope", settings={**SMALL.model_dump(), "checkpoint_activations": True}
    ).double()
    recomputed.load_state_dict(plain.state_dict())
    tokens = torch.randint(0, 11, (2, 12))
    for model in (plain, recomputed):
        model(tokens)[0].square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), recomputed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)
