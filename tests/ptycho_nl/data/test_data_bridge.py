"""The memory-mapped bridge: validation, cache keyed by SHA-256, groups, dataset items."""

import json
import shutil

import numpy as np
import pytest
import torch

from ptycho_nl.data.bridge import MemmapDatasetBridge, load_any
from ptycho_nl.data.npz import load_npz, write_npz_deterministic
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import sha256_file


@pytest.fixture
def data_copy(tiny_file, tmp_path):
    return shutil.copy(tiny_file, tmp_path / "scan.npz")


def test_cache_next_to_the_data_holds_memmaps_equal_to_the_file(data_copy, tmp_path):
    bridge = MemmapDatasetBridge(data_copy)
    sha = sha256_file(data_copy)
    assert bridge.sha256 == sha
    assert bridge.cache_dir == tmp_path / "scan.ptycho-cache" / sha[:16]
    manifest = json.loads((bridge.cache_dir / "manifest.json").read_text())
    assert manifest["sha256"] == sha and set(manifest["arrays"]) >= {"diffraction", "Y"}
    truth = load_npz(data_copy)
    assert isinstance(bridge.data.diffraction, np.memmap)
    np.testing.assert_array_equal(bridge.data.diffraction, truth.diffraction)
    np.testing.assert_array_equal(bridge.data.patches, truth.patches)
    assert bridge.probe.dtype == torch.complex64 and bridge.probe.shape == (32, 32)
    assert bridge.intensity_scale == pytest.approx(truth.intensity_scale)


def test_changed_file_gets_a_new_cache_never_a_stale_one(data_copy, tmp_path):
    cache = tmp_path / "cache"
    first = MemmapDatasetBridge(data_copy, cache_dir=cache)
    with np.load(data_copy) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["diffraction"] = arrays["diffraction"] * np.float32(2.0)
    write_npz_deterministic(data_copy, arrays)
    second = MemmapDatasetBridge(data_copy, cache_dir=cache)
    assert second.cache_dir != first.cache_dir
    np.testing.assert_array_equal(second.data.diffraction, arrays["diffraction"])
    assert len(list((cache / "scan.ptycho-cache").iterdir())) == 2


def test_existing_cache_is_reused_without_revalidating(data_copy, tmp_path, monkeypatch):
    MemmapDatasetBridge(data_copy)
    import ptycho_nl.data.bridge as bridge_module

    def fail(path):
        raise AssertionError("validated twice")

    monkeypatch.setattr(bridge_module, "load_any", fail)
    again = MemmapDatasetBridge(data_copy)
    assert again.data.n_patterns == 64


def test_incomplete_cache_is_rebuilt(data_copy):
    bridge = MemmapDatasetBridge(data_copy)
    (bridge.cache_dir / "Y.npy").unlink()
    rebuilt = MemmapDatasetBridge(data_copy)
    assert (rebuilt.cache_dir / "Y.npy").is_file() and rebuilt.data.patches is not None


def test_items_are_group_tensors_matching_the_file(data_copy):
    bridge = MemmapDatasetBridge(data_copy, gridsize=2, seed=1)
    truth = load_npz(data_copy)
    ds = bridge.dataset()
    assert len(ds) == len(bridge.groups) == 64 and bridge.groups.shape == (64, 4)
    item = ds[10]
    idx = bridge.groups[10]
    assert item["diffraction"].shape == (4, 32, 32) and item["diffraction"].dtype == torch.float32
    assert item["patches"].dtype == torch.complex64 and item["index"].dtype == torch.int64
    torch.testing.assert_close(item["index"], torch.from_numpy(idx))
    torch.testing.assert_close(item["diffraction"], torch.from_numpy(truth.diffraction[idx]))
    torch.testing.assert_close(item["positions"], torch.from_numpy(truth.positions[idx]))
    torch.testing.assert_close(item["patches"], torch.from_numpy(truth.patches[idx]))
    batch = next(iter(torch.utils.data.DataLoader(bridge.dataset([0, 1, 2]), batch_size=3)))
    assert batch["diffraction"].shape == (3, 4, 32, 32)


def test_items_leave_the_cache_read_only(data_copy):
    bridge = MemmapDatasetBridge(data_copy)
    item = bridge.dataset()[0]
    item["diffraction"].zero_()  # a copy of one row, never the mapped file
    assert float(np.abs(bridge.data.diffraction[0]).sum()) > 0


def test_invalid_file_raises_contract_error_and_leaves_no_cache(data_copy, tmp_path):
    with np.load(data_copy) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["diffraction"][0, 0, 0] = np.nan
    write_npz_deterministic(data_copy, arrays)
    with pytest.raises(ContractError, match="NaN/Inf"):
        MemmapDatasetBridge(data_copy)
    assert not (tmp_path / "scan.ptycho-cache").exists()


def test_load_any_rejects_unknown_suffix(tmp_path):
    other = tmp_path / "scan.txt"
    other.write_text("x")
    with pytest.raises(ContractError, match=r"expected \.npz, \.h5, \.hdf5 or \.cxi"):
        load_any(other)
