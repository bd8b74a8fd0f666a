"""NPZ reading and writing: real files, corrupted files, memory maps, deterministic bytes."""

import json
import warnings

import numpy as np
import pytest

from ptycho_nl.data.npz import (
    ContractWarning,
    load_npz,
    save_npz,
    write_npz_deterministic,
)
from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import sha256_file


def test_load_returns_contract_arrays(tiny_file):
    data = load_npz(tiny_file)
    assert data.diffraction.dtype == np.float32 and data.diffraction.shape == (64, 32, 32)
    assert data.probe.dtype == np.complex64 and data.object.dtype == np.complex64
    assert data.metadata["generator"] == "ptycho_nl.simulate"
    assert data.source == str(tiny_file)


def test_mmap_load_maps_the_archive_and_matches_plain_load(tiny_file):
    plain, mapped = load_npz(tiny_file), load_npz(tiny_file, mmap=True)
    assert isinstance(mapped.diffraction, np.memmap) and isinstance(mapped.patches, np.memmap)
    np.testing.assert_array_equal(mapped.diffraction, plain.diffraction)
    np.testing.assert_array_equal(mapped.patches, plain.patches)


def test_save_round_trip_is_byte_identical(tiny_file, tmp_path):
    data = load_npz(tiny_file)
    out = save_npz(data, tmp_path / "copy.npz")
    assert sha256_file(out) == sha256_file(tiny_file)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.npz"]  # no temp file left


def test_save_refuses_invalid_data_and_writes_nothing(tiny_file, tmp_path):
    from dataclasses import replace

    data = load_npz(tiny_file)
    bad = replace(data, xcoords=data.xcoords[:-1])
    with pytest.raises(ContractError) as err:
        save_npz(bad, tmp_path / "bad.npz")
    assert "key 'xcoords'" in err.value.problems[0]
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_one_clear_problem(tiny_file, tmp_path):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(tiny_file.read_bytes()[: tiny_file.stat().st_size // 2])
    with pytest.raises(ContractError) as err:
        load_npz(cut)
    (problem,) = err.value.problems
    assert problem.startswith(f"{cut}: not a readable NPZ archive (") and "\n" not in problem


def test_text_file_renamed_npz_is_rejected(tmp_path):
    fake = tmp_path / "fake.npz"
    fake.write_text("diffraction,xcoords\n1,2\n")
    with pytest.raises(ContractError, match="not a readable NPZ archive"):
        load_npz(fake)


def test_missing_file_and_pickled_members_are_rejected(tmp_path):
    with pytest.raises(ContractError, match="file not found"):
        load_npz(tmp_path / "absent.npz")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, diffraction=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ContractError, match="not a readable NPZ archive"):
        load_npz(pickled)


def test_legacy_diff3d_file_loads_with_warning(tiny_file, tmp_path):
    with np.load(tiny_file) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["diff3d"] = arrays.pop("diffraction").astype(np.float64)
    legacy = write_npz_deterministic(tmp_path / "legacy.npz", arrays)
    with pytest.warns(ContractWarning) as record:
        data = load_npz(legacy, mmap=True)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "'diff3d' is a legacy alias" in messages[0] and "cast to float32" in messages[1]
    assert data.diffraction.dtype == np.float32
    assert not isinstance(data.diffraction, np.memmap)  # converted: only in memory
    np.testing.assert_array_equal(data.diffraction, arrays["diff3d"].astype(np.float32))


def test_clean_file_loads_without_warnings(tiny_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_npz(tiny_file)


def test_metadata_is_canonical_json(tiny_file):
    with np.load(tiny_file) as archive:
        text = str(archive["metadata"])
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_compressed_archive_loads_with_mmap_requested(tiny_file, tmp_path):
    with np.load(tiny_file) as archive:
        arrays = {k: archive[k] for k in archive.files}
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, **arrays)
    data = load_npz(packed, mmap=True)
    assert not isinstance(data.diffraction, np.memmap)  # deflated members cannot be mapped
    np.testing.assert_array_equal(data.diffraction, arrays["diffraction"])
