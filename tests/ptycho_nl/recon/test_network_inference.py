"""Network reconstruction: per-stage seconds, the precision option, and a real network's
bfloat16 predictions against its float32 ones."""

from pathlib import Path

import numpy as np
import pytest
import torch
from recon_scans import make_scan

from ptycho_nl.models.registry import build_model
from ptycho_nl.recon.network import reconstruct_from_bundle
from ptycho_nl.recon.stitch import stitch_patches
from ptycho_nl.train.bundle import Bundle


class PhaseScrambled:
    """Each pattern's true patch with a random constant phase; records predict's options."""

    def __init__(self, data, seed=0):
        self.patch_size = data.patch_size
        self.table = {p.tobytes(): i for i, p in enumerate(np.asarray(data.diffraction))}
        gen = torch.Generator().manual_seed(seed)
        offsets = torch.exp(2j * np.pi * torch.rand(data.n_patterns, generator=gen))
        self.patches = torch.from_numpy(data.patches) * offsets[:, None, None].to(torch.complex64)
        self.options = []

    def predict(self, diffraction, *, batch_size=256, device="cpu", **options):
        self.options.append(options)
        return self.patches[[self.table[p.numpy().tobytes()] for p in diffraction]]


def test_stages_add_up_to_the_total_and_the_object_is_stitch_with_phase_sync():
    data = make_scan()
    predictor = PhaseScrambled(data)
    result = reconstruct_from_bundle(predictor, data)
    assert set(result.stages) == {"predict", "phase_sync", "stitch"}
    assert all(t >= 0 for t in result.stages.values())
    assert sum(result.stages.values()) == pytest.approx(result.seconds, rel=1e-6)
    # The staged pipeline is the same computation as stitching with phase sync in one call.
    weights = torch.from_numpy(data.probe).abs().square()
    expected, coverage = stitch_patches(
        predictor.patches,
        torch.from_numpy(data.positions),
        data.object_shape,
        weights=weights,
        phase_sync=True,
    )
    torch.testing.assert_close(result.object, expected)
    torch.testing.assert_close(result.coverage, coverage)
    assert predictor.options == [{}]  # float32: no precision option passed on


def test_precision_is_passed_to_the_predictor_and_checked():
    data = make_scan()
    predictor = PhaseScrambled(data)
    reconstruct_from_bundle(predictor, data, precision="bfloat16")
    assert predictor.options == [{"precision": "bfloat16"}]
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        reconstruct_from_bundle(predictor, data, precision="float16")


def _bundle(n=32):
    torch.manual_seed(0)
    model = build_model("supervised", n=n).eval()
    return Bundle(
        model=model, meta={"patch_size": n, "model_name": "supervised"}, path=Path("b"), sha256=""
    )


def test_bfloat16_predictions_are_close_to_float32_ones():
    bundle = _bundle()
    x = torch.rand(20, 32, 32)
    full = bundle.predict(x, batch_size=8)
    half = bundle.predict(x, batch_size=8, precision="bfloat16")
    assert half.dtype == torch.complex64 and half.shape == full.shape
    # bfloat16 keeps 8 bits of mantissa: relative errors of a few 1e-3 through 5 layers.
    assert float((half - full).abs().max()) < 3e-2 * float(full.abs().max())
    assert not torch.equal(half, full)  # the option did change the arithmetic


def test_predict_rejects_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be float32 or bfloat16, got 'int8'"):
        _bundle().predict(torch.rand(2, 32, 32), precision="int8")
