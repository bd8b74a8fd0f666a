"""The one implementation of the ptychographic forward operator, as forward/adjoint pairs.

    psi_b = P_b * Q_b O          (`probe.py`: probe factor and product; `patches.py`: Q, Q^H)
    Psi_b = F psi_b               (`fourier.py`: far field and its adjoint)
`placement.py` says where each frame sits (integer corners, sub-pixel classes, probe box) and
`shift.py` holds the Fourier shift S_s. Simulation, the network losses, the solvers and stitching
all use these; the fast paths (probe box, shared shift classes, unshifted FFT layout) are options.
"""

from ptycho_nl.operators.fourier import (
    FFT_DIMS,
    back_propagate,
    centring_checkerboard,
    far_field,
    intensity,
)
from ptycho_nl.operators.patches import (
    adjoint_shift,
    illumination,
    object_adjoint,
    object_patches,
)
from ptycho_nl.operators.placement import (
    ScanPlacement,
    Subpixel,
    check_positions_inside,
    split_positions,
    support_box,
)
from ptycho_nl.operators.probe import (
    exit_wave,
    object_factor_adjoint,
    probe_factor,
    probe_factor_adjoint,
    probe_gradient,
)
from ptycho_nl.operators.shift import apply_ramps, fourier_ramps, fourier_shift

__all__ = [
    "FFT_DIMS",
    "ScanPlacement",
    "Subpixel",
    "adjoint_shift",
    "apply_ramps",
    "back_propagate",
    "centring_checkerboard",
    "check_positions_inside",
    "exit_wave",
    "far_field",
    "fourier_ramps",
    "fourier_shift",
    "illumination",
    "intensity",
    "object_adjoint",
    "object_factor_adjoint",
    "object_patches",
    "probe_factor",
    "probe_factor_adjoint",
    "probe_gradient",
    "split_positions",
    "support_box",
]
