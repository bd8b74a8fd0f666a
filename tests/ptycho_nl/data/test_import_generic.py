"""Generic array files through an explicit mapping: every convention undone, bad input named."""

import numpy as np
import pytest
from measured_files import PIXEL, N, relative, truth

from ptycho_nl.data.importers import ArrayMapping, Geometry, import_file
from ptycho_nl.data.npz import load_npz, save_npz
from ptycho_nl.errors import ContractError


def _write_h5(path, **datasets):
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
    return path


def test_corner_dc_xy_metres_corner_positions_singleton_axes(tmp_path):
    counts, probe, centres = truth()
    # The file's conventions: DC at the corner, (x, y) in metres of the patch corner, a
    # singleton channel axis on the patterns, intensities.
    stored = np.fft.ifftshift(counts.astype(np.float32), axes=(-2, -1))[:, None]
    corners_xy_m = (centres - N / 2)[:, ::-1] * PIXEL
    mask = np.ones((N, N), bool)
    mask[N // 2, N // 2 + 1] = False  # next to the zero frequency, in the centred layout
    src = _write_h5(tmp_path / "scan.h5", **{"data/patterns": stored, "pos": corners_xy_m,
                                              "optics/probe": probe[None],
                                              "data/bad": np.fft.ifftshift(mask)})  # fmt: skip
    mapping = ArrayMapping(
        diffraction="data/patterns", positions="pos", probe="optics/probe", dc="corner",
        mask="data/bad",
        kind="intensity", positions_are="corner", axis_order="xy", units="m",
        geometry=Geometry(pixel_size_m=PIXEL),
    )  # fmt: skip
    data = import_file(src, fmt="generic", mapping=mapping)
    np.testing.assert_allclose(data.diffraction, np.sqrt(counts), rtol=1e-6)
    np.testing.assert_allclose(
        relative(data.ycoords, data.xcoords), centres - centres[0], atol=1e-9
    )
    np.testing.assert_array_equal(data.probe, probe)
    np.testing.assert_array_equal(data.mask, mask)  # moved to the centred layout too
    # Whole-pixel shift only: sub-pixel parts kept, the top-left patch 2 px inside the frame.
    np.testing.assert_allclose((data.ycoords - centres[:, 0]) % 1, 0, atol=1e-9)
    assert np.floor(data.ycoords.min() - N / 2) == 2 and np.floor(data.xcoords.min() - N / 2) == 2
    assert data.metadata["source"] == str(src) and data.metadata["mapping"]["dc"] == "corner"
    assert data.intensity_scale is None


def test_counts_npz_with_separate_coordinates_and_mask_round_trip(tmp_path):
    counts, probe, centres = truth(1)
    mask = np.ones((N, N), bool)
    mask[3, 4] = False
    np.savez(tmp_path / "raw.npz", frames=counts, x=centres[:, 1], y=centres[:, 0], bad=mask)
    mapping = ArrayMapping(diffraction="frames", xcoords="x", ycoords="y", mask="bad")
    data = import_file(tmp_path / "raw.npz", fmt="generic", mapping=mapping)
    # Counts: stored sqrt(k) with s = 1, so counts come back exactly as (s A)^2.
    np.testing.assert_array_equal(np.round((data.diffraction * data.intensity_scale) ** 2), counts)
    np.testing.assert_array_equal(data.mask, mask)
    out = save_npz(data, tmp_path / "out.npz")
    again = load_npz(out)
    np.testing.assert_array_equal(again.mask, mask)
    assert again.metadata["source_format"] == "generic"
    # No probe in the file: one is estimated with the data's power (Parseval).
    power = float(np.square(np.abs(again.probe)).sum())
    assert power == pytest.approx(float(np.square(data.diffraction).sum(axis=(1, 2)).mean()), 1e-4)


def test_mapping_naming_a_missing_key_is_one_line(tmp_path):
    counts, _, centres = truth()
    np.savez(tmp_path / "raw.npz", frames=counts, pos=centres)
    mapping = ArrayMapping(diffraction="patterns", positions="pos")
    with pytest.raises(ContractError) as err:
        import_file(tmp_path / "raw.npz", fmt="generic", mapping=mapping)
    (line,) = err.value.problems
    assert "raw.npz" in line and "'patterns'" in line and "found missing" in line
    assert "frames" in line  # what the file does hold


def test_axes_that_disagree_are_named(tmp_path):
    counts, _, centres = truth()
    np.savez(tmp_path / "raw.npz", frames=counts, pos=centres[:-1])
    mapping = ArrayMapping(diffraction="frames", positions="pos")
    with pytest.raises(ContractError, match=r"raw.npz: positions: expected n = 16 .*found 15"):
        import_file(tmp_path / "raw.npz", fmt="generic", mapping=mapping)


def test_mask_of_the_wrong_shape_is_named(tmp_path):
    counts, _, centres = truth()
    np.savez(tmp_path / "raw.npz", frames=counts, pos=centres, bad=np.ones((N, N + 1), bool))
    mapping = ArrayMapping(diffraction="frames", positions="pos", mask="bad")
    with pytest.raises(ContractError) as err:
        import_file(tmp_path / "raw.npz", fmt="generic", mapping=mapping)
    (line,) = err.value.problems
    assert "key 'mask'" in line and "(N, N) bool with N = 16" in line and "(16, 17) bool" in line


def test_metres_without_a_pixel_size_are_refused(tmp_path):
    counts, _, centres = truth()
    np.savez(tmp_path / "raw.npz", frames=counts, pos=centres * PIXEL)
    mapping = ArrayMapping(diffraction="frames", positions="pos", units="m")
    with pytest.raises(ContractError, match="expected the sample pixel size"):
        import_file(tmp_path / "raw.npz", fmt="generic", mapping=mapping)


def test_geometry_gives_the_sample_pixel():
    geometry = Geometry(energy_ev=8000.0, distance_m=2.0, detector_pixel_m=75e-6)
    wavelength = 6.62607015e-34 * 299792458.0 / (8000.0 * 1.602176634e-19)
    assert geometry.sample_pixel(128) == pytest.approx(wavelength * 2.0 / (128 * 75e-6))
