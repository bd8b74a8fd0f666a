"""The shared encoder-decoder: output type, bounded heads, global input normalisation."""

import math

import pytest
import torch

from ptycho_nl.models import build_model


def test_output_is_complex_with_bounded_amplitude_and_phase():
    torch.manual_seed(0)
    model = build_model("pinn", n=32, amp_max=1.5)
    out = model(torch.rand(4, 32, 32) * 50).detach()
    assert out.dtype == torch.complex64 and out.shape == (4, 32, 32)
    assert float(out.abs().max()) <= 1.5 + 1e-6 and float(out.abs().min()) > 0
    assert float(out.angle().abs().max()) <= math.pi + 1e-6


def test_input_scale_is_one_global_constant_stored_in_the_state_dict():
    torch.manual_seed(0)
    model = build_model("pinn", n=32)
    x = torch.rand(3, 32, 32)
    model.set_input_scale(0.25)
    scaled = build_model("pinn", n=32)
    scaled.load_state_dict(model.state_dict())
    assert float(scaled.input_scale) == 0.25
    # Dividing by one constant: scaling data and constant together leaves the output unchanged,
    # while each pattern's brightness still reaches the network (no per-pattern normalisation).
    scaled.set_input_scale(0.5)
    torch.testing.assert_close(model(x), scaled(2 * x))
    assert not torch.allclose(model(x[:1]), model(2 * x[:1]))


def test_groups_are_predicted_pattern_by_pattern():
    torch.manual_seed(0)
    model = build_model("supervised", n=32)
    x = torch.rand(2, 4, 32, 32)
    torch.testing.assert_close(model.predict_groups(x)[1, 2], model(x[1, 2:3])[0])


@pytest.mark.parametrize("n", [30, 4])
def test_patch_size_must_be_a_multiple_of_8(n):
    with pytest.raises(ValueError, match="multiple of 8"):
        build_model("pinn", n=n)


def test_wrong_input_shape_is_named():
    with pytest.raises(ValueError, match=r"expected diffraction of shape \(B, 32, 32\)"):
        build_model("pinn", n=32)(torch.rand(2, 64, 64))
