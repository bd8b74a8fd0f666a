"""Sequence data: recall beyond the window (seeded, any length), the documentation corpus split
by position, and the file checked against its spec (files read back with numpy directly)."""

import json

import numpy as np
import pytest

from ptycho_nl.data.sequences import corpus_text, load_or_create, recall_sequences
from ptycho_nl.errors import ContractError

SPEC = {
    "kind": "recall",
    "seq_len": 48,
    "train_sequences": 6,
    "val_sequences": 2,
    "pairs": 4,
    "keys": 10,
    "values": 7,
    "window": 8,
    "seed": 3,
}


@pytest.mark.parametrize("length", [40, 97, 300])
def test_every_query_is_beyond_the_window_and_answered_by_its_pair(length):
    x, y = recall_sequences(5, length, pairs=4, keys=10, values=7, window=8, seed=1)
    assert x.shape == y.shape == (5, length)
    for seq, target in zip(x, y, strict=True):
        pairs = {int(seq[2 * i]): (2 * i, int(seq[2 * i + 1])) for i in range(4)}
        assert len(pairs) == 4 and all(1 <= k <= 10 for k in pairs)  # distinct keys
        scored = np.flatnonzero(target >= 0)
        assert len(scored) == 4
        for t in scored:
            where, value = pairs[int(seq[t])]
            assert target[t] == value and seq[t + 1] == value  # the answer follows the query
            assert t - where > 8  # further back than the attention window


def test_recall_is_seeded_and_refuses_queries_inside_the_window():
    a = recall_sequences(3, 40, pairs=4, keys=10, values=7, window=8, seed=5)
    b = recall_sequences(3, 40, pairs=4, keys=10, values=7, window=8, seed=5)
    c = recall_sequences(3, 40, pairs=4, keys=10, values=7, window=8, seed=6)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="within the attention window 30"):
        recall_sequences(3, 40, pairs=4, keys=10, values=7, window=30, seed=5)


def test_char_corpus_is_split_by_position(tmp_path):
    from pydoc_data.topics import topics

    spec = {"kind": "char", "max_chars": None, "val_fraction": 0.1}
    arrays = load_or_create(tmp_path / "char.npz", spec)
    text = "".join(topics[k] for k in sorted(topics))
    assert len(text) > 400_000 and corpus_text() == text
    with np.load(tmp_path / "char.npz", allow_pickle=False) as f:
        vocab, train, val = list(f["vocab"]), f["train"], f["val"]
    decoded = "".join(vocab[i] for i in np.concatenate([train, val]))
    assert decoded == text  # training text first, then the held-out tail
    assert len(val) == pytest.approx(0.1 * len(text), abs=1)
    assert np.array_equal(arrays["val"], val)


def test_a_file_is_written_once_and_checked_against_the_spec(tmp_path):
    path = tmp_path / "recall.npz"
    made = load_or_create(path, SPEC)
    with np.load(path, allow_pickle=False) as f:
        assert json.loads(str(f["spec"])) == SPEC
        x, y = recall_sequences(8, 48, pairs=4, keys=10, values=7, window=8, seed=3)
        assert np.array_equal(f["train_x"], x[:6]) and np.array_equal(f["val_y"], y[6:])
    again = load_or_create(path, SPEC)
    assert np.array_equal(again["train_x"], made["train_x"])
    with pytest.raises(ContractError) as info:
        load_or_create(path, {**SPEC, "seed": 4})
    assert str(info.value) == f"{path}: key 'spec': expected the run's seed=4, found 3"
    np.savez(tmp_path / "other.npz", tokens=np.arange(3))
    with pytest.raises(ContractError, match="key 'train_x': expected it for a recall"):
        load_or_create(tmp_path / "other.npz", SPEC)
