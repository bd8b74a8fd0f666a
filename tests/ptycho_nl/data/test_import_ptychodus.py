"""Ptychodus product files: read from files laid out as ptychodus writes them (h5py / numpy
writer code here), and our export read back by plain h5py / numpy."""

import h5py
import numpy as np
import pytest
from measured_files import PIXEL, relative, truth

from ptycho_nl.data.importers import ArrayMapping, import_file
from ptycho_nl.data.product import ProductContent, write_product
from ptycho_nl.errors import ContractError

H, W = 40, 44
CENTRE = (3e-7, -2e-7)  # object centre (y, x), metres


def _product_positions(centres):
    """Metres relative to the object centre, as ptychodus stores them."""
    y = (centres[:, 0] - H / 2) * PIXEL + CENTRE[0]
    x = (centres[:, 1] - W / 2) * PIXEL + CENTRE[1]
    return x, y


def _write_h5_product(path, centres, probe, drop=()):
    x, y = _product_positions(centres)
    weak = 0.1 * probe  # a second, weaker mode: the importer keeps the strongest
    with h5py.File(path, "w") as f:
        f.attrs["name"] = "scan 7"
        f.attrs["comments"] = ""
        f.attrs["detector_object_distance_m"] = 2.0
        f.attrs["probe_energy_eV"] = 8000.0
        f.attrs["exposure_time_s"] = 0.1
        f.create_dataset("probe_position_indexes", data=np.arange(len(x)))
        if "x" not in drop:
            f.create_dataset("probe_position_x_m", data=x)
        f.create_dataset("probe_position_y_m", data=y)
        pr = f.create_dataset("probe", data=np.stack([weak, probe])[None])  # (1, K, N, N)
        pr.attrs["pixel_width_m"] = PIXEL
        pr.attrs["pixel_height_m"] = PIXEL
        ob = f.create_dataset("object", data=np.ones((1, H, W), np.complex64))
        ob.attrs["pixel_width_m"] = PIXEL
        ob.attrs["pixel_height_m"] = PIXEL
        ob.attrs["center_x_m"] = CENTRE[1]
        ob.attrs["center_y_m"] = CENTRE[0]
        f.create_dataset("object_layer_spacing_m", data=np.zeros(0))
        f.create_dataset("loss_values", data=[3.0, 2.0, 1.5])
    return path


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_product_positions_probe_and_metadata(tmp_path, suffix):
    counts, probe, centres = truth()
    np.savez(tmp_path / "patterns.npz", data=counts)
    if suffix == ".h5":
        src = _write_h5_product(tmp_path / "product.h5", centres, probe)
    else:
        x, y = _product_positions(centres)
        src = tmp_path / "product.npz"
        np.savez(
            src, name="scan 7", comments="", detector_object_distance_m=2.0,
            probe_energy_eV=8000.0, exposure_time_s=0.1, probe_position_indexes=np.arange(len(x)),
            probe_position_x_m=x, probe_position_y_m=y, probe=probe[None],
            probe_pixel_width_m=PIXEL, probe_pixel_height_m=PIXEL,
            object=np.ones((H, W), np.complex64), object_pixel_width_m=PIXEL,
            object_pixel_height_m=PIXEL, object_center_x_m=CENTRE[1], object_center_y_m=CENTRE[0],
            object_layer_spacing_m=np.zeros(0), loss_values=[3.0, 2.0],
        )  # fmt: skip
    mapping = ArrayMapping(diffraction="data", positions="unused")
    data = import_file(src, patterns=tmp_path / "patterns.npz", mapping=mapping)
    np.testing.assert_allclose(
        relative(data.ycoords, data.xcoords), centres - centres[0], atol=1e-6
    )
    np.testing.assert_array_equal(data.probe, probe)
    np.testing.assert_allclose(data.diffraction, np.sqrt(counts), rtol=1e-6)
    meta = data.metadata
    assert meta["source_format"] == "ptychodus-product" and meta["product"]["name"] == "scan 7"
    assert meta["sample_pixel_size_m"] == pytest.approx(PIXEL)


def test_product_without_patterns_or_with_missing_dataset_is_one_line(tmp_path):
    counts, probe, centres = truth()
    src = _write_h5_product(tmp_path / "product.h5", centres, probe, drop=("x",))
    np.savez(tmp_path / "patterns.npz", data=counts)
    with pytest.raises(ContractError, match="holds no diffraction: expected --patterns"):
        import_file(src)
    mapping = ArrayMapping(diffraction="data", positions="unused")
    with pytest.raises(ContractError) as err:
        import_file(src, patterns=tmp_path / "patterns.npz", mapping=mapping)
    (line,) = err.value.problems
    assert "product.h5: dataset 'probe_position_x_m'" in line and "found missing" in line


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_export_reads_back_with_plain_readers_in_ptychodus_names(tmp_path, suffix):
    rng = np.random.default_rng(3)
    obj = (rng.random((H, W)) + 1j * rng.random((H, W))).astype(np.complex64)
    _, probe, centres = truth()
    content = ProductContent(obj, probe, centres, PIXEL, losses=[0.5, 0.25], name="recon")
    path = write_product(tmp_path / f"out{suffix}", content)
    if suffix == ".h5":
        with h5py.File(path, "r") as f:
            x, y = f["probe_position_x_m"][()], f["probe_position_y_m"][()]
            stored_obj, stored_probe = f["object"][()], f["probe"][()]
            assert f["object"].attrs["pixel_width_m"] == PIXEL
            assert f["probe"].attrs["pixel_height_m"] == PIXEL
            assert f.attrs["name"] == "recon"
            losses = f["loss_values"][()]
    else:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["probe_position_x_m"], f["probe_position_y_m"]
            stored_obj, stored_probe = f["object"], f["probe"]
            assert float(f["object_pixel_width_m"]) == PIXEL and str(f["name"]) == "recon"
            losses = f["loss_values"]
    np.testing.assert_allclose(x, (centres[:, 1] - W / 2) * PIXEL)
    np.testing.assert_allclose(y, (centres[:, 0] - H / 2) * PIXEL)
    np.testing.assert_array_equal(stored_obj[0], obj)
    np.testing.assert_array_equal(stored_probe[0], probe)
    np.testing.assert_allclose(losses, [0.5, 0.25])
