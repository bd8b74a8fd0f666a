"""Atomic writes: all or nothing, and the new file's mode follows the umask (not mkstemp's 0600)."""

import os
import stat

import pytest

from ptycho_nl.io_utils import atomic_write, atomic_write_json, atomic_write_text, sha256_file


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "a" / "record.json", "{}\n")
        data = atomic_write_json(tmp_path / "b.json", {"k": 1})
    finally:
        os.umask(old)
    for path in (text, data):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_replacing_a_file_gives_the_new_contents_the_umask_mode(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("old")
    path.chmod(0o600)
    old = os.umask(0o022)
    try:
        atomic_write_text(path, "new")
    finally:
        os.umask(old)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "ledger.md"
    path.write_text("kept")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash"):
        atomic_write(path, broken)
    assert path.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.md"]


def test_sha256_matches_hashlib_on_a_multi_chunk_file(tmp_path):
    import hashlib

    blob = os.urandom(200_000)
    (tmp_path / "blob").write_bytes(blob)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(blob).hexdigest()
