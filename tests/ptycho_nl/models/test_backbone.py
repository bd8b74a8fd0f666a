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


def _reach(model, n: int) -> torch.Tensor:
    """(N, N) bool: the input pixels that the centre output pixel's amplitude depends on."""
    x = (torch.rand(1, n, n) + 0.5).requires_grad_(True)
    model(x)[0, n // 2, n // 2].abs().backward()
    return x.grad[0] != 0


def test_the_dense_bottleneck_lets_every_diffraction_pixel_reach_every_object_pixel():
    # An object pixel depends on the whole diffraction pattern (a Fourier transform); the
    # strided stages alone see a window, the dense pair (global_features > 0) sees it all.
    torch.manual_seed(0)
    local = build_model("supervised", n=64, channels=[4, 8, 8])
    dense = build_model("supervised", n=64, channels=[4, 8, 8], global_features=16)
    dense.load_state_dict(local.state_dict(), strict=False)  # the same convolutions
    assert not bool(_reach(local, 64).all())
    assert bool(_reach(dense, 64).all())


def test_log1p_input_is_the_linear_network_on_log_compressed_amplitudes():
    torch.manual_seed(0)
    linear = build_model("pinn", n=32, global_features=8)
    logged = build_model("pinn", n=32, global_features=8, input_transform="log1p")
    logged.load_state_dict(linear.state_dict())
    for model in (linear, logged):
        model.set_input_scale(3.0)
    amplitudes = torch.rand(2, 32, 32) * 40
    torch.testing.assert_close(logged(amplitudes), linear(3.0 * torch.log1p(amplitudes / 3.0)))
    # The map is fixed, not per pattern: a brighter pattern still gives another output.
    assert not torch.allclose(logged(amplitudes[:1]), logged(2 * amplitudes[:1]))


def test_new_shape_options_are_kept_in_model_kwargs_only_when_used():
    plain = build_model("pinn", n=32)
    assert set(plain.model_kwargs) == {"n", "channels", "amp_max"}  # older bundles rebuild
    shaped = build_model("pinn", n=32, global_features=8, input_transform="log1p")
    rebuilt = build_model("pinn", **shaped.model_kwargs)
    rebuilt.load_state_dict(shaped.state_dict())
    x = torch.rand(2, 32, 32)
    torch.testing.assert_close(rebuilt(x), shaped(x))
    with pytest.raises(ValueError, match="input_transform"):
        build_model("pinn", n=32, input_transform="sqrt")
