"""Bundles: state-free reload, identical predictions, hash checks, corrupt files."""

import json
import zipfile

import pytest
import torch

from ptycho_nl.errors import BundleError
from ptycho_nl.io_utils import sha256_file
from ptycho_nl.models import build_model
from ptycho_nl.train.bundle import load_bundle, save_bundle


def make_bundle(tmp_path, name="pinn"):
    torch.manual_seed(0)
    model = build_model(name, n=32, channels=(8, 16, 32))
    model.set_input_scale(0.05)
    meta = {"model_name": name, "model_kwargs": model.model_kwargs, "patch_size": 32}
    path, sha, size = save_bundle(tmp_path / "bundle.zip", model, config={"epochs": 1}, meta=meta)
    return model.eval(), path, sha, size


def test_bundle_reloads_and_predicts_like_the_in_memory_model(tmp_path):
    model, path, sha, size = make_bundle(tmp_path)
    assert sha == sha256_file(path) and size == path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "meta.json", "model.safetensors"]
    bundle = load_bundle(path, expected_sha256=sha)
    assert (bundle.model_name, bundle.patch_size) == ("pinn", 32)
    assert not bundle.model.training
    original, reloaded = model.state_dict(), bundle.model.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[k], reloaded[k]) for k in original)
    x = torch.rand(300, 32, 32) * 0.1
    # predict runs channels-last under inference mode: the same layout gives the same bits.
    with torch.inference_mode():
        expected = model.to(memory_format=torch.channels_last)(x)
    got = bundle.predict(x, batch_size=64)  # several chunks, input normalisation inside
    assert got.dtype == torch.complex64 and torch.equal(got, expected)


def test_same_model_gives_byte_identical_bundles(tmp_path):
    _, _, sha_a, _ = make_bundle(tmp_path / "a")
    _, _, sha_b, _ = make_bundle(tmp_path / "b")
    assert sha_a == sha_b


def test_hash_mismatch_is_refused(tmp_path):
    _, path, sha, _ = make_bundle(tmp_path)
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(path, expected_sha256="0" * 64)


def test_sibling_manifest_hash_is_checked(tmp_path):
    _, path, sha, _ = make_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"bundle_path": "bundle.zip", "bundle_sha256": "f" * 64})
    )
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(path)


def test_corrupt_and_incomplete_bundles_are_refused(tmp_path):
    _, path, _, _ = make_bundle(tmp_path)
    bad = tmp_path / "truncated.zip"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BundleError, match="corrupt bundle"):
        load_bundle(bad)
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(partial, "w") as zf:
        zf.writestr("meta.json", "{}")
    with pytest.raises(BundleError, match="lacks model.safetensors"):
        load_bundle(partial)
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "missing.zip")


def test_predict_checks_the_patch_size(tmp_path):
    _, path, _, _ = make_bundle(tmp_path)
    with pytest.raises(ValueError, match=r"expects diffraction \(B, 32, 32\)"):
        load_bundle(path).predict(torch.rand(2, 64, 64))
