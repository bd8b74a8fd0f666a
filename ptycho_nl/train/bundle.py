"""Model bundles: `bundle.zip` = model.safetensors + config.json + meta.json.

A bundle reloads without the training config: meta.json holds the registered model name and its
constructor arguments; the weights (with the input-normalisation buffer) are in safetensors, so
loading never unpickles anything. The zip's SHA-256 (64 KiB chunks) goes into manifest.json.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ptycho_nl.errors import BundleError
from ptycho_nl.io_utils import atomic_write, sha256_file

BUNDLE_MEMBERS = ("model.safetensors", "config.json", "meta.json")


def save_bundle(
    path: str | Path, model: torch.nn.Module, *, config: dict[str, Any], meta: dict[str, Any]
) -> tuple[Path, str, int]:
    """Write the bundle atomically; returns (path, sha256, size in bytes).

    meta must hold `model_name` and `model_kwargs` (how to rebuild the network).
    """
    from safetensors.torch import save as safetensors_bytes

    for key in ("model_name", "model_kwargs"):
        if key not in meta:
            raise ValueError(f"bundle meta lacks {key!r}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = safetensors_bytes(state)

    def write(tmp: Path) -> None:
        # Fixed timestamps so the same weights and meta give the same bytes and hash.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in (
                ("model.safetensors", weights),
                ("config.json", json.dumps(config, indent=2, sort_keys=True).encode()),
                ("meta.json", json.dumps(meta, indent=2, sort_keys=True).encode()),
            ):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)

    path = atomic_write(path, write)
    return path, sha256_file(path), path.stat().st_size


@dataclass
class Bundle:
    """A reloaded model. `model` is in eval mode; `predict` applies its own normalisation."""

    model: torch.nn.Module
    meta: dict[str, Any]
    path: Path
    sha256: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def patch_size(self) -> int:
        return int(self.meta["patch_size"])

    @property
    def model_name(self) -> str:
        return str(self.meta["model_name"])

    def predict(
        self,
        diffraction: torch.Tensor,
        *,
        batch_size: int = 256,
        device: str = "cpu",
        precision: str = "float32",
    ) -> torch.Tensor:
        """(B, N, N) float32 amplitudes -> (B, N, N) complex64 object patches, in chunks.

        precision : "float32", or "bfloat16" (autocast: convolutions in bfloat16, the output
        still complex64; for GPUs, where it pays most; measured in benchmarks/bench_inference.py)
        """
        diffraction = torch.as_tensor(diffraction)
        n = self.patch_size
        if diffraction.dim() != 3 or tuple(diffraction.shape[1:]) != (n, n):
            raise ValueError(
                f"bundle {self.path.name} expects diffraction (B, {n}, {n}), "
                f"found {tuple(diffraction.shape)}"
            )
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
        # Channels-last convolutions and inference mode (no autograd bookkeeping): 1.3-1.5x
        # the patterns per second of contiguous tensors under no_grad on CPU
        # (benchmarks/bench_inference.py). Prediction only; the training layout is untouched.
        model = self.model.to(device=device, memory_format=torch.channels_last)
        out = torch.empty(diffraction.shape, dtype=torch.complex64)
        autocast = torch.autocast(
            torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bfloat16"
        )
        with torch.inference_mode(), autocast:
            for start in range(0, diffraction.shape[0], batch_size):
                chunk = diffraction[start : start + batch_size].to(device, torch.float32)
                out[start : start + batch_size] = model(chunk).to(torch.complex64).cpu()
        return out


def _recorded_sha256(path: Path) -> str | None:
    """The hash in a sibling manifest.json whose bundle_path names this file, if any."""
    manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    bundle_path = record.get("bundle_path")
    if bundle_path and (path.parent / bundle_path).resolve() == path.resolve():
        return record.get("bundle_sha256")
    return None


def load_bundle(path: str | Path, expected_sha256: str | None = None) -> Bundle:
    """Rebuild the model of a bundle; BundleError on a missing, corrupt or mismatching file.

    The hash is checked against `expected_sha256`, or else against the run's manifest.json
    next to the bundle when that manifest names it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as safetensors_load

    from ptycho_nl.models.registry import build_model

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: bundle not found")
    actual = sha256_file(path)
    expected = expected_sha256 or _recorded_sha256(path)
    if expected is not None and actual != expected.lower():
        raise BundleError(f"{path}: sha256 mismatch: expected {expected}, found {actual}")
    try:
        with zipfile.ZipFile(path) as zf:
            missing = [m for m in BUNDLE_MEMBERS if m not in zf.namelist()]
            if missing:
                raise BundleError(f"{path}: bundle lacks {', '.join(missing)}")
            meta = json.loads(zf.read("meta.json"))
            config = json.loads(zf.read("config.json"))
            state = safetensors_load(zf.read("model.safetensors"))
    except (zipfile.BadZipFile, json.JSONDecodeError, SafetensorError, OSError) as exc:
        raise BundleError(f"{path}: corrupt bundle ({exc})") from None
    try:
        model = build_model(meta["model_name"], **meta["model_kwargs"])
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise BundleError(f"{path}: cannot rebuild model from bundle ({exc})") from None
    model.eval()
    return Bundle(model=model, meta=meta, path=path, sha256=actual, config=config)
