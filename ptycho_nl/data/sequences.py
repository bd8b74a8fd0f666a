"""Sequence data for the nested-learning models: token files (NPZ) and their generators.

- `recall`: synthetic multi-query associative recall. Each sequence lists `pairs` key-value
  pairs, then filler, then every key again as a query followed by its value; the target at a
  query is its value (-1 elsewhere: not scored). The filler puts every query further from its
  pair than the attention window, so attention alone cannot answer. Seeded, any length.
- `char`: character-level text of the Python documentation topics that ship with Python
  (`pydoc_data.topics`, about 465 K characters), split by position: the last share is held out.

A file stores its generating `spec` (JSON); `load_or_create` writes the file when absent
(atomically) and otherwise checks it against the spec, one line per problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.errors import ContractError
from ptycho_nl.io_utils import atomic_write

FILLER = 0  # token 0 is the filler; keys are 1..K, values K+1..K+V
KEYS = {
    "recall": ("spec", "train_x", "train_y", "val_x", "val_y"),
    "char": ("spec", "vocab", "train", "val"),
}


def recall_vocab(keys: int, values: int) -> int:
    return 1 + keys + values


def recall_sequences(
    n: int, seq_len: int, *, pairs: int, keys: int, values: int, window: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) int64 (n, seq_len): inputs and targets (-1 where not scored). Vectorised."""
    if pairs > keys:
        raise ValueError(f"recall: {pairs} pairs need at least as many keys, found {keys}")
    closest = seq_len - 4 * pairs + 2  # last pair to first query
    if closest <= window:
        raise ValueError(
            f"recall: seq_len {seq_len} with {pairs} pairs puts a query {closest} tokens from its "
            f"pair, within the attention window {window}: expected seq_len > {4 * pairs - 2 + window}"
        )
    rng = np.random.default_rng(seed)
    key_ids = np.argsort(rng.random((n, keys)), axis=1)[:, :pairs] + 1
    value_ids = rng.integers(0, values, size=(n, pairs)) + 1 + keys
    order = np.argsort(rng.random((n, pairs)), axis=1)
    x = np.full((n, seq_len), FILLER, dtype=np.int64)
    y = np.full((n, seq_len), -1, dtype=np.int64)
    x[:, 0 : 2 * pairs : 2], x[:, 1 : 2 * pairs : 2] = key_ids, value_ids
    q0 = seq_len - 2 * pairs
    queried = np.take_along_axis(key_ids, order, axis=1)
    answers = np.take_along_axis(value_ids, order, axis=1)
    x[:, q0::2], x[:, q0 + 1 :: 2] = queried, answers
    y[:, q0::2] = answers  # predicted at the query, before the answer is seen
    return x, y


def corpus_text(max_chars: int | None = None) -> str:
    """The documentation topics shipped with Python, concatenated in sorted topic order."""
    from pydoc_data.topics import topics

    text = "".join(topics[name] for name in sorted(topics))
    return text[:max_chars] if max_chars else text


def _recall_arrays(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    n_train, n_val = spec["train_sequences"], spec["val_sequences"]
    x, y = recall_sequences(
        n_train + n_val,
        spec["seq_len"],
        pairs=spec["pairs"],
        keys=spec["keys"],
        values=spec["values"],
        window=spec["window"],
        seed=spec["seed"],
    )
    return {
        "train_x": x[:n_train],
        "train_y": y[:n_train],
        "val_x": x[n_train:],
        "val_y": y[n_train:],
    }


def _char_arrays(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    text = corpus_text(spec["max_chars"])
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    tokens = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(round(len(tokens) * (1 - spec["val_fraction"])))
    return {"vocab": np.array(vocab), "train": tokens[:cut], "val": tokens[cut:]}


def make_arrays(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a sequence file from its spec (`kind` "recall" or "char")."""
    arrays = _recall_arrays(spec) if spec["kind"] == "recall" else _char_arrays(spec)
    return {"spec": np.array(json.dumps(spec, sort_keys=True)), **arrays}


def load_or_create(
    path: str | Path, spec: dict[str, Any], *, create: bool = True
) -> dict[str, np.ndarray]:
    """The arrays of the sequence file at `path`, written from `spec` first if it is absent
    (and `create`). ContractError (one line per problem) if the file is missing, unreadable or
    was made from another spec."""
    path = Path(path)
    if not path.exists() and not create:
        raise ContractError(str(path), [f"{path}: sequence file not found"])
    if not path.exists():
        arrays = make_arrays(spec)
        atomic_write(path, lambda tmp: _save(tmp, arrays))
        return arrays
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ContractError(
            str(path), [f"{path}: not a readable NPZ sequence file ({exc})"]
        ) from None
    problems = [
        f"{path}: key {key!r}: expected it for a {spec['kind']} sequence file, found no such key"
        for key in KEYS[spec["kind"]]
        if key not in arrays
    ]
    if not problems:
        found = json.loads(str(arrays["spec"]))
        if found != spec:
            differ = sorted(k for k in set(found) | set(spec) if found.get(k) != spec.get(k))
            problems = [
                f"{path}: key 'spec': expected the run's {k}={spec.get(k)!r}, found {found.get(k)!r}"
                for k in differ
            ]
    if problems:
        raise ContractError(str(path), problems)
    return arrays


def _save(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to the name
        np.savez(fh, **arrays)
