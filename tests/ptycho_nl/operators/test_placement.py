"""Frame placement: positions inside the object, the probe box, the support box."""

import pytest
import torch
from adjoint_contract import SHAPE, N

from ptycho_nl.operators import ScanPlacement, support_box

BOX = (5, 7, 20, 18)


def test_a_box_must_fit_the_frame_and_needs_a_probe_side_shift(positions):
    with pytest.raises(ValueError, match="does not fit"):
        ScanPlacement(positions, N, SHAPE, subpixel="probe", box=(20, 0, 20, 10))
    with pytest.raises(ValueError, match="subpixel 'probe' or 'round'"):
        ScanPlacement(positions, N, SHAPE, subpixel="object", box=BOX)


def test_positions_outside_the_object_are_named(positions):
    with pytest.raises(ValueError, match=r"scan position \d+ .* outside the 40x40 object"):
        ScanPlacement(positions, N, (40, 40))


def test_support_box_bounds_the_probe_and_widens_by_the_margin():
    probe = torch.zeros(32, 32, dtype=torch.complex64)
    probe[10:20, 12:25] = 1
    probe[11, 13] = 1e-4  # inside anyway
    probe[2, 2] = 1e-4  # |P|^2 = 1e-8 of the peak: below the threshold, left out
    assert support_box(probe) == (10, 12, 10, 13)
    assert support_box(probe, margin=4) == (6, 8, 18, 21)
    assert support_box(probe, margin=20) == (0, 0, 32, 32)  # clipped to the frame
    assert support_box(torch.zeros(8, 8)) == (0, 0, 8, 8)


def test_flat_indices_address_the_gathered_pixels(positions):
    scan = ScanPlacement(positions, N, SHAPE, subpixel="probe", box=BOX)
    idx = torch.tensor([0, 5, 9])
    obj = torch.arange(SHAPE[0] * SHAPE[1], dtype=torch.float32).reshape(SHAPE)
    gathered = scan.gather(obj, idx)
    assert torch.equal(gathered.reshape(-1), obj.reshape(-1)[scan.flat_index(idx).long()])


def test_whole_pixel_positions_build_one_ramp_not_one_per_position(positions):
    rounded = torch.round(positions - N / 2) + N / 2
    scan = ScanPlacement(rounded, N, SHAPE, subpixel="object")
    assert not scan.has_frac and len(scan.ramps) == 1
    assert torch.equal(scan.shift_class, torch.zeros(len(rounded), dtype=scan.shift_class.dtype))
    assert len(ScanPlacement(positions, N, SHAPE, subpixel="object").ramps) == len(positions)
