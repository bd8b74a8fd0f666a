"""PtyLab-style HDF5 (ptychogram, encoder in metres, dxd, zo, wavelength), written with h5py."""

import h5py
import numpy as np
import pytest
from measured_files import N, relative, truth

from ptycho_nl.data.importers import import_file
from ptycho_nl.errors import ContractError

WAVELENGTH, ZO, DXD = 13.5e-9, 0.05, 13.5e-6
DXO = WAVELENGTH * ZO / (N * DXD)  # PtyLab's sample pixel


def _write(path, counts, centres, *, drop=(), pupil=None, **extra):
    encoder = (centres - centres.mean(0)) * DXO  # (row, col) metres about the frame centre
    fields = {"ptychogram": counts.astype(np.float32), "encoder": encoder, "dxd": DXD,
              "zo": ZO, "wavelength": WAVELENGTH, "Nd": N, **extra}  # fmt: skip
    if pupil is not None:
        fields["entrancePupilDiameter"] = pupil
    with h5py.File(path, "w") as f:
        for key, value in fields.items():
            if key not in drop:
                f.create_dataset(key, data=value)
    return path


def test_ptylab_file_converts_positions_patterns_and_probe_power(tmp_path):
    counts, _, centres = truth(2)
    src = _write(tmp_path / "simu.hdf5", counts, centres, pupil=8 * DXO)
    data = import_file(src)
    np.testing.assert_allclose(data.diffraction, np.sqrt(counts), rtol=1e-6)
    np.testing.assert_allclose(
        relative(data.ycoords, data.xcoords), centres - centres[0], atol=1e-6
    )
    assert data.metadata["source_format"] == "ptylab"
    assert data.metadata["sample_pixel_size_m"] == pytest.approx(DXO)
    # The initial probe: a disc of the entrance pupil (8 px) with the data's power.
    support = np.abs(data.probe) > 0
    assert int(support.sum()) == pytest.approx(np.pi * 4**2, rel=0.15)
    power = float(np.square(np.abs(data.probe)).sum())
    assert power == pytest.approx(float(np.square(data.diffraction).sum(axis=(1, 2)).mean()), 1e-4)


def test_ptylab_probe_in_the_file_is_used(tmp_path):
    counts, probe, centres = truth(2)
    src = _write(tmp_path / "recon.hdf5", counts, centres, probe=probe[None, None, None])
    np.testing.assert_array_equal(import_file(src, fmt="ptylab").probe, probe)


def test_missing_group_and_bad_geometry_are_one_line(tmp_path):
    counts, _, centres = truth(2)
    with pytest.raises(ContractError) as err:
        import_file(_write(tmp_path / "a.hdf5", counts, centres, drop=("zo",)), fmt="ptylab")
    (line,) = err.value.problems
    assert "a.hdf5: dataset 'zo'" in line and "found missing" in line
    bad = _write(tmp_path / "b.hdf5", counts, centres, dxd=-1.0)
    with pytest.raises(ContractError, match="expected positive, found dxd = -1"):
        import_file(bad, fmt="ptylab")
