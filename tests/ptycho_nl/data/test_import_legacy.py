"""Legacy layouts: PtychoPINN's (n, N, N, 1) `Y` is converted with a warning; a patterns-last
(N, N, n) stack is named on reading and converted on import."""

import numpy as np
import pytest

from ptycho_nl.data.importers import import_file
from ptycho_nl.data.npz import ContractWarning, load_npz
from ptycho_nl.errors import ContractError


def test_gridsize_one_y_is_squeezed_with_a_warning(tiny_arrays, tmp_path):
    y = tiny_arrays["Y"]
    np.savez(tmp_path / "legacy.npz", **{**tiny_arrays, "Y": y[..., None]})
    with pytest.warns(ContractWarning, match=r"key 'Y': legacy \(64, 32, 32, 1\)"):
        data = load_npz(tmp_path / "legacy.npz")
    np.testing.assert_array_equal(data.patches, y)


def test_patterns_last_stack_is_named_then_converted(tiny_arrays, tmp_path):
    amp = tiny_arrays.pop("diffraction")
    arrays = {**tiny_arrays, "diff3d": np.moveaxis(amp, 0, -1)}  # (N, N, n)
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(ContractError) as err:
        load_npz(tmp_path / "old.npz")
    (line,) = err.value.problems
    assert "found (32, 32, 64): patterns stored last (N, N, n)" in line
    assert "np.moveaxis(diffraction, -1, 0)" in line and "ptycho-nl import" in line
    with pytest.warns(ContractWarning, match=r"\(N, N, n\) \(32, 32, 64\) moved to \(n, N, N\)"):
        data = import_file(tmp_path / "old.npz")
    np.testing.assert_array_equal(data.diffraction, amp)
    assert data.metadata["source_format"] == "legacy-npz"
