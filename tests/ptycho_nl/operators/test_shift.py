"""The Fourier shift S_s: integer shifts are rolls, S_s^H = S_{-s}, composition adds shifts."""

import torch
from adjoint_contract import AdjointContract, random_complex
from hypothesis import given, settings
from hypothesis import strategies as st

from ptycho_nl.operators import fourier_shift
from ptycho_nl.operators.shift import _broadcasts_into

SHIFTS = torch.tensor([[0.3, -1.7], [2.25, 0.5], [-0.5, 0.0]], dtype=torch.float64)


class TestFourierShift(AdjointContract):
    domain_shape = range_shape = (3, 12, 10)

    def forward(self, x):
        return fourier_shift(x, SHIFTS)

    def adjoint(self, y):
        return fourier_shift(y, -SHIFTS)


def test_integer_shifts_are_circular_rolls():
    x = random_complex((2, 9, 8), 3)
    got = fourier_shift(x, torch.tensor([[2.0, -3.0], [0.0, 1.0]]))
    torch.testing.assert_close(got[0], torch.roll(x[0], (2, -3), (0, 1)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], torch.roll(x[1], (0, 1), (0, 1)), rtol=1e-5, atol=1e-5)


def test_shifts_compose_and_are_unitary():
    x = random_complex((3, 12, 10), 4, torch.complex128)
    twice = fourier_shift(fourier_shift(x, SHIFTS), SHIFTS)
    torch.testing.assert_close(twice, fourier_shift(x, 2 * SHIFTS))
    torch.testing.assert_close(fourier_shift(x, SHIFTS).norm(), x.norm())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=4),
    st.lists(st.integers(1, 3), min_size=0, max_size=4),
)
def test_in_place_test_agrees_with_torch_broadcasting(shape, target):
    """`_broadcasts_into` (written out: torch's imports sympy on first use) says exactly when
    torch broadcasts `shape` against `target` without changing `target`."""
    try:
        fits = torch.broadcast_shapes(torch.Size(shape), torch.Size(target)) == torch.Size(target)
    except RuntimeError:
        fits = False
    assert _broadcasts_into(torch.Size(shape), torch.Size(target)) == fits
