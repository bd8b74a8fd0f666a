"""The memory-mapped bridge reads a shard set as one dataset: the same arrays as concatenating
the shards with numpy here, and one-line errors for a shard set that is not whole."""

import json

import numpy as np
import pytest

from ptycho_nl.data.bridge import MemmapDatasetBridge
from ptycho_nl.data.shardset import INDEX_NAME
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import sha256_file
from ptycho_nl.simulate import PRESETS
from ptycho_nl.simulate.shards import write_shard_set

CONFIG = PRESETS["tiny"].model_copy(update={"seed": 5})


@pytest.fixture
def shard_set(tmp_path):
    write_shard_set(CONFIG, tmp_path / "set", 4)
    return tmp_path / "set"


def _shards(directory):
    index = json.loads((directory / INDEX_NAME).read_text())
    out = []
    for entry in index["shards"]:
        with np.load(directory / entry["file"], allow_pickle=False) as f:
            out.append({k: f[k] for k in f.files})
    return index, out


def test_the_bridge_serves_the_concatenated_shards(shard_set):
    index, parts = _shards(shard_set)
    bridge = MemmapDatasetBridge(shard_set)
    data = bridge.data
    for key, field in [
        ("diffraction", "diffraction"),
        ("xcoords", "xcoords"),
        ("ycoords", "ycoords"),
        ("Y", "patches"),
        ("scan_index", "scan_index"),
    ]:
        expected = np.concatenate([p[key] for p in parts])
        assert np.array_equal(np.asarray(getattr(data, field)), expected), key
    assert isinstance(data.diffraction, np.memmap)
    assert np.array_equal(np.asarray(data.object), parts[0]["objectGuess"])
    assert np.array_equal(bridge.probe.numpy(), parts[0]["probeGuess"])
    assert bridge.intensity_scale == index["intensity_scale"] == float(parts[2]["intensity_scale"])
    assert data.metadata["shard_set"]["n_shards"] == 4 and "shard" not in data.metadata
    item = bridge.dataset()[37]  # a pattern of shard 2, by its global index
    assert item["index"].tolist() == [37]
    assert np.array_equal(item["diffraction"][0].numpy(), parts[2]["diffraction"][37 - 32])
    # the index file names the same set, served from the same cache
    assert MemmapDatasetBridge(shard_set / INDEX_NAME).cache_dir == bridge.cache_dir


def test_a_corrupted_shard_is_one_line_naming_it(shard_set):
    (shard_set / "shard-0002.npz").write_bytes(b"not a shard")
    with pytest.raises(ContractError) as err:
        MemmapDatasetBridge(shard_set)
    assert len(err.value.problems) == 1
    line = err.value.problems[0]
    assert "shard 2 (shard-0002.npz)" in line and "sha256" in line and "--shards" in line


def test_an_interrupted_set_names_the_shards_not_written(shard_set):
    raw = json.loads((shard_set / INDEX_NAME).read_text())
    raw["shards"][3]["sha256"] = None
    (shard_set / INDEX_NAME).write_text(json.dumps(raw))
    with pytest.raises(ContractError, match="shard 3 .*not written"):
        MemmapDatasetBridge(shard_set)


def test_a_shard_of_another_scan_is_refused(shard_set):
    """A shard whose probe differs (rewritten with numpy, its hash updated in the index) is not
    part of the same scan, though each file alone obeys the contract."""
    path = shard_set / "shard-0001.npz"
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["probeGuess"] = (arrays["probeGuess"] * np.complex64(1j)).astype(np.complex64)
    np.savez(path, **arrays)
    raw = json.loads((shard_set / INDEX_NAME).read_text())
    raw["shards"][1]["sha256"] = sha256_file(path)
    (shard_set / INDEX_NAME).write_text(json.dumps(raw))
    with pytest.raises(ContractError, match="shard-0001.npz: key 'probeGuess'"):
        MemmapDatasetBridge(shard_set)


def test_an_unreadable_index_is_one_line(tmp_path):
    directory = tmp_path / "set"
    directory.mkdir()
    (directory / INDEX_NAME).write_text("{not json")
    with pytest.raises(ContractError) as err:
        MemmapDatasetBridge(directory)
    assert len(err.value.problems) == 1 and "not a valid shard index" in err.value.problems[0]
