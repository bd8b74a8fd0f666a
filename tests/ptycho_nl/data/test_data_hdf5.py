"""CXI-style HDF5 written with h5py in tmp_path, read back and checked value by value."""

import h5py
import numpy as np
import pytest

from ptycho_nl.data.bridge import MemmapDatasetBridge, load_any
from ptycho_nl.data.hdf5 import sample_pixel_size
from ptycho_nl.data.npz import ContractWarning
from ptycho_nl.errors import ContractError

ENERGY_J = 8e3 * 1.602176634e-19  # 8 keV
DISTANCE_M, DET_PIXEL_M, N = 2.0, 75e-6, 16


def _write_cxi(path, counts, probe, translation, *, drop=None):
    with h5py.File(path, "w") as f:
        items = {
            "entry_1/data_1/data": counts,
            "entry_1/instrument_1/source_1/illumination": probe,
            "entry_1/instrument_1/source_1/energy": ENERGY_J,
            "entry_1/instrument_1/detector_1/distance": DISTANCE_M,
            "entry_1/instrument_1/detector_1/x_pixel_size": DET_PIXEL_M,
            "entry_1/sample_1/geometry_1/translation": translation,
        }
        for name, value in items.items():
            if name != drop:
                f[name] = value
    return path


@pytest.fixture
def cxi_inputs():
    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, size=(6, N, N)).astype(np.uint16)
    probe = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))).astype(np.complex128)
    dx = sample_pixel_size(ENERGY_J, DISTANCE_M, DET_PIXEL_M, N)
    pix = np.array([[0, 0], [3.5, 0], [7, 0], [0, 4.25], [3.5, 4.25], [7, 4.25]])  # (col, row)
    translation = np.zeros((6, 3))
    translation[:, :2] = (pix + 10.0) * dx  # an arbitrary origin, removed on reading
    return counts, probe, translation, pix


def test_sample_pixel_size_matches_wavelength_formula():
    wavelength = 6.62607015e-34 * 299792458.0 / ENERGY_J
    assert wavelength == pytest.approx(1.5498e-10, rel=1e-4)  # 8 keV X-rays
    assert sample_pixel_size(ENERGY_J, DISTANCE_M, DET_PIXEL_M, N) == pytest.approx(
        wavelength * DISTANCE_M / (N * DET_PIXEL_M)
    )


def test_cxi_counts_positions_and_probe_read_back(tmp_path, cxi_inputs):
    counts, probe, translation, pix = cxi_inputs
    path = _write_cxi(tmp_path / "scan.cxi", counts, probe, translation)
    with pytest.warns(ContractWarning, match="counts converted"):
        data = load_any(path)
    assert data.diffraction.dtype == np.float32 and data.intensity_scale == 1.0
    np.testing.assert_allclose(data.diffraction**2, counts, rtol=1e-6)
    np.testing.assert_allclose(data.probe, probe.astype(np.complex64))
    np.testing.assert_allclose(data.xcoords, pix[:, 0] + N / 2, atol=1e-9)
    np.testing.assert_allclose(data.ycoords, pix[:, 1] + N / 2, atol=1e-9)
    assert data.metadata["source_format"] == "cxi"


def test_cxi_float_intensities_become_amplitudes(tmp_path, cxi_inputs):
    counts, probe, translation, _ = cxi_inputs
    path = _write_cxi(tmp_path / "scan.h5", counts.astype(np.float32), probe, translation)
    with pytest.warns(ContractWarning, match="intensity converted"):
        data = load_any(path)
    np.testing.assert_allclose(data.diffraction, np.sqrt(counts), rtol=1e-6)


def test_bridge_serves_hdf5(tmp_path, cxi_inputs):
    counts, probe, translation, _ = cxi_inputs
    path = _write_cxi(tmp_path / "scan.cxi", counts, probe, translation)
    with pytest.warns(ContractWarning):
        bridge = MemmapDatasetBridge(path, gridsize=2)
    item = bridge.dataset()[0]
    np.testing.assert_allclose(
        item["diffraction"].numpy() ** 2, counts[bridge.groups[0]], rtol=1e-6
    )


def test_missing_dataset_and_non_hdf5_named_clearly(tmp_path, cxi_inputs):
    counts, probe, translation, _ = cxi_inputs
    path = _write_cxi(
        tmp_path / "scan.cxi",
        counts,
        probe,
        translation,
        drop="entry_1/instrument_1/detector_1/distance",
    )
    with pytest.raises(ContractError) as err:
        load_any(path)
    assert err.value.problems == [
        f"{path}: dataset 'entry_1/instrument_1/detector_1/distance': expected () detector "
        "distance in metres, found missing [specs/data_contracts.md §5]"
    ]
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    with pytest.raises(ContractError, match="not a readable HDF5 file"):
        load_any(fake)
