"""Far-field propagation: unitary, inverse = adjoint, both layouts, the centring checkerboard."""

import pytest
import torch
from adjoint_contract import AdjointContract, random_complex

from ptycho_nl.operators import back_propagate, centring_checkerboard, far_field, intensity


class TestCentredFarField(AdjointContract):
    domain_shape = range_shape = (3, 16, 16)

    def forward(self, x):
        return far_field(x)

    def adjoint(self, y):
        return back_propagate(y)


class TestUnshiftedFarField(TestCentredFarField):
    def forward(self, x):
        return far_field(x, centred=False)

    def adjoint(self, y):
        return back_propagate(y, centred=False)


def test_far_field_is_the_direct_dft_with_zero_frequency_at_the_centre():
    n = 8
    psi = random_complex((n, n), 0, torch.complex128)
    k = torch.arange(n, dtype=torch.float64)
    dft = torch.exp(-2j * torch.pi * k[:, None] * k[None, :] / n) / n**0.5
    direct = dft @ psi @ dft.T
    torch.testing.assert_close(far_field(psi, centred=False), direct)
    torch.testing.assert_close(far_field(psi), torch.roll(direct, (n // 2, n // 2), (0, 1)))


@pytest.mark.parametrize("centred", [True, False])
def test_parseval_and_inverse(centred):
    psi = random_complex((4, 12, 12), 1)
    farfield = far_field(psi, centred=centred)
    torch.testing.assert_close(
        intensity(farfield).sum(), psi.abs().square().sum(), rtol=1e-5, atol=0
    )
    torch.testing.assert_close(back_propagate(farfield, centred=centred), psi, rtol=1e-5, atol=1e-6)


def test_checkerboard_folds_the_fftshift_into_the_input():
    psi = random_complex((2, 10, 10), 2)
    board = centring_checkerboard(10, 10)
    torch.testing.assert_close(
        far_field(psi * board, centred=False), far_field(psi), rtol=1e-5, atol=1e-5
    )
    assert centring_checkerboard(9, 10) is None
