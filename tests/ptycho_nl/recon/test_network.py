"""Network reconstruction streams chunks, checks the patch size, and stitches with phase sync."""

import numpy as np
import pytest
import torch
from recon_scans import make_scan, scanned_mask

from ptycho_nl.errors import BundleError
from ptycho_nl.recon.network import reconstruct_from_bundle


class LookupPredictor(torch.nn.Module):
    """Stands in for a trained bundle: returns each pattern's true patch with a random phase
    offset (a perfect network can know the patch only up to that phase), and records chunk sizes.
    """

    def __init__(self, data, seed=0):
        super().__init__()
        self.patch_size = data.patch_size
        self.table = {p.tobytes(): i for i, p in enumerate(np.asarray(data.diffraction))}
        self.patches = torch.from_numpy(data.patches)
        gen = torch.Generator().manual_seed(seed)
        phase = 2 * np.pi * torch.rand(len(self.patches), generator=gen)
        self.offsets = torch.exp(1j * phase).to(torch.complex64)
        self.seen = []

    def predict(self, diffraction, *, batch_size=256, device="cpu"):
        self.seen.append(diffraction.shape[0])
        idx = [self.table[p.numpy().tobytes()] for p in diffraction]
        return self.patches[idx] * self.offsets[idx, None, None]


def _error(obj, data):
    mask = scanned_mask(data)
    o, t = obj.numpy()[mask], data.object[mask]
    c = np.vdot(o, t) / np.vdot(o, o)
    return float(np.linalg.norm(c * o - t) / np.linalg.norm(t))


def test_streams_in_chunks_and_chunking_does_not_change_the_result():
    data = make_scan()
    small = LookupPredictor(data)
    whole = LookupPredictor(data)
    a = reconstruct_from_bundle(small, data, chunk=10)
    b = reconstruct_from_bundle(whole, data, chunk=10_000)
    assert max(small.seen) == 10 and sum(small.seen) == data.n_patterns
    assert whole.seen == [data.n_patterns]
    torch.testing.assert_close(a.object, b.object)
    assert a.seconds > 0


def test_phase_sync_makes_perfect_patches_give_the_object():
    data = make_scan()
    synced = reconstruct_from_bundle(LookupPredictor(data), data, phase_sync=True)
    plain = reconstruct_from_bundle(LookupPredictor(data), data, phase_sync=False)
    assert _error(synced.object, data) < 1e-2
    assert _error(plain.object, data) > 0.3
    assert synced.coverage.shape == (72, 72)


def test_bundle_for_another_patch_size_is_rejected():
    data = make_scan()
    predictor = LookupPredictor(data)
    predictor.patch_size = 64
    with pytest.raises(BundleError, match="64x64 patches but .* 32x32 diffraction"):
        reconstruct_from_bundle(predictor, data)
