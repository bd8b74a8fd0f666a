"""A measured-looking scan as raw arrays (numpy only), for the importer tests.

Each test writes these arrays with h5py / numpy in the layout of one format (its own writer
code, independent of the importers) and checks what the importer made of them.
"""

import numpy as np

N = 16
PIXEL = 25e-9  # sample-plane pixel, metres


def truth(seed: int = 0, n_side: int = 4):
    """counts (n, N, N) int with the zero frequency at the centre, a probe (N, N), and the
    patch centres (n, 2) (row, col) in pixels with sub-pixel parts."""
    rng = np.random.default_rng(seed)
    grid = np.arange(n_side) * 3.0 + 10.0
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    centres = np.stack([rows.ravel(), cols.ravel()], 1) + rng.uniform(-0.4, 0.4, (n_side**2, 2))
    counts = rng.poisson(50.0, (len(centres), N, N)).astype(np.int32)
    c = np.arange(N) - N / 2 + 0.5
    probe = (np.hypot(c[:, None], c[None, :]) < 5) * np.exp(1j * 0.1 * c[None, :])
    return counts, probe.astype(np.complex64), centres


def relative(rows, cols):
    """Positions relative to the first: what an import must preserve exactly."""
    pos = np.stack([rows, cols], 1)
    return pos - pos[0]
