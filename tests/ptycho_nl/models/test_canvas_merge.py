"""The gridsize > 1 shared-canvas merge of the PINN, checked against direct computations."""

import math

import torch

from ptycho_nl import physics
from ptycho_nl.models import LossContext, build_model
from ptycho_nl.models.pinn import (
    MERGE_FLOOR,
    canvas_average,
    overlap_inconsistency,
    poisson_deviance,
    predicted_rate,
)

N = 32


def _brute_force_merge(patches, positions, weight):
    """Independent reference: per-pixel weighted mean over a dictionary canvas (explicit loops)."""
    out = torch.zeros_like(patches)
    n = patches.shape[-1]
    for b in range(patches.shape[0]):
        offs = torch.round(positions[b] - positions[b].min(dim=0).values).long().tolist()
        cells = {}
        for c, (dr, dc) in enumerate(offs):
            for i in range(n):
                for j in range(n):
                    cells.setdefault((dr + i, dc + j), []).append((c, i, j))
        for members in cells.values():
            ws = [float(weight[i, j]) for _, i, j in members]
            vals = [complex(patches[b, c, i, j]) for c, i, j in members]
            mean = sum(w * v for w, v in zip(ws, vals, strict=True)) / sum(ws)
            for c, i, j in members:
                out[b, c, i, j] = mean
    return out


def test_canvas_average_matches_a_brute_force_reference():
    g = torch.Generator().manual_seed(5)
    n = 6
    patches = torch.randn(2, 4, n, n, dtype=torch.complex64, generator=g)
    positions = torch.tensor(
        [[[10, 10], [10, 13], [12, 10], [13, 12]], [[5, 5], [7.2, 6], [5, 8.4], [9, 9]]],
        dtype=torch.float64,
    )
    weight = torch.rand(n, n, generator=g) + 0.1
    merged = canvas_average(patches, positions, weight)
    torch.testing.assert_close(merged, _brute_force_merge(patches, positions, weight))


def test_canvas_average_keeps_patches_of_one_object_and_makes_neighbours_agree():
    g = torch.Generator().manual_seed(6)
    obj = torch.polar(0.5 + 0.5 * torch.rand(96, 96, generator=g), torch.rand(96, 96, generator=g))
    positions = torch.tensor([[40, 40], [40, 47], [46, 41], [47, 48]], dtype=torch.float64)
    patches = physics.extract_patches(obj.to(torch.complex64), positions, N)[None]
    weight = torch.rand(N, N, generator=g) + MERGE_FLOOR
    # Consistent neighbours are a fixed point of the merge.
    torch.testing.assert_close(canvas_average(patches, positions[None], weight), patches)
    # Disagreeing neighbours become consistent, and a lone pixel keeps its own value.
    noisy = patches * torch.polar(torch.ones(N, N), 0.5 * torch.randn(1, 4, N, N, generator=g))
    merged = canvas_average(noisy, positions[None], weight)
    assert float(overlap_inconsistency(noisy, positions[None], weight)) > 1e-2
    assert float(overlap_inconsistency(merged, positions[None], weight)) < 1e-10
    # Patch 0's top-left corner is covered by no other patch (offsets >= 6 pixels).
    torch.testing.assert_close(merged[0, 0, :5, :5], noisy[0, 0, :5, :5])


def test_group_data_term_is_the_deviance_of_the_merged_object():
    torch.manual_seed(0)
    model = build_model("pinn", n=N)
    r = torch.arange(N) - N / 2
    probe = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 50.0).to(torch.complex64)
    positions = torch.tensor([[[20, 20], [20, 26], [26, 20], [26, 26]]] * 2, dtype=torch.float64)
    batch = {"diffraction": torch.rand(2, 4, N, N) * 0.1, "positions": positions}
    loss, parts = model.training_loss(batch, LossContext(probe, 10.0, overlap_weight=0.0))
    with torch.no_grad():
        raw = model.predict_groups(batch["diffraction"])
    weight = probe.abs().square() / probe.abs().square().max() + MERGE_FLOOR
    merged = canvas_average(raw, positions, weight)
    counts = physics.amplitude_to_counts(batch["diffraction"], 10.0).float()
    expected = poisson_deviance(predicted_rate(merged, probe, 10.0), counts)
    unmerged = poisson_deviance(predicted_rate(raw, probe, 10.0), counts)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    assert not math.isclose(float(expected), float(unmerged), rel_tol=1e-4)


def test_a_pattern_shared_by_groups_is_predicted_once_with_the_same_loss_and_gradients():
    """Groups (0,1,2,3) and (1,4,3,5) share patterns 1 and 3: with the batch's `index` the
    network sees 6 rows, not 8, and the loss and every gradient are those of 8 predictions."""
    torch.manual_seed(0)
    model = build_model("pinn", n=N, channels=(8, 16, 32))
    r = torch.arange(N) - N / 2
    probe = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 50.0).to(torch.complex64)
    patterns = torch.rand(6, N, N) * 0.3
    index = torch.tensor([[0, 1, 2, 3], [1, 4, 3, 5]])
    offsets = torch.tensor([[0, 0], [0, 6], [6, 0], [6, 6], [0, 12], [6, 12]], dtype=torch.float64)
    batch = {"diffraction": patterns[index], "positions": 20 + offsets[index], "index": index}
    context = LossContext(probe, 10.0, overlap_weight=1000.0)
    rows: list[int] = []
    hook = model.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))

    def loss_and_grads(b):
        model.zero_grad()
        loss, _ = model.training_loss(b, context)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    once, grads_once = loss_and_grads(batch)
    every, grads_every = loss_and_grads({k: v for k, v in batch.items() if k != "index"})
    hook.remove()
    assert rows == [6, 8]
    torch.testing.assert_close(once, every, rtol=1e-6, atol=0)
    for a, b in zip(grads_once, grads_every, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
